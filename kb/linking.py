"""One study, many records: link versions, trials and notices after every ingest.

- a preprint and its journal version: ``version_of`` link (preprint -> published) and the
  preprint's ``duplicate_of`` set, so lists show the study once; nothing is deleted. Evidence:
  explicit links from the source (published PMID/DOI/PMCID), else a careful match of the
  normalised title plus the first author's surname;
- trials and publications: NCT ids in PubMed databank lists and abstracts, and PMIDs in a
  trial's references, both stored in ``trial_publication``;
- retraction notices, errata and expressions of concern: a notice links to the record it is
  about (``retraction_of`` ...) and flags it, even when the notice arrives in a later run.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from harvester.ids import find_nct_ids
from kb import repository

NOTICE_TYPES = {
    "Retraction of Publication": ("retraction_of", "is_retracted", {"RetractionOf"}),
    "Published Erratum": ("erratum_for", "has_erratum", {"ErratumFor"}),
    "Expression of Concern": ("concern_for", "has_concern", {"ExpressionOfConcernFor"}),
}
_NON_WORD = re.compile(r"[^a-z0-9]+")
_PREFIX = re.compile(r"^(?:\[?(?:retracted|withdrawn|preprint)\]?:?\s*)", re.IGNORECASE)


def title_key(title: str) -> str:
    """A normalised title for matching versions: case, accents, punctuation and markup ignored."""
    text = unicodedata.normalize("NFKD", _PREFIX.sub("", title or ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", text).strip()


def first_author_surname(authors: list[dict[str, Any]] | None) -> str:
    for a in authors or []:
        name = a.get("last_name") or a.get("collective_name") or ""
        if name:
            return title_key(name)
    return ""


@dataclass(slots=True)
class LinkReport:
    versions: int = 0
    trial_links: int = 0
    notices: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"versions": self.versions, "trial_links": self.trial_links,
                "notices": self.notices}


def link_all(engine: Engine) -> LinkReport:
    """Run every linking pass (idempotent; cheap enough to run after each harvest)."""
    report = LinkReport()
    report.versions = link_versions(engine)
    report.trial_links = link_trials(engine)
    report.notices = link_notices(engine)
    return report


def link_versions(engine: Engine) -> int:
    """Link preprints to their published versions; returns the number of new links."""
    preprints = repository.preprints(engine)
    if not preprints:
        return 0
    index = repository.version_candidates(engine)
    by_pmid = {r["pmid"]: r for r in index if r["pmid"]}
    by_doi = {r["doi"]: r for r in index if r["doi"]}
    by_pmcid = {r["pmcid"]: r for r in index if r["pmcid"]}
    by_title: dict[str, list[dict[str, Any]]] = {}
    for r in index:
        key = title_key(r["title"])
        if len(key) >= 30:  # short titles ("Editorial") are too ambiguous to match
            by_title.setdefault(key, []).append(r)
    links: list[tuple[int, int, str, str]] = []
    merged: set[int] = set()
    for pre in preprints:
        if pre["id"] in merged:
            continue
        vl = pre["version_links"] or {}
        target = (by_pmid.get(vl.get("published_pmid", "")) or by_doi.get(
            (vl.get("published_doi") or "").lower()) or by_pmcid.get(
            vl.get("published_pmcid", "")))
        evidence = "source link"
        if target is None:
            key = title_key(pre["title"])
            surname = first_author_surname(pre["authors"])
            candidates = [c for c in by_title.get(key, []) if c["id"] != pre["id"]
                          and c["id"] not in merged
                          and (not surname or first_author_surname(c["authors"]) == surname)]
            published = [c for c in candidates if not c["is_preprint"]]
            if len(published) == 1:
                target = published[0]
            elif not published and len(candidates) == 1:
                target = candidates[0]  # the same preprint under another id
            evidence = "title and first author"
        if target is None or target["id"] == pre["id"]:
            continue
        if target["is_preprint"]:
            # Keep the copy with a DOI (else the older row); the other becomes its duplicate.
            keep, drop = sorted((pre, target), key=lambda r: (not r.get("doi"), r["id"]))
            links.append((drop["id"], keep["id"], "duplicate_of", evidence))
            merged.add(drop["id"])
        else:
            links.append((pre["id"], target["id"], "version_of", evidence))
            merged.add(pre["id"])
    return repository.add_version_links(engine, links)


def link_trials(engine: Engine) -> int:
    """Store trial <-> publication links from every direction; returns new links."""
    pairs: dict[tuple[str, int], str] = {}
    for rec in repository.records_with_trial_ids(engine):
        if rec["source"] in ("ctgov", "ctgov-text"):
            continue
        for nct in rec["nct_ids"] or []:
            pairs.setdefault((nct, rec["id"]), "databank")
        for nct in find_nct_ids(rec["abstract"] or ""):
            pairs.setdefault((nct, rec["id"]), "abstract")
    for nct, pmid in repository.trial_reference_pmids(engine):
        rid = repository.record_id_by_pmid(engine, pmid)
        if rid is not None:
            pairs.setdefault((nct, rid), "trial_reference")
    return repository.add_trial_links(engine, [(n, r, e) for (n, r), e in pairs.items()])


def link_notices(engine: Engine) -> int:
    """Link retraction / erratum / concern notices to their targets and flag the targets."""
    links: list[tuple[int, int, str]] = []
    flags: list[tuple[int, str]] = []
    for notice in repository.notices(engine, list(NOTICE_TYPES)):
        for pubtype in notice["publication_types"] or []:
            if pubtype not in NOTICE_TYPES:
                continue
            relation, flag, ref_types = NOTICE_TYPES[pubtype]
            for cc in notice["comments_corrections"] or []:
                if cc.get("ref_type") in ref_types and cc.get("pmid"):
                    target = repository.record_id_by_pmid(engine, cc["pmid"])
                    if target is not None and target != notice["id"]:
                        links.append((notice["id"], target, relation))
                        flags.append((target, flag))
    return repository.add_notice_links(engine, links, flags)
