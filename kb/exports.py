"""Reading-list exports: RIS (Zotero, EndNote), BibTeX, CSV and Markdown; identifier links.

Every format carries the retraction flag. Values are plain text from the database and are
treated as untrusted: RIS and BibTeX values are kept on one line (no tag injection), CSV cells
that a spreadsheet would run as a formula are neutralised, Markdown is escaped.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import rispy

RETRACTED_NOTE = "RETRACTED: this publication has been retracted."
CONCERN_NOTE = "EXPRESSION OF CONCERN: an expression of concern was published for this record."

_PMID = re.compile(r"^\d{1,9}$")
_PMCID = re.compile(r"^PMC\d{1,9}$", re.IGNORECASE)
_NCT = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
_PPR = re.compile(r"^PPR\d{1,12}$", re.IGNORECASE)
_DOI = re.compile(r"^10\.\d{3,9}/\S+$")
_SPACE = re.compile(r"\s+")
# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that start
# markup inline (emphasis, code, links, HTML, tables, strike-through, math, Streamlit's
# ``:color[...]`` and ``:icon:`` directives, entities).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~:$&])")
# ... and at the start of a line: headings, lists, quotes, setext underlines.
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")


# --- identifiers and links ---


def pubmed_url(pmid: str | None) -> str | None:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid and _PMID.match(pmid) else None


def doi_url(doi: str | None) -> str | None:
    if not doi or not _DOI.match(doi.strip()):
        return None
    return "https://doi.org/" + quote(doi.strip(), safe="/.:;_-")


def pmc_url(pmcid: str | None) -> str | None:
    if not pmcid or not _PMCID.match(pmcid):
        return None
    return f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid.upper()}/"


def ctgov_url(nct_id: str | None) -> str | None:
    if not nct_id or not _NCT.match(nct_id):
        return None
    return f"https://clinicaltrials.gov/study/{nct_id.upper()}"


def europepmc_preprint_url(ppr_id: str | None) -> str | None:
    if not ppr_id or not _PPR.match(ppr_id):
        return None
    return f"https://europepmc.org/article/PPR/{ppr_id.upper()}"


def identifier_links(rec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, identifier, url)`` for every identifier of a record that has a landing page."""
    out: list[tuple[str, str, str]] = []
    for kind, value, make in (("PubMed", rec.get("pmid"), pubmed_url),
                              ("DOI", rec.get("doi"), doi_url),
                              ("PMC", rec.get("pmcid"), pmc_url),
                              ("Europe PMC", rec.get("ppr_id"), europepmc_preprint_url)):
        url = make(value)
        if url:
            out.append((kind, str(value), url))
    for nct in rec.get("nct_ids") or []:
        url = ctgov_url(nct)
        if url:
            out.append(("ClinicalTrials.gov", nct, url))
    return out


def best_url(rec: Mapping[str, Any]) -> str | None:
    links = identifier_links(rec)
    return links[0][2] if links else None


# --- text helpers ---


def one_line(value: Any) -> str:
    """A value as a single line of text (newlines and tabs folded to spaces)."""
    return _SPACE.sub(" ", str(value or "")).strip()


def md_escape(value: Any) -> str:
    """Text that Markdown renders literally: no markup, links, HTML, math or directives."""
    text = _MD_SPECIAL.sub(r"\\\1", one_line(value))

    def line_start(m: re.Match[str]) -> str:
        lead, mark = m.group(1), m.group(2)
        return lead + mark + "\\" if mark[0].isdigit() else lead + "\\" + mark

    return _MD_LINE_START.sub(line_start, text)


def author_name(author: Any) -> str:
    """``"Last, Initials"`` (or the collective name) of a stored author."""
    if isinstance(author, str):
        return one_line(author)
    if not isinstance(author, Mapping):
        return ""
    if author.get("collective_name"):
        return one_line(author["collective_name"])
    last = one_line(author.get("last_name"))
    first = one_line(author.get("initials") or author.get("fore_name"))
    if last and first:
        return f"{last}, {first}"
    return last or first


def author_names(rec: Mapping[str, Any]) -> list[str]:
    return [n for n in (author_name(a) for a in rec.get("authors") or []) if n]


def short_authors(rec: Mapping[str, Any], n: int = 3) -> str:
    names = author_names(rec)
    if len(names) > n:
        return "; ".join(names[:n]) + " et al."
    return "; ".join(names)


def flags(rec: Mapping[str, Any]) -> list[str]:
    """Warning notes every export carries (retraction first)."""
    out = []
    if rec.get("is_retracted"):
        out.append(RETRACTED_NOTE)
    if rec.get("has_concern"):
        out.append(CONCERN_NOTE)
    return out


# --- RIS ---


def ris_type(rec: Mapping[str, Any]) -> str:
    if rec.get("is_preprint"):
        return "UNPB"
    if str(rec.get("source") or "").startswith("ctgov"):
        return "GEN"
    return "JOUR"


def to_ris_entry(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One rispy reference dict for a record (plus its reading-list note, if any)."""
    entry: dict[str, Any] = {"type_of_reference": ris_type(rec),
                             "title": one_line(rec.get("title")) or "(untitled)"}
    authors = author_names(rec)
    if authors:
        entry["authors"] = authors
    if rec.get("pub_year"):
        entry["year"] = str(rec["pub_year"])
    if rec.get("pub_date"):
        entry["date"] = one_line(rec["pub_date"]).replace("-", "/")
    if rec.get("journal"):
        entry["secondary_title"] = one_line(rec["journal"])
    if rec.get("journal_iso"):
        entry["alternate_title1"] = one_line(rec["journal_iso"])
    if rec.get("doi"):
        entry["doi"] = one_line(rec["doi"])
    if rec.get("abstract"):
        entry["abstract"] = one_line(rec["abstract"])
    if rec.get("pmid"):
        entry["accession_number"] = one_line(rec["pmid"])
        entry["name_of_database"] = "PubMed"
    keywords = [one_line(k) for k in rec.get("keywords") or [] if one_line(k)]
    if rec.get("is_retracted"):
        keywords.append("Retracted Publication")
    if keywords:
        entry["keywords"] = keywords
    langs = [one_line(x) for x in rec.get("language") or [] if one_line(x)]
    if langs:
        entry["language"] = langs[0]
    url = best_url(rec)
    if url:
        entry["urls"] = [url]
    notes = flags(rec)
    if rec.get("note"):
        notes.append(one_line(rec["note"]))
    if notes:
        entry["notes"] = notes
    return entry


class _RisWriter(rispy.RisWriter):
    """rispy's writer without the ``1.`` counter lines between references."""

    def set_header(self, count: int) -> None:
        return None


def to_ris(records: Iterable[Mapping[str, Any]]) -> str:
    """RIS text (imports into Zotero, EndNote, Mendeley)."""
    return rispy.dumps([to_ris_entry(r) for r in records], implementation=_RisWriter)


# --- BibTeX ---

_BIB_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&",
                "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}
_BIB_RX = re.compile("|".join(re.escape(k) for k in _BIB_SPECIAL))


def bib_escape(value: Any) -> str:
    return _BIB_RX.sub(lambda m: _BIB_SPECIAL[m.group(0)], one_line(value))


def _ascii_word(value: str) -> str:
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", text)


def bib_key(rec: Mapping[str, Any], taken: set[str]) -> str:
    """``lastnameYEARfirstword``, ASCII only, made unique with a, b, c ..."""
    names = author_names(rec)
    last = _ascii_word(names[0].split(",")[0]).lower() if names else ""
    words = [w for w in (_ascii_word(x) for x in one_line(rec.get("title")).split())
             if len(w) > 3]
    base = (last or "anon") + str(rec.get("pub_year") or "") + (words[0].lower() if words else "")
    key, n = base, 0
    while key in taken:
        n += 1
        key = base + chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
    taken.add(key)
    return key


def to_bibtex(records: Iterable[Mapping[str, Any]]) -> str:
    """BibTeX entries (``@article``, ``@unpublished`` for preprints, ``@misc`` otherwise)."""
    taken: set[str] = set()
    out: list[str] = []
    for rec in records:
        kind = {"JOUR": "article", "UNPB": "unpublished"}.get(ris_type(rec), "misc")
        fields: list[tuple[str, str]] = [("title", "{" + bib_escape(rec.get("title")) + "}")]
        names = author_names(rec)
        if names:
            fields.append(("author", " and ".join(bib_escape(n) for n in names)))
        if rec.get("journal"):
            fields.append(("journal", bib_escape(rec["journal"])))
        if rec.get("pub_year"):
            fields.append(("year", bib_escape(rec["pub_year"])))
        if rec.get("doi"):
            fields.append(("doi", bib_escape(rec["doi"])))
        if rec.get("pmid"):
            fields.append(("pmid", bib_escape(rec["pmid"])))
        if rec.get("pmcid"):
            fields.append(("pmcid", bib_escape(rec["pmcid"])))
        url = best_url(rec)
        if url:
            fields.append(("url", bib_escape(url)))
        keywords = [one_line(k) for k in rec.get("keywords") or []]
        if rec.get("is_retracted"):
            keywords.append("Retracted Publication")
        if keywords:
            fields.append(("keywords", bib_escape(", ".join(k for k in keywords if k))))
        notes = flags(rec) + ([one_line(rec["note"])] if rec.get("note") else [])
        if kind == "unpublished" and not notes:
            notes.append("Preprint")
        if notes:
            fields.append(("note", bib_escape(" ".join(notes))))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        out.append(f"@{kind}{{{bib_key(rec, taken)},\n{body}\n}}\n")
    return "\n".join(out)


# --- CSV ---

CSV_COLUMNS = ("position", "title", "authors", "journal", "year", "design", "tags", "retracted",
               "expression_of_concern", "preprint", "pmid", "doi", "pmcid", "nct_ids", "url",
               "note")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet will not evaluate: one starting with = + - @ tab CR gets a ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _tags(rec: Mapping[str, Any]) -> str:
    return "; ".join(f"{lab['facet']}:{lab['label']}" for lab in rec.get("labels") or []
                     if lab.get("facet") != "relevance")


def to_csv(records: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header row; spreadsheet formulas neutralised in every cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i, rec in enumerate(records, 1):
        row = {
            "position": i,
            "title": one_line(rec.get("title")),
            "authors": "; ".join(author_names(rec)),
            "journal": one_line(rec.get("journal")),
            "year": rec.get("pub_year") or "",
            "design": rec.get("design") or "",
            "tags": _tags(rec),
            "retracted": "yes" if rec.get("is_retracted") else "no",
            "expression_of_concern": "yes" if rec.get("has_concern") else "no",
            "preprint": "yes" if rec.get("is_preprint") else "no",
            "pmid": rec.get("pmid") or "",
            "doi": rec.get("doi") or "",
            "pmcid": rec.get("pmcid") or "",
            "nct_ids": "; ".join(rec.get("nct_ids") or []),
            "url": best_url(rec) or "",
            "note": one_line(rec.get("note")),
        }
        writer.writerow([csv_safe(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


# --- Markdown ---


def to_markdown(records: Iterable[Mapping[str, Any]], *, title: str = "Reading list",
                description: str = "") -> str:
    """A numbered, escaped Markdown list: citation, links, retraction warnings, notes."""
    lines = [f"# {md_escape(title)}", ""]
    if description.strip():
        lines += [md_escape(description), ""]
    for i, rec in enumerate(records, 1):
        head = f"{i}. **{md_escape(rec.get('title') or '(untitled)')}**"
        if rec.get("is_retracted"):
            head = f"{i}. **RETRACTED** · **{md_escape(rec.get('title') or '(untitled)')}**"
        lines.append(head)
        cite = [md_escape(short_authors(rec))] if author_names(rec) else []
        if rec.get("journal"):
            cite.append(f"*{md_escape(rec['journal'])}*")
        if rec.get("pub_year"):
            cite.append(md_escape(rec["pub_year"]))
        if rec.get("design"):
            cite.append(md_escape(str(rec["design"]).replace("_", " ")))
        if cite:
            lines.append("   " + " · ".join(cite))
        links = [f"[{md_escape(kind)} {md_escape(ident)}](<{url}>)"
                 for kind, ident, url in identifier_links(rec)]
        if links:
            lines.append("   " + " · ".join(links))
        for note in flags(rec):
            lines.append(f"   > **{md_escape(note)}**")
        if rec.get("note"):
            lines.append(f"   > {md_escape(rec['note'])}")
        lines.append("")
    return "\n".join(lines)


# --- registry ---


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str
    extension: str
    mime: str
    render: Callable[[Sequence[Mapping[str, Any]]], str]


FORMATS: dict[str, ExportFormat] = {
    "ris": ExportFormat("RIS", "ris", "application/x-research-info-systems", to_ris),
    "bibtex": ExportFormat("BibTeX", "bib", "application/x-bibtex", to_bibtex),
    "csv": ExportFormat("CSV", "csv", "text/csv", to_csv),
    "md": ExportFormat("Markdown", "md", "text/markdown", to_markdown),
}


def export(records: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """Records in one of :data:`FORMATS` (``ris``, ``bibtex``, ``csv``, ``md``)."""
    try:
        spec = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r} (formats: {', '.join(FORMATS)})") from None
    return spec.render(records)


def filename(name: str, fmt: str) -> str:
    """A safe file name for a list export (``esketamine-trd.ris``)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", unicodedata.normalize("NFKD", name)
                  .encode("ascii", "ignore").decode()).strip("-").lower()[:60] or "reading-list"
    return f"{stem}.{FORMATS[fmt].extension}"
