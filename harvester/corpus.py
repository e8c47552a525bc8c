"""Parser for the normalised JSONL corpus format (``shared/corpus/README.md``).

Bytes in, records out; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from harvester.errors import ParseError
from harvester.europepmc.parser import html_to_sections, html_to_text, render_abstract
from harvester.records import Author, MeshHeading, MeshQualifier, Record

SOURCE_NAMES = {"medline": "medline", "europepmc": "europepmc", "ctgov-text": "ctgov-text"}


def _author(value: Any) -> Author:
    if isinstance(value, dict):
        return Author(last_name=value.get("last_name") or value.get("lastName"),
                      fore_name=value.get("fore_name") or value.get("firstName"),
                      initials=value.get("initials"),
                      collective_name=value.get("collective_name"),
                      affiliations=list(value.get("affiliations") or []))
    name = str(value).strip()
    if "," in name:
        last, _, rest = name.partition(",")
        return Author(last_name=last.strip(), initials=rest.strip() or None)
    return Author(collective_name=name) if " " not in name else Author(last_name=name)


def _mesh(value: Any) -> MeshHeading:
    if isinstance(value, str):
        return MeshHeading(name=value)
    quals = [MeshQualifier(name=q) if isinstance(q, str) else
             MeshQualifier(name=q.get("name", ""), ui=q.get("ui"), major=bool(q.get("major")))
             for q in value.get("qualifiers") or []]
    return MeshHeading(name=value.get("name", ""), ui=value.get("ui"),
                       major=bool(value.get("major")), qualifiers=quals)


def record_from_corpus(obj: dict[str, Any], raw: bytes | None = None) -> Record:
    """One corpus object as a ``Record``; abstract HTML (Europe PMC) is cleaned, no text lost."""
    if not isinstance(obj, dict):
        raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
    rid = obj.get("id")
    title = obj.get("title")
    if not isinstance(rid, str) or not rid:
        raise ParseError("record has no 'id'")
    if title is not None and not isinstance(title, str):
        raise ParseError(f"{rid}: 'title' is not a string")
    source = str(obj.get("source") or "corpus")
    abstract_raw = obj.get("abstract") or ""
    if not isinstance(abstract_raw, str):
        raise ParseError(f"{rid}: 'abstract' is not a string")
    sections = html_to_sections(abstract_raw)
    year = obj.get("year")
    try:
        year_int = int(year) if year not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{rid}: bad year {year!r}") from exc
    kind, _, value = rid.partition(":")
    rec = Record(
        source=source,
        title=html_to_text(title),
        abstract=render_abstract(sections),
        abstract_sections=sections,
        pmid=str(obj["pmid"]) if obj.get("pmid") else None,
        pmcid=obj.get("pmcid") or None,
        doi=(obj.get("doi") or None),
        journal=obj.get("journal") or None,
        pub_year=year_int,
        pub_date=str(year_int) if year_int else None,
        authors=[_author(a) for a in obj.get("authors") or []],
        keywords=[str(k) for k in obj.get("keywords") or []],
        mesh=[_mesh(m) for m in obj.get("mesh") or []],
        publication_types=[str(p) for p in obj.get("publication_types") or []],
        nct_ids=[str(n).upper() for n in obj.get("nct_ids") or []],
        origin=obj.get("origin") or None,
        raw=raw,
        raw_format="corpus-json",
    )
    # The id names an identifier the fields may leave empty.
    if kind == "pmid" and not rec.pmid and value.isdigit():
        rec.pmid = value
    elif kind == "doi" and not rec.doi:
        rec.doi = value
    elif kind == "pmcid" and not rec.pmcid:
        rec.pmcid = value
    elif (kind == "ppr" or (kind == "src" and value.startswith("PPR"))) and not rec.ppr_id:
        rec.ppr_id = value
        rec.is_preprint = True
    if kind == "src" or not (rec.pmid or rec.doi or rec.pmcid or rec.ppr_id):
        rec.other_ids["source_id"] = value or rid
    if kind == "ppr" or ((rec.doi or "").startswith("10.1101/") and source == "europepmc"):
        rec.is_preprint = rec.is_preprint or "Preprint" in rec.publication_types or kind == "ppr"
    if "Preprint" in rec.publication_types:
        rec.is_preprint = True
    if source == "ctgov-text" and kind == "nct":
        rec.other_ids["source_id"] = value
        if value and value not in rec.nct_ids:
            rec.nct_ids.insert(0, value)
    return rec


def parse_corpus_jsonl(lines: Iterable[bytes]) -> Iterator[Record | ParseError]:
    """Records from JSONL lines; a bad line yields a ``ParseError`` (with its line number)
    instead of stopping the stream, so the caller can quarantine it and go on."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            yield record_from_corpus(obj, raw=line.rstrip(b"\r\n"))
        except (ValueError, ParseError) as exc:
            yield ParseError(f"line {n}: {exc}")
