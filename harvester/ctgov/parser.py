"""ClinicalTrials.gov API v2 study JSON to :class:`Trial` (pure), and trials to records.

A ``/api/v2/studies`` page is ``{"studies": [...], "nextPageToken": "...", "totalCount": N}``
(``totalCount`` only on the first page, with ``countTotal=true``; no ``nextPageToken`` on the last
page).  Text fields come in the API's default ``markupFormat=markdown``, which backslash-escapes
punctuation (``\\>=8``); those escapes are removed from the free-text fields kept here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from harvester.errors import ParseError, SourceError
from harvester.ids import normalize_nct, normalize_pmid
from harvester.records import (
    AbstractSection,
    Arm,
    Author,
    Intervention,
    MeshHeading,
    Record,
    Trial,
    TrialOutcome,
)

__all__ = [
    "RAW_FORMAT",
    "REGISTRY_PUBLICATION_TYPE",
    "StudiesPage",
    "parse_studies_page",
    "parse_study",
    "trial_to_record",
]

RAW_FORMAT = "ctgov-v2-json"
# Publication type given to records made from registry entries.  Deliberately *not* a PubMed
# type such as "Clinical Trial Protocol" (a published protocol article) or "Clinical Trial":
# a registration is neither, and design classifiers must be able to tell them apart.
REGISTRY_PUBLICATION_TYPE = "Clinical Trial Registration"
REGISTRY_NAME = "ClinicalTrials.gov"

_MD_ESCAPE = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


@dataclass(slots=True)
class StudiesPage:
    """One page of ``/studies``: parsed trials, the token for the next page, and the total count
    (present only on the first page when ``countTotal=true`` was asked for)."""

    studies: list[Trial] = field(default_factory=list)
    next_page_token: str | None = None
    total_count: int | None = None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objs(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [s for s in (str(v).strip() for v in value if v is not None) if s]


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str:
    """Free text with CommonMark backslash escapes removed (``\\>=`` -> ``>=``)."""
    text = _str(value)
    return _MD_ESCAPE.sub(r"\1", text) if text else ""


def _opt_text(value: Any) -> str | None:
    return _text(value) or None


def _date_of(struct: Any) -> str | None:
    return _str(_obj(struct).get("date"))


def _mesh(module: Any) -> list[MeshHeading]:
    return [MeshHeading(name=str(m["term"]).strip(), ui=_str(m.get("id")))
            for m in _objs(_obj(module).get("meshes")) if _str(m.get("term"))]


def parse_study(study: dict[str, Any] | bytes) -> Trial:
    """One study object (as in ``studies[i]`` or the body of ``/studies/{nctId}``)."""
    if isinstance(study, bytes | bytearray):
        study = _loads(bytes(study))
    if not isinstance(study, dict):
        raise ParseError(f"ClinicalTrials.gov study is a {type(study).__name__}, not an object")
    protocol = _obj(study.get("protocolSection"))
    derived = _obj(study.get("derivedSection"))
    ident = _obj(protocol.get("identificationModule"))
    nct = normalize_nct(_str(ident.get("nctId")))
    if not nct:
        raise ParseError(f"study without a valid nctId: {ident.get('nctId')!r}")

    status = _obj(protocol.get("statusModule"))
    sponsors = _obj(protocol.get("sponsorCollaboratorsModule"))
    description = _obj(protocol.get("descriptionModule"))
    conditions = _obj(protocol.get("conditionsModule"))
    design = _obj(protocol.get("designModule"))
    design_info = _obj(design.get("designInfo"))
    enrollment = _obj(design.get("enrollmentInfo"))
    arms_module = _obj(protocol.get("armsInterventionsModule"))
    outcomes_module = _obj(protocol.get("outcomesModule"))
    references = _obj(protocol.get("referencesModule"))

    interventions = [
        Intervention(
            name=_text(i.get("name")),
            type=_str(i.get("type")),
            description=_opt_text(i.get("description")),
            other_names=_strs(i.get("otherNames")),
            arm_group_labels=_strs(i.get("armGroupLabels")),
        )
        for i in _objs(arms_module.get("interventions")) if _str(i.get("name"))
    ]
    arms = [
        Arm(label=_text(a.get("label")), type=_str(a.get("type")),
            description=_opt_text(a.get("description")),
            interventions=_strs(a.get("interventionNames")))
        for a in _objs(arms_module.get("armGroups")) if _str(a.get("label"))
    ]
    outcomes = [
        TrialOutcome(measure=_text(o.get("measure")), kind=kind,
                     time_frame=_opt_text(o.get("timeFrame")),
                     description=_opt_text(o.get("description")))
        for key, kind in (("primaryOutcomes", "primary"), ("secondaryOutcomes", "secondary"),
                          ("otherOutcomes", "other"))
        for o in _objs(outcomes_module.get(key)) if _str(o.get("measure"))
    ]
    pmids: list[str] = []
    for ref in _objs(references.get("references")):
        pmid = normalize_pmid(_str(ref.get("pmid")))
        if pmid and pmid not in pmids:
            pmids.append(pmid)
    count = enrollment.get("count")

    return Trial(
        nct_id=nct,
        brief_title=_text(ident.get("briefTitle")),
        official_title=_opt_text(ident.get("officialTitle")),
        acronym=_str(ident.get("acronym")),
        brief_summary=_text(description.get("briefSummary")),
        detailed_description=_text(description.get("detailedDescription")),
        overall_status=_str(status.get("overallStatus")),
        why_stopped=_opt_text(status.get("whyStopped")),
        phases=_strs(design.get("phases")),
        study_type=_str(design.get("studyType")),
        conditions=_strs(conditions.get("conditions")),
        condition_mesh=_mesh(derived.get("conditionBrowseModule")),
        intervention_mesh=_mesh(derived.get("interventionBrowseModule")),
        keywords=_strs(conditions.get("keywords")),
        interventions=interventions,
        arms=arms,
        enrollment=count if isinstance(count, int) and not isinstance(count, bool) else None,
        enrollment_type=_str(enrollment.get("type")),
        allocation=_str(design_info.get("allocation")),
        masking=_str(_obj(design_info.get("maskingInfo")).get("masking")),
        primary_purpose=_str(design_info.get("primaryPurpose")),
        outcomes=outcomes,
        start_date=_date_of(status.get("startDateStruct")),
        primary_completion_date=_date_of(status.get("primaryCompletionDateStruct")),
        completion_date=_date_of(status.get("completionDateStruct")),
        first_posted=_date_of(status.get("studyFirstPostDateStruct")),
        last_update_posted=_date_of(status.get("lastUpdatePostDateStruct")),
        sponsor=_str(_obj(sponsors.get("leadSponsor")).get("name")),
        collaborators=[c for c in (_str(x.get("name")) for x in
                                   _objs(sponsors.get("collaborators"))) if c],
        has_results=study.get("hasResults") is True,
        reference_pmids=pmids,
        secondary_ids=[s for s in (_str(x.get("id")) for x in
                                   _objs(ident.get("secondaryIdInfos"))) if s],
        raw=json.dumps(study, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
    )


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"ClinicalTrials.gov response is not valid JSON: {exc}") from exc


_ERROR_KEYS = ("error", "errors", "message", "errorMessage", "detail", "title")


def parse_studies_page(data: bytes) -> StudiesPage:
    """A ``/studies`` response.  ``ParseError`` for malformed JSON or shape, ``SourceError`` for an
    error object instead of ``studies``."""
    payload = _loads(data)
    if not isinstance(payload, dict):
        raise ParseError(f"ClinicalTrials.gov response is a JSON {type(payload).__name__}")
    if "studies" not in payload:
        errors = {k: payload[k] for k in _ERROR_KEYS if k in payload}
        if errors:
            raise SourceError(f"ClinicalTrials.gov error: {json.dumps(errors)[:300]}")
        raise ParseError("ClinicalTrials.gov response has no 'studies' list")
    studies = payload["studies"]
    if not isinstance(studies, list):
        raise ParseError("ClinicalTrials.gov 'studies' is not a list")
    total = payload.get("totalCount")
    return StudiesPage(
        studies=[parse_study(s) for s in studies],
        next_page_token=_str(payload.get("nextPageToken")),
        total_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
    )


def _iso_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value if len(value) == 10 else f"{value[:7]}-01")
    except ValueError:
        return None


def trial_to_record(trial: Trial) -> Record:
    """A registry entry as a :class:`Record` (``source="ctgov"``, key ``nct:NCT...``).

    Title is the brief title (official title as fallback), abstract is brief summary then detailed
    description (unlabelled paragraphs, like ``ctgov-text`` corpus records; each part is a section
    whose ``category`` says which it is), publication type is
    :data:`REGISTRY_PUBLICATION_TYPE`, keywords are conditions plus registry keywords, MeSH is the
    condition and intervention MeSH, the lead sponsor is a collective author, ``journal`` is
    ``"ClinicalTrials.gov"`` and the dates are first posted / last update posted.
    """
    sections = [AbstractSection(text=text, category=category)
                for text, category in ((trial.brief_summary, "BRIEF_SUMMARY"),
                                       (trial.detailed_description, "DETAILED_DESCRIPTION"))
                if text]
    keywords: list[str] = []
    for kw in (*trial.conditions, *trial.keywords):
        if kw not in keywords:
            keywords.append(kw)
    first = _iso_date(trial.first_posted)
    other_ids = {"source_id": f"ctgov:{trial.nct_id}", "nct": trial.nct_id}
    if trial.secondary_ids:
        other_ids["secondary_ids"] = "; ".join(trial.secondary_ids)
    return Record(
        source="ctgov",
        title=trial.brief_title or trial.official_title or "",
        abstract="\n\n".join(s.text for s in sections),
        abstract_sections=sections,
        other_ids=other_ids,
        journal=REGISTRY_NAME,
        pub_year=first.year if first else None,
        pub_date=trial.first_posted,
        authors=[Author(collective_name=trial.sponsor)] if trial.sponsor else [],
        keywords=keywords,
        mesh=[*trial.condition_mesh, *trial.intervention_mesh],
        publication_types=[REGISTRY_PUBLICATION_TYPE],
        nct_ids=[trial.nct_id],
        databanks={REGISTRY_NAME: [trial.nct_id]},
        date_revised=_iso_date(trial.last_update_posted),
        first_published=first,
        raw=trial.raw,
        raw_format=RAW_FORMAT,
    )
