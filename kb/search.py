"""Turn whatever a person types into a safe full-text query (pure; no database)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[\w]+(?:[-'’][\w]+)*", re.UNICODE)


def _terms(raw: str) -> list[tuple[str, str]]:
    """(modifier, phrase) pairs; modifier is '', '-' (exclude) or 'OR'."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(raw):
        neg, phrase, bare = m.group(1), m.group(2), m.group(3)
        if bare is not None:
            if bare.upper() == "OR":
                out.append(("OR", ""))
                continue
            if bare.upper() in {"AND", "NOT", "NEAR"}:
                if bare.upper() == "NOT":
                    out.append(("NOT", ""))
                continue
            neg = "-" if bare.startswith("-") and len(bare) > 1 else ""
            phrase = bare.lstrip("-+")
        words = _WORD.findall(phrase or "")
        if words:
            out.append((neg, " ".join(words)))
    return out


def to_fts_query(raw: str, dialect: str = "sqlite") -> str:
    """A query string that cannot raise a syntax error in the dialect's full-text engine.

    Supports "quoted phrases", OR between terms, and ``-term`` / ``NOT term`` exclusion; every
    other character is treated as a word separator. Hyphenated words become phrases
    (``treatment-resistant`` → ``"treatment resistant"``). Returns ``""`` for nothing usable.
    """
    terms = _terms(raw or "")
    if dialect != "sqlite":
        # PostgreSQL's websearch_to_tsquery accepts the same syntax and never errors.
        parts: list[str] = []
        for mod, phrase in terms:
            if mod == "OR":
                parts.append("or")
            elif mod == "NOT":
                parts.append("-")
            else:
                parts.append(("-" if mod == "-" else "") + f'"{phrase}"')
        return " ".join(parts).replace("- ", "-").strip()
    positives: list[list[str]] = [[]]
    negatives: list[str] = []
    pending_not = False
    pending_or = False
    for mod, phrase in terms:
        if mod == "OR":
            pending_or = bool(positives[-1])
            continue
        if mod == "NOT":
            pending_not = True
            continue
        quoted = '"' + phrase.replace('"', "") .replace("-", " ").replace("'", " ") + '"'
        if mod == "-" or pending_not:
            negatives.append(quoted)
        elif pending_or:
            positives[-1][-1] = f"{positives[-1][-1]} OR {quoted}"
        else:
            positives[-1].append(quoted)
        pending_not = pending_or = False
    pos = [f"({p})" if " OR " in p else p for p in positives[-1]]
    if not pos:
        return ""
    query = " AND ".join(pos)
    for n in negatives:
        query += f" NOT {n}"
    return query
