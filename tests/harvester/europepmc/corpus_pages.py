"""Assemble Europe PMC ``resultType=core`` search responses from REAL record content.

``tests/data/europepmc/ketamine_europepmc_sample.jsonl`` holds real Europe PMC records in the
corpus format (title, abstract with Europe PMC's own inline HTML, ids, journal, year, publication
types).  The helpers below put that content back into the core JSON shape (the same field names
as the real response in ``search_core_doi_NEJMoa1504720.json``) so parsers and clients can be
tested on many real abstracts.  What is *not* real: the envelope values (cursor marks such as
``"AoIIQ-page-2"``) and, for preprints, the PPR id (the corpus keeps none; a stable placeholder
``PPR9<crc32>`` is derived from the DOI).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "data" / "europepmc"
SAMPLE = DATA / "ketamine_europepmc_sample.jsonl"
NEJM_FIXTURE = DATA / "search_core_doi_NEJMoa1504720.json"
DOCUMENTED = DATA / "documented_examples.json"


def corpus_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line]


def core_result(rec: dict[str, Any]) -> dict[str, Any]:
    """A corpus record as a Europe PMC core ``result`` object."""
    if rec.get("pmid"):
        result: dict[str, Any] = {"id": rec["pmid"], "source": "MED", "pmid": rec["pmid"]}
    else:
        doi = rec.get("doi") or rec["id"]
        result = {"id": f"PPR9{zlib.crc32(doi.encode()):010d}", "source": "PPR"}
    if rec.get("pmcid"):
        result["pmcid"] = rec["pmcid"]
    if rec.get("doi"):
        result["doi"] = rec["doi"]
    result["title"] = rec.get("title") or ""
    if rec.get("journal"):
        result["journalInfo"] = {"journal": {"title": rec["journal"]}}
    if rec.get("year"):
        result["pubYear"] = str(rec["year"])
    if rec.get("abstract"):
        result["abstractText"] = rec["abstract"]
    if rec.get("publication_types"):
        result["pubTypeList"] = {"pubType": list(rec["publication_types"])}
    if rec.get("keywords"):
        result["keywordList"] = {"keyword": list(rec["keywords"])}
    return result


def cursor_for(page_index: int) -> str:
    """Cursor mark that fetches page ``page_index`` (0 -> ``"*"``)."""
    return "*" if page_index == 0 else f"AoIIQ-page-{page_index + 1}"


def core_response(results: list[dict[str, Any]], *, hit_count: int, cursor: str = "*",
                  next_cursor: str | None = None, page_size: int = 25,
                  query: str = "ketamine") -> bytes:
    """A whole ``search`` response body (envelope as in the real responses)."""
    payload: dict[str, Any] = {"version": "6.9", "hitCount": hit_count}
    if next_cursor is not None:
        payload["nextCursorMark"] = next_cursor
    payload["request"] = {"queryString": query, "resultType": "core", "cursorMark": cursor,
                          "pageSize": page_size, "sort": "", "synonym": False}
    payload["resultList"] = {"result": results}
    return json.dumps(payload).encode("utf-8")


def paged_responses(records: list[dict[str, Any]], page_size: int, *, query: str = "ketamine",
                    hit_count: int | None = None,
                    last_page_cursor: str = "omit") -> dict[str, bytes]:
    """``{cursorMark: body}`` for paging through ``records``.

    ``last_page_cursor``: ``"omit"`` (no ``nextCursorMark`` on the last page), ``"same"`` (the
    last page repeats its own cursor, as Solr-style cursors do at the end) or ``"empty"`` (the last
    full page points at one more, empty page).
    """
    results = [core_result(r) for r in records]
    chunks = [results[i:i + page_size] for i in range(0, len(results), page_size)] or [[]]
    total = len(results) if hit_count is None else hit_count
    bodies: dict[str, bytes] = {}
    for i, chunk in enumerate(chunks):
        cursor = cursor_for(i)
        last = i == len(chunks) - 1
        if not last:
            nxt: str | None = cursor_for(i + 1)
        elif last_page_cursor == "same":
            nxt = cursor
        elif last_page_cursor == "empty":
            nxt = cursor_for(i + 1)
        else:
            nxt = None
        bodies[cursor] = core_response(chunk, hit_count=total, cursor=cursor, next_cursor=nxt,
                                       page_size=page_size, query=query)
    if last_page_cursor == "empty":
        cursor = cursor_for(len(chunks))
        bodies[cursor] = core_response([], hit_count=total, cursor=cursor, next_cursor=cursor,
                                       page_size=page_size, query=query)
    return bodies
