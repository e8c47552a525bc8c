"""Inline HTML in abstracts and titles (Europe PMC, corpus files) to plain text, losing no text."""

from __future__ import annotations

import html
import re

from harvester.records import AbstractSection

_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9:-]*)(?:\s[^<>]*)?/?>")
_H = re.compile(r"<h[1-6][^<>]*>(.*?)</h[1-6]>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"</?(?:p|div|br|li|ul|ol|section)\b[^<>]*>", re.IGNORECASE)
_WS = re.compile(r"[ \t\r\f\v]+")
# Only these names count as markup; anything else that looks like "<x" is text (e.g. "P<0.001").
_KNOWN = frozenset({
    "a", "abbr", "b", "bold", "br", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "i",
    "inline-formula", "italic", "li", "mml:math", "mml:mi", "mml:mn", "mml:mo", "mml:mrow",
    "mml:msub", "mml:msup", "ol", "p", "sc", "section", "span", "strong", "sub", "sup", "tt",
    "u", "ul", "underline", "math", "mi", "mn", "mo", "mrow", "msub", "msup",
})


def strip_tags(value: str) -> str:
    """Remove known inline tags, unescape entities, normalise whitespace."""
    def repl(m: re.Match[str]) -> str:
        return "" if m.group(1).lower() in _KNOWN else m.group(0)

    text = _TAG.sub(repl, value)
    return _WS.sub(" ", html.unescape(text)).strip()


def html_abstract_sections(value: str) -> list[AbstractSection]:
    """Split an abstract on ``<h4>`` (any heading) tags into labelled sections.

    Empty headings followed directly by another heading (Europe PMC's "Summary" wrapper) are
    kept as their own empty section only if they have text; no text is dropped.
    """
    if not value:
        return []
    parts = _H.split(value)
    sections: list[AbstractSection] = []
    lead = _clean_block(parts[0])
    if lead:
        sections.append(AbstractSection(text=lead))
    for i in range(1, len(parts), 2):
        label = strip_tags(parts[i]).rstrip(":").strip() or None
        body = _clean_block(parts[i + 1]) if i + 1 < len(parts) else ""
        if body:
            sections.append(AbstractSection(text=body, label=label))
        elif label:
            sections.append(AbstractSection(text="", label=label))
    # Drop empty wrapper headings only when the next section exists (no text lost either way).
    return [s for s in sections if s.text] or sections


def _clean_block(value: str) -> str:
    value = _BLOCK.sub("\n", value)
    lines = [strip_tags(line) for line in value.split("\n")]
    return " ".join(line for line in lines if line)
