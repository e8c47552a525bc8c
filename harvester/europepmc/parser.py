"""Europe PMC REST ``search`` responses (``resultType=core``, ``format=json``) to records (pure).

Abstracts and titles carry inline HTML (``<h4>`` section headings, ``<i>``, ``<sup>``, JATS-like
``<bold>``/``<title>``/``<p>``) *and* unescaped text such as ``P<0.001`` or ``<or=5``.  An HTML
parser would read ``<or=5 on the ... >`` as a tag and swallow the text up to the next ``>``, so
markup is recognised only for a closed list of tag names (:data:`KNOWN_TAGS`); every other ``<``
is text.  Entities (``&lt;``) are decoded after tokenising, so ``&lt;i&gt;`` stays literal text.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from harvester.errors import ParseError, SourceError
from harvester.ids import (
    find_dois,
    find_nct_ids,
    normalize_doi,
    normalize_nct,
    normalize_pmcid,
    normalize_pmid,
)
from harvester.records import (
    AbstractSection,
    Author,
    Chemical,
    CommentCorrection,
    MeshHeading,
    MeshQualifier,
    Record,
)

__all__ = [
    "KNOWN_TAGS",
    "RAW_FORMAT",
    "SearchPage",
    "html_to_sections",
    "html_to_text",
    "map_comment_type",
    "parse_result",
    "parse_search_response",
    "render_abstract",
]

RAW_FORMAT = "europepmc-json"

HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "title"})
BLOCK_TAGS = frozenset(
    {"p", "br", "div", "sec", "section", "li", "ul", "ol", "list", "list-item", "abstract",
     "blockquote", "table", "tr", "td", "th", "caption", "hr"}
)
INLINE_TAGS = frozenset(
    {"i", "b", "u", "em", "strong", "sup", "sub", "bold", "italic", "underline", "sc", "span",
     "a", "font", "small", "big", "tt", "code", "monospace", "strike", "s", "del", "ins",
     "inline-formula", "ext-link", "xref", "named-content", "styled-content", "abbr", "math"}
)
KNOWN_TAGS = HEADING_TAGS | BLOCK_TAGS | INLINE_TAGS

_TAG = re.compile(
    r"<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9-]*|(?:-[A-Za-z0-9]+)*))"
    r"(?P<attrs>(?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>=`]+))?)*)"
    r"\s*/?>"
)
_WS = re.compile(r"\s+")

# Europe PMC commentCorrection "type" -> PubMed CommentsCorrections RefType.
_COMMENT_TYPES = {
    "comment in": "CommentIn",
    "comment on": "CommentOn",
    "erratum in": "ErratumIn",
    "erratum for": "ErratumFor",
    "retraction in": "RetractionIn",
    "retraction of": "RetractionOf",
    "expression of concern in": "ExpressionOfConcernIn",
    "expression of concern for": "ExpressionOfConcernFor",
    "update in": "UpdateIn",
    "update of": "UpdateOf",
    "republished in": "RepublishedIn",
    "republished from": "RepublishedFrom",
    "corrected and republished in": "CorrectedandRepublishedIn",
    "corrected and republished from": "CorrectedandRepublishedFrom",
    "retracted and republished in": "RetractedandRepublishedIn",
    "retracted and republished from": "RetractedandRepublishedFrom",
    "reprint in": "ReprintIn",
    "reprint of": "ReprintOf",
    "summary for patients in": "SummaryForPatientsIn",
    "original report in": "OriginalReportIn",
    "preprint in": "PreprintIn",
    "preprint of": "PreprintOf",
}


@dataclass(slots=True)
class SearchPage:
    """One page of a Europe PMC search.

    ``cursor_mark`` is the cursor that fetched this page, ``next_cursor_mark`` the one for the next
    page (``None`` when the response has none, which means the end).
    """

    hit_count: int
    next_cursor_mark: str | None
    records: list[Record] = field(default_factory=list)
    cursor_mark: str | None = None


# --------------------------------------------------------------------------- markup


def _tokens(value: str) -> list[tuple[str, str, bool]]:
    """Split into ``("text", s, False)`` and ``("tag", name, is_close)`` tokens."""
    out: list[tuple[str, str, bool]] = []
    pos = 0
    for m in _TAG.finditer(value):
        name = m.group("name").lower()
        if name.startswith("jats:"):
            name = name[5:]
        if name not in KNOWN_TAGS and not name.startswith("mml:"):
            continue
        if m.start() > pos:
            out.append(("text", value[pos:m.start()], False))
        out.append(("tag", name, bool(m.group("close"))))
        pos = m.end()
    if pos < len(value):
        out.append(("text", value[pos:], False))
    return out


def _clean(text: str) -> str:
    return _WS.sub(" ", html.unescape(text)).strip()


def html_to_sections(value: str | None) -> list[AbstractSection]:
    """Europe PMC abstract HTML to sections: each heading (``<h4>``, ``<title>``) starts a labelled
    section; all other known tags are dropped; no text is lost (an empty heading is kept as a
    section with a label and empty text)."""
    if not value:
        return []
    sections: list[AbstractSection] = []
    label: str | None = None
    parts: list[str] = []
    heading: list[str] | None = None

    def flush() -> None:
        nonlocal parts
        text = _clean("".join(parts))
        if text or label:
            sections.append(AbstractSection(text=text, label=label))
        parts = []

    def end_heading() -> None:
        nonlocal heading, label
        if heading is None:
            return
        text = _clean("".join(heading))
        heading = None
        stripped = text.rstrip(":").strip()
        if stripped:
            flush()
            label = stripped
        elif text:  # a heading that is only punctuation: keep it as text
            parts.append(text)

    for kind, content, closing in _tokens(value):
        if kind == "text":
            (heading if heading is not None else parts).append(content)
        elif content in HEADING_TAGS:
            if closing:
                end_heading()
            else:
                end_heading()
                heading = []
        elif content in BLOCK_TAGS:
            end_heading()  # an unclosed heading ends at the next block
            parts.append(" ")
        # inline tags: dropped, text around them joins as written
    end_heading()
    flush()
    return sections


def render_abstract(sections: list[AbstractSection]) -> str:
    """``"Label: text"`` paragraphs joined by a blank line (see :class:`Record`)."""
    paras = []
    for s in sections:
        if s.label and s.text:
            paras.append(f"{s.label}: {s.text}")
        elif s.label or s.text:
            paras.append(s.label or s.text)
    return "\n\n".join(paras)


def html_to_text(value: str | None) -> str:
    """Inline HTML (a title) to plain text: known tags dropped, entities decoded, spaces
    collapsed."""
    if not value:
        return ""
    pieces = [content if kind == "text" else (" " if content in BLOCK_TAGS | HEADING_TAGS
                                                else "")
              for kind, content, _ in _tokens(value)]
    return _clean("".join(pieces))


# --------------------------------------------------------------------------- helpers


def _list(container: Any, key: str) -> list[Any]:
    """``{"key": [..]}`` or ``{"key": x}`` -> list; anything else -> ``[]``."""
    if not isinstance(container, dict):
        return []
    value = container.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _date(value: Any) -> date | None:
    text = _str(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _yes(value: Any) -> bool:
    return str(value).strip().upper() in {"Y", "YES", "TRUE"}


_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DATE_OF_PUB = re.compile(r"^(\d{4})(?:\s+([A-Za-z]{3})[a-z]*\.?(?:\s+(\d{1,2}))?)?$")


def _pub_date(date_of_publication: str | None, print_date: str | None,
              first_date: str | None) -> str | None:
    """As precise as the source: ``dateOfPublication`` "2015 Nov" -> "2015-11"."""
    m = _DATE_OF_PUB.match(date_of_publication.strip()) if date_of_publication else None
    if m:
        year, mon, day = m.groups()
        month = _MONTHS.get(mon.lower()) if mon else None
        if not mon:
            return year
        if month and day:
            return f"{year}-{month:02d}-{int(day):02d}"
        if month:
            return f"{year}-{month:02d}"
    for candidate in (print_date, first_date):
        if candidate and _date(candidate):
            return candidate[:10]
    return None


def map_comment_type(value: str) -> str:
    """Europe PMC ``"Retraction in"`` -> PubMed ``"RetractionIn"`` (unknown types camel-cased)."""
    key = _WS.sub(" ", value.strip().lower())
    if key in _COMMENT_TYPES:
        return _COMMENT_TYPES[key]
    return "".join(w if w == "and" else w[:1].upper() + w[1:] for w in key.split(" "))


# --------------------------------------------------------------------------- record


def _authors(result: dict[str, Any]) -> list[Author]:
    authors: list[Author] = []
    for item in _list(result.get("authorList"), "author"):
        if not isinstance(item, dict):
            continue
        affiliations = []
        for aff in _list(item.get("authorAffiliationDetailsList"), "authorAffiliation"):
            text = _str(aff.get("affiliation")) if isinstance(aff, dict) else _str(aff)
            if text:
                affiliations.append(text)
        if not affiliations and _str(item.get("affiliation")):
            affiliations.append(str(item["affiliation"]).strip())
        orcid = None
        for ident in _list(item, "authorId"):
            if isinstance(ident, dict) and str(ident.get("type", "")).upper() == "ORCID":
                orcid = _str(ident.get("value"))
        collective = _str(item.get("collectiveName"))
        last, fore, initials = (_str(item.get("lastName")), _str(item.get("firstName")),
                                _str(item.get("initials")))
        full = _str(item.get("fullName"))
        if not (collective or last or fore) and full:
            m = re.match(r"^(.+?)\s+([A-Z]{1,4})$", full)
            if m:
                last, initials = m.group(1), m.group(2)
            else:
                last = full
        if not (collective or last or fore):
            continue
        authors.append(Author(last_name=last, fore_name=fore, initials=initials,
                              collective_name=collective, affiliations=affiliations,
                              orcid=orcid))
    return authors


def _mesh(result: dict[str, Any]) -> list[MeshHeading]:
    headings = []
    for item in _list(result.get("meshHeadingList"), "meshHeading"):
        if not isinstance(item, dict) or not _str(item.get("descriptorName")):
            continue
        qualifiers = [
            MeshQualifier(name=str(q["qualifierName"]).strip(), major=_yes(q.get("majorTopic_YN")))
            for q in _list(item.get("meshQualifierList"), "meshQualifier")
            if isinstance(q, dict) and _str(q.get("qualifierName"))
        ]
        headings.append(MeshHeading(name=str(item["descriptorName"]).strip(),
                                    major=_yes(item.get("majorTopic_YN")),
                                    qualifiers=qualifiers))
    return headings


def _chemicals(result: dict[str, Any]) -> list[Chemical]:
    chemicals = []
    for item in _list(result.get("chemicalList"), "chemical"):
        if isinstance(item, dict) and _str(item.get("name")):
            registry = _str(item.get("registryNumber"))
            chemicals.append(Chemical(name=str(item["name"]).strip(),
                                      registry_number=None if registry == "0" else registry))
    return chemicals


def _publication_types(result: dict[str, Any]) -> list[str]:
    types: list[str] = []
    for item in _list(result.get("pubTypeList"), "pubType"):
        text = _str(item)
        if not text:
            continue
        if text.lower() == "preprint":
            text = "Preprint"  # Europe PMC writes "preprint"; PubMed's type is "Preprint"
        if text not in types:
            types.append(text)
    return types


def _comments(result: dict[str, Any]) -> list[CommentCorrection]:
    out = []
    for item in _list(result.get("commentCorrectionList"), "commentCorrection"):
        if not isinstance(item, dict) or not _str(item.get("type")):
            continue
        source, ident = _str(item.get("source")), _str(item.get("id"))
        reference = _str(item.get("reference"))
        out.append(CommentCorrection(
            ref_type=map_comment_type(str(item["type"])),
            pmid=normalize_pmid(ident) if source == "MED" else None,
            ref_source=reference or (f"{source}:{ident}" if source and ident else ident),
        ))
    return out


def _version_links(result: dict[str, Any], is_preprint: bool) -> dict[str, str]:
    """Preprint <-> published links from ``commentCorrectionList`` and ``versionList``.

    A preprint's ``"Preprint of"`` entry points at its journal version (MED id = PMID, PMC id, or a
    DOI in the reference); a journal article's ``"Preprint in"`` entry points at its preprint
    (source PPR).
    """
    links: dict[str, str] = {}
    for item in _list(result.get("commentCorrectionList"), "commentCorrection"):
        if not isinstance(item, dict):
            continue
        kind = map_comment_type(str(item.get("type", "")))
        source, ident = _str(item.get("source")), _str(item.get("id"))
        dois = find_dois(_str(item.get("reference")))
        if kind == "PreprintOf":
            if source == "MED" and normalize_pmid(ident):
                links.setdefault("published_pmid", normalize_pmid(ident) or "")
            elif source == "PMC" and normalize_pmcid(ident):
                links.setdefault("published_pmcid", normalize_pmcid(ident) or "")
            elif ident:
                links.setdefault("published_id", f"{source}:{ident}" if source else ident)
            if dois:
                links.setdefault("published_doi", dois[0])
        elif kind == "PreprintIn":
            if source == "PPR" and ident:
                links.setdefault("preprint_ppr_id", ident)
            elif ident:
                links.setdefault("preprint_id", f"{source}:{ident}" if source else ident)
            if dois:
                links.setdefault("preprint_doi", dois[0])
    if is_preprint:
        number = _str(result.get("versionNumber"))
        if number:
            links["preprint_version"] = number
        for version in _list(result.get("versionList"), "version"):
            if isinstance(version, dict) and _str(version.get("id")):
                n = _str(version.get("versionNumber")) or str(version["id"])
                links[f"version_{n}"] = str(version["id"]).strip()
    return links


_RETRACTED_TITLE = re.compile(r"^\s*(?:\[\s*retracted\s*\]|retracted\s*:)", re.IGNORECASE)
_WITHDRAWN_TITLE = re.compile(r"^\s*(?:\[\s*withdrawn\s*\]|withdrawn\s*:)", re.IGNORECASE)


def parse_result(result: dict[str, Any] | bytes) -> Record:
    """One ``resultList.result`` entry (a dict, or its JSON bytes as kept in ``Record.raw``)."""
    if isinstance(result, bytes | bytearray):
        result = _loads(bytes(result))
    if not isinstance(result, dict):
        raise ParseError(f"Europe PMC result is a {type(result).__name__}, not an object")
    source = _str(result.get("source")) or ""
    ident = _str(result.get("id"))
    pub_types = _publication_types(result)
    is_preprint = source == "PPR" or "Preprint" in pub_types

    sections = html_to_sections(_str(result.get("abstractText")))
    title = html_to_text(_str(result.get("title")))
    journal_info = _obj(result.get("journalInfo"))
    journal_meta = _obj(journal_info.get("journal"))
    book = _obj(result.get("bookOrReportDetails"))
    journal = _str(journal_meta.get("title")) or (_str(book.get("publisher")) if is_preprint
                                                  else None)
    journal_iso = _str(journal_meta.get("isoabbreviation")) or _str(
        journal_meta.get("medlineAbbreviation"))

    pub_year = _int(result.get("pubYear")) or _int(journal_info.get("yearOfPublication")) or \
        _int(book.get("yearOfPublication"))
    date_raw = _str(journal_info.get("dateOfPublication"))
    pub_date = _pub_date(date_raw, _str(journal_info.get("printPublicationDate")),
                         _str(result.get("firstPublicationDate")))

    keywords = [k for k in (_str(x) for x in _list(result.get("keywordList"), "keyword")) if k]
    comments = _comments(result)
    abstract = render_abstract(sections)

    nct_ids: list[str] = []
    for found in (find_nct_ids(title), find_nct_ids(abstract), _xref_nct_ids(result)):
        nct_ids.extend(n for n in found if n not in nct_ids)
    databanks: dict[str, list[str]] = {}
    for name in _list(result.get("dbCrossReferenceList"), "dbName"):
        if _str(name):
            databanks.setdefault(str(name).strip(), [])
    if nct_ids:
        databanks["ClinicalTrials.gov"] = list(nct_ids)

    other_ids: dict[str, str] = {}
    if source and ident:
        other_ids["source_id"] = f"{source}:{ident}"
    for key, name in (("manuscriptId", "manuscript_id"), ("bookid", "book_id")):
        if _str(result.get(key)):
            other_ids[name] = str(result[key]).strip()

    lower_types = {t.lower() for t in pub_types}
    retracted = bool(_RETRACTED_TITLE.match(title)) or "retracted publication" in lower_types
    withdrawn = bool(_WITHDRAWN_TITLE.match(title)) or any("withdrawn" in t for t in lower_types)

    record = Record(
        source="europepmc",
        title=title,
        abstract=abstract,
        abstract_sections=sections,
        pmid=normalize_pmid(result.get("pmid")) or (normalize_pmid(ident) if source == "MED"
                                                    else None),
        doi=normalize_doi(_str(result.get("doi"))),
        pmcid=normalize_pmcid(result.get("pmcid")) or (normalize_pmcid(ident) if source == "PMC"
                                                       else None),
        ppr_id=ident if source == "PPR" else None,
        other_ids=other_ids,
        language=[lang for lang in (_str(x) for x in _as_list(result.get("language"))) if lang],
        journal=journal,
        journal_iso=journal_iso,
        pub_year=pub_year,
        pub_date=pub_date,
        pub_date_raw=date_raw,
        authors=_authors(result),
        keywords=keywords,
        mesh=_mesh(result),
        chemicals=_chemicals(result),
        publication_types=pub_types,
        nct_ids=nct_ids,
        databanks=databanks,
        comments_corrections=comments,
        date_revised=_date(result.get("dateOfRevision")),
        first_published=_date(result.get("firstPublicationDate")),
        is_preprint=is_preprint,
        is_book=source == "NBK" or "book" in lower_types or "book chapter" in lower_types,
        retracted=retracted,
        withdrawn=withdrawn,
        version_links=_version_links(result, is_preprint),
        raw=json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        raw_format=RAW_FORMAT,
    )
    return record


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _xref_nct_ids(result: dict[str, Any]) -> list[str]:
    """NCT ids anywhere inside ``dbCrossReferenceList`` (core usually lists only db names)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            nct = normalize_nct(node)
            for n in ([nct] if nct else find_nct_ids(node)):
                if n not in found:
                    found.append(n)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(result.get("dbCrossReferenceList"))
    return found


# --------------------------------------------------------------------------- page


_ERROR_KEYS = ("errCode", "errMsg", "error", "errors", "errorMessage", "message", "fault")


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ParseError(f"Europe PMC response is not valid JSON: {exc}") from exc


def parse_search_response(data: bytes) -> SearchPage:
    """A whole ``search`` response.

    Raises :class:`ParseError` for malformed JSON or an unexpected shape, :class:`SourceError`
    when the payload is an error message instead of results.  ``hitCount: 0`` with an empty (or
    absent) ``resultList`` is a valid empty page.
    """
    payload = _loads(data)
    if not isinstance(payload, dict):
        raise ParseError(f"Europe PMC response is a JSON {type(payload).__name__}, not an object")
    if "resultList" not in payload:
        errors = {k: payload[k] for k in _ERROR_KEYS if k in payload}
        if errors:
            raise SourceError(f"Europe PMC error: {json.dumps(errors)[:300]}")
        if "hitCount" not in payload:
            raise ParseError("Europe PMC response has neither resultList nor hitCount")
    hit_count = _int(payload.get("hitCount"))
    if hit_count is None or hit_count < 0:
        raise ParseError(f"Europe PMC hitCount is missing or invalid: {payload.get('hitCount')!r}")
    result_list = payload.get("resultList")
    if result_list is None:
        results: list[Any] = []
    elif isinstance(result_list, dict):
        raw_results = result_list.get("result", [])
        if not isinstance(raw_results, list):
            raise ParseError("Europe PMC resultList.result is not a list")
        results = raw_results
    else:
        raise ParseError("Europe PMC resultList is not an object")
    records = [parse_result(r) for r in results]
    request = _obj(payload.get("request"))
    next_cursor = _str(payload.get("nextCursorMark"))
    return SearchPage(hit_count=hit_count, next_cursor_mark=next_cursor, records=records,
                      cursor_mark=_str(request.get("cursorMark")))
