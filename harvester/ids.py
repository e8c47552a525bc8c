"""Identifier normalisation (pure functions, no I/O).

Every ``normalize_*`` function returns the canonical form, or ``None`` when the value is empty or
not a valid identifier of that kind; each is idempotent (``f(f(x)) == f(x)``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = [
    "find_dois",
    "find_nct_ids",
    "normalize_doi",
    "normalize_nct",
    "normalize_pmcid",
    "normalize_pmid",
]

_DOI_PREFIXES = (
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi.org/",
    "dx.doi.org/",
    "urn:doi:",
    "doi:",
)
_DOI_SHAPE = re.compile(r"^10\.\d{3,9}/\S+$")
_TRAILING = ".,;:'\"!?"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_WS = re.compile(r"\s+")


def normalize_doi(value: str | None) -> str | None:
    """Lower-case DOI without resolver prefixes, whitespace or trailing punctuation.

    ``"https://doi.org/10.1056/NEJMoa1504720."`` -> ``"10.1056/nejmoa1504720"``.  A closing bracket
    is only stripped when it has no opening partner inside the DOI (``10.1016/s0140-6736(25)x``
    keeps its brackets).
    """
    if not value:
        return None
    doi = _WS.sub("", str(value)).lower()
    changed = True
    while changed:
        changed = False
        for prefix in _DOI_PREFIXES:
            if doi.startswith(prefix):
                doi = doi[len(prefix):]
                if "%2f" in doi:
                    doi = unquote(doi)
                changed = True
        stripped = _strip_trailing(doi)
        if stripped != doi:
            doi, changed = stripped, True
    return doi if _DOI_SHAPE.match(doi) else None


def _strip_trailing(doi: str) -> str:
    while doi:
        last = doi[-1]
        unbalanced = last in _PAIRS and doi.count(_PAIRS[last]) < doi.count(last)
        if last in _TRAILING or unbalanced:
            doi = doi[:-1]
        else:
            break
    return doi


_PMCID = re.compile(r"^(?:PMC)?0*([1-9]\d{0,9})$")


def normalize_pmcid(value: str | int | None) -> str | None:
    """``"PMC123"``, ``"pmc123"``, ``"123"`` and ``123`` -> ``"PMC123"``."""
    if value is None:
        return None
    text = _WS.sub("", str(value)).upper()
    if text.startswith("PMCID:"):
        text = text[6:]
    m = _PMCID.match(text)
    return f"PMC{m.group(1)}" if m else None


_PMID = re.compile(r"^0*([1-9]\d{0,9})$")


def normalize_pmid(value: str | int | None) -> str | None:
    """A PubMed id as a string of digits without leading zeros (``"PMID: 0123"`` -> ``"123"``)."""
    if value is None or isinstance(value, bool):
        return None
    text = _WS.sub("", str(value))
    if text.upper().startswith("PMID:"):
        text = text[5:]
    m = _PMID.match(text)
    return m.group(1) if m else None


_NCT_EXACT = re.compile(r"^NCT[-\s]?(\d{8})$", re.IGNORECASE)
_NCT_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])NCT[-\s]?(\d{8})(?!\d)", re.IGNORECASE)


def normalize_nct(value: str | None) -> str | None:
    """``"nct 01131676"`` -> ``"NCT01131676"``; ``None`` unless it is NCT plus exactly 8 digits."""
    if not value:
        return None
    m = _NCT_EXACT.match(str(value).strip())
    return f"NCT{m.group(1)}" if m else None


def find_nct_ids(text: str | None) -> list[str]:
    """ClinicalTrials.gov ids in free text, normalised, de-duplicated, in order of appearance."""
    if not text:
        return []
    found: dict[str, None] = {}
    for m in _NCT_IN_TEXT.finditer(text):
        found.setdefault(f"NCT{m.group(1)}", None)
    return list(found)


_DOI_IN_TEXT = re.compile(r"\b10\.\d{3,9}/[^\s\"<>]+", re.IGNORECASE)


def find_dois(text: str | None) -> list[str]:
    """DOIs in free text (e.g. a citation string), normalised, de-duplicated, in order."""
    if not text:
        return []
    found: dict[str, None] = {}
    for m in _DOI_IN_TEXT.finditer(text):
        doi = normalize_doi(m.group(0))
        if doi:
            found.setdefault(doi, None)
    return list(found)
