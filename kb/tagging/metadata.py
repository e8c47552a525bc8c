"""Tags that a source states: MeSH headings, publication types, ClinicalTrials.gov fields.

The tables below are the whole mapping; each maps a source's exact term to labels of the
taxonomy. Matching is case-insensitive on the whole term. Rules:

- MeSH can only state conditions and routes of administration, and animal studies; a MeSH
  route heading (``Administration, Intranasal``) counts only when the record is about
  ketamine (ketamine, esketamine or a metabolite in its MeSH or text): in a record about
  another drug it describes that drug.
- Publication types state the design. When several apply, the most specific wins (the order
  of ``DESIGN_PRIORITY``): a ``Systematic Review`` that is also a ``Review`` is a systematic
  review; an ``Editorial`` about an RCT is ``other`` only when nothing more specific applies.
  The generic ``Clinical Trial`` alone means a trial whose randomisation is not stated.
- ClinicalTrials.gov: allocation ``RANDOMIZED`` -> ``rct``, ``NON_RANDOMIZED`` or a
  single-group model -> ``nonrandomized_trial``, study type ``OBSERVATIONAL`` ->
  ``observational``. A registry entry describes a trial, so its design is the trial's design,
  not ``protocol`` (``protocol`` is for published protocols). Conditions and intervention
  names are mapped with the MeSH tables and the route words of intervention names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kb.taxonomy import order_labels

# MeSH descriptor -> (facet, label) pairs. Descendants are listed explicitly.
MESH_CONDITIONS: dict[str, tuple[str, ...]] = {
    "Depression": ("depression",),
    "Depressive Disorder": ("depression",),
    "Depressive Disorder, Major": ("depression",),
    "Depressive Disorder, Treatment-Resistant": ("depression", "trd"),
    "Dysthymic Disorder": ("depression",),
    "Depression, Postpartum": ("depression", "perinatal_depression"),
    "Bipolar Disorder": ("bipolar",),
    "Bipolar and Related Disorders": ("bipolar",),
    "Suicidal Ideation": ("suicidality",),
    "Suicide": ("suicidality",),
    "Suicide, Attempted": ("suicidality",),
    "Stress Disorders, Post-Traumatic": ("ptsd",),
    "Anxiety": ("anxiety",),
    "Anxiety Disorders": ("anxiety",),
    "Panic Disorder": ("anxiety",),
    "Obsessive-Compulsive Disorder": ("ocd",),
    "Substance-Related Disorders": ("substance_use",),
    "Alcoholism": ("substance_use",),
    "Opioid-Related Disorders": ("substance_use",),
    "Cocaine-Related Disorders": ("substance_use",),
    "Amphetamine-Related Disorders": ("substance_use",),
    "Marijuana Abuse": ("substance_use",),
    "Substance Withdrawal Syndrome": ("substance_use",),
    "Chronic Pain": ("chronic_pain",),
    "Neuralgia": ("chronic_pain",),
    "Neuralgia, Postherpetic": ("chronic_pain",),
    "Complex Regional Pain Syndromes": ("chronic_pain",),
    "Reflex Sympathetic Dystrophy": ("chronic_pain",),
    "Fibromyalgia": ("chronic_pain",),
    "Migraine Disorders": ("chronic_pain",),
    "Headache": ("chronic_pain",),
    "Headache Disorders": ("chronic_pain",),
    "Cancer Pain": ("chronic_pain",),
    "Phantom Limb": ("chronic_pain",),
    "Diabetic Neuropathies": ("chronic_pain",),
    "Pain, Intractable": ("chronic_pain",),
    "Pain, Postoperative": ("acute_pain",),
    "Acute Pain": ("acute_pain",),
    "Pain, Procedural": ("acute_pain",),
    "Renal Colic": ("acute_pain",),
    "Anesthesia": ("anesthesia_sedation",),
    "Anesthesia, General": ("anesthesia_sedation",),
    "Anesthesia, Intravenous": ("anesthesia_sedation",),
    "Anesthesia, Dissociative": ("anesthesia_sedation",),
    "Conscious Sedation": ("anesthesia_sedation",),
    "Deep Sedation": ("anesthesia_sedation",),
    "Intubation, Intratracheal": ("anesthesia_sedation",),
    "Delirium": ("neurocognitive",),
    "Emergence Delirium": ("neurocognitive",),
    "Postoperative Cognitive Complications": ("neurocognitive",),
    "Cognitive Dysfunction": ("neurocognitive",),
    "Dementia": ("neurocognitive",),
    "Alzheimer Disease": ("neurocognitive",),
    "Schizophrenia": ("other",),
    "Autistic Disorder": ("other",),
    "Autism Spectrum Disorder": ("other",),
    "Epilepsy": ("other",),
    "Status Epilepticus": ("other",),
    "Asthma": ("other",),
    "Status Asthmaticus": ("other",),
    "Sleep Initiation and Maintenance Disorders": ("other",),
}

# Route MeSH headings (used only for records about ketamine, see the module docstring).
MESH_ROUTES: dict[str, tuple[str, ...]] = {
    "Administration, Intravenous": ("intravenous",),
    "Infusions, Intravenous": ("intravenous",),
    "Injections, Intravenous": ("intravenous",),
    "Administration, Intranasal": ("intranasal",),
    "Nasal Sprays": ("intranasal",),
    "Injections, Intramuscular": ("intramuscular",),
    "Injections, Subcutaneous": ("subcutaneous",),
    "Infusions, Subcutaneous": ("subcutaneous",),
    "Administration, Oral": ("oral",),
    "Administration, Sublingual": ("sublingual_buccal",),
    "Administration, Buccal": ("sublingual_buccal",),
    "Injections, Epidural": ("other_route",),
    "Injections, Spinal": ("other_route",),
    "Administration, Rectal": ("other_route",),
    "Administration, Inhalation": ("other_route",),
    "Administration, Topical": ("other_route",),
    "Administration, Cutaneous": ("other_route",),
}

MESH_AGENTS: dict[str, tuple[str, ...]] = {
    "Ketamine": ("ketamine",),
    "Esketamine": ("esketamine",),
}

# Publication type -> design label.
PUBLICATION_TYPE_DESIGN: dict[str, str] = {
    "Systematic Review": "systematic_review_meta_analysis",
    "Meta-Analysis": "systematic_review_meta_analysis",
    "Network Meta-Analysis": "systematic_review_meta_analysis",
    "Clinical Trial Protocol": "protocol",
    "Practice Guideline": "guideline_consensus",
    "Guideline": "guideline_consensus",
    "Consensus Development Conference": "guideline_consensus",
    "Consensus Development Conference, NIH": "guideline_consensus",
    "Consensus Statement": "guideline_consensus",
    "Randomized Controlled Trial": "rct",
    "Randomized Controlled Trial, Veterinary": "preclinical",
    "Equivalence Trial": "rct",
    "Pragmatic Clinical Trial": "rct",
    "Controlled Clinical Trial": "nonrandomized_trial",
    "Clinical Trial, Phase I": "nonrandomized_trial",
    "Clinical Trial, Phase II": "nonrandomized_trial",
    "Clinical Trial, Phase III": "nonrandomized_trial",
    "Clinical Trial, Phase IV": "nonrandomized_trial",
    "Clinical Trial": "nonrandomized_trial",
    "Case Reports": "case_report_series",
    "Observational Study": "observational",
    "Observational Study, Veterinary": "preclinical",
    "Review": "narrative_review",
    "Scoping Review": "narrative_review",
    "Editorial": "other",
    "Comment": "other",
    "Letter": "other",
    "News": "other",
    "Published Erratum": "other",
    "Retraction of Publication": "other",
    "Expression of Concern": "other",
    "Historical Article": "other",
}

# When several publication types give a design, the first in this order wins.
DESIGN_PRIORITY: tuple[str, ...] = (
    "protocol", "systematic_review_meta_analysis", "guideline_consensus", "rct",
    "preclinical", "case_report_series", "observational", "nonrandomized_trial",
    "narrative_review", "other",
)

# Designs that a publication type states reliably enough to act as a tag on its own
# (``Review`` covers many systematic reviews, ``Clinical Trial`` many RCTs; those two are
# left to the classifier, which sees the publication type as a feature).
CONFIDENT_DESIGNS = frozenset({"protocol", "systematic_review_meta_analysis",
                               "guideline_consensus", "rct", "case_report_series"})

# MeSH check tags and headings that state an animal / in-vitro study.
MESH_PRECLINICAL = frozenset({"Animals", "Rats", "Mice", "Rats, Sprague-Dawley", "Rats, Wistar",
                              "Mice, Inbred C57BL", "Disease Models, Animal", "Dogs",
                              "Rabbits", "In Vitro Techniques", "Cells, Cultured"})

# ClinicalTrials.gov API v2 enumerations.
CTGOV_ALLOCATION: dict[str, str] = {
    "RANDOMIZED": "rct",
    "NON_RANDOMIZED": "nonrandomized_trial",
    "NA": "nonrandomized_trial",  # single-group studies
}
CTGOV_STUDY_TYPE: dict[str, str] = {
    "OBSERVATIONAL": "observational",
    "EXPANDED_ACCESS": "other",
}

_ROUTE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.I), label) for p, label in (
        (r"\bintravenous|\bIV\b|infusion", "intravenous"),
        (r"intranasal|nasal spray", "intranasal"),
        (r"intramuscular|\bIM\b", "intramuscular"),
        (r"subcutaneous", "subcutaneous"),
        (r"\boral\b|tablet|capsule", "oral"),
        (r"sublingual|buccal|lozenge|troche", "sublingual_buccal"),
        (r"epidural|intrathecal|rectal|inhal|nebuli|topical|infiltration", "other_route"),
    ))
_KETAMINE = re.compile(r"ketamine|\bspravato\b", re.I)


def _lower_table(table: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in table.items()}


_CONDITIONS = _lower_table(MESH_CONDITIONS)
_ROUTES = _lower_table(MESH_ROUTES)
_AGENTS = _lower_table(MESH_AGENTS)
_PUBTYPES = _lower_table(PUBLICATION_TYPE_DESIGN)
_PRECLINICAL = {m.lower() for m in MESH_PRECLINICAL}


def _names(items: Iterable[Any] | None) -> list[str]:
    out = []
    for item in items or ():
        name = item.get("name") if isinstance(item, Mapping) else item
        if name:
            out.append(str(name).strip())
    return out


def design_from_publication_types(publication_types: Iterable[str] | None) -> str | None:
    """The design the publication types state (the most specific one), or ``None``."""
    designs = {_PUBTYPES[p.lower()] for p in _names(publication_types) if p.lower() in _PUBTYPES}
    for design in DESIGN_PRIORITY:
        if design in designs:
            return design
    return None


def metadata_labels(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """Labels a record's metadata states, ``{facet: [labels]}`` (facets with none omitted).

    ``record`` is a JSON-like record: ``mesh`` (names or ``{"name": ...}``),
    ``publication_types``, ``title``/``abstract`` (only to tell whether ketamine is the
    subject), and ClinicalTrials.gov fields ``allocation``, ``study_type``, ``phases``,
    ``conditions``, ``interventions`` (names or ``{"name": ...}``) when present.
    Single-label facets (design) get at most one label.
    """
    mesh = [m.lower() for m in _names(record.get("mesh"))]
    out: dict[str, set[str]] = {}

    def add(facet: str, labels: Iterable[str]) -> None:
        out.setdefault(facet, set()).update(labels)

    for m in mesh:
        if m in _CONDITIONS:
            add("condition", _CONDITIONS[m])
        if m in _AGENTS:
            add("agent", _AGENTS[m])
    conditions = _names(record.get("conditions"))
    for c in conditions:
        if c.lower() in _CONDITIONS:
            add("condition", _CONDITIONS[c.lower()])
    interventions = _names(record.get("interventions"))
    about_ketamine = bool(out.get("agent")) or any(_KETAMINE.search(x) for x in interventions)
    if not about_ketamine:
        text = f"{record.get('title') or ''} {record.get('abstract') or ''}".lower()
        about_ketamine = "ketamine" in text or "spravato" in text
    if about_ketamine:
        for m in mesh:
            if m in _ROUTES:
                add("route", _ROUTES[m])
        for name in interventions:
            if _KETAMINE.search(name):
                add("route", [label for rx, label in _ROUTE_WORDS if rx.search(name)])
                add("agent", ["esketamine"] if re.search(r"esketamine|spravato", name, re.I)
                    else ["arketamine"] if re.search(r"arketamine", name, re.I)
                    else ["ketamine"])
    design = design_from_publication_types(record.get("publication_types"))
    if design is None:
        allocation = str(record.get("allocation") or "").upper()
        study_type = str(record.get("study_type") or "").upper()
        if study_type in CTGOV_STUDY_TYPE:
            design = CTGOV_STUDY_TYPE[study_type]
        elif allocation in CTGOV_ALLOCATION:
            design = CTGOV_ALLOCATION[allocation]
    if design is None and mesh and any(m in _PRECLINICAL for m in mesh) and "humans" not in mesh:
        design = "preclinical"
    if design is not None:
        add("design", [design])
    return {facet: order_labels(facet, labels) for facet, labels in out.items() if labels}


def confident_metadata_labels(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """The subset of :func:`metadata_labels` trusted as tags without the classifier.

    Designs stated by publication types outside ``CONFIDENT_DESIGNS`` (``Review``, a bare
    ``Clinical Trial``...) are left to the classifier, which sees the publication types as
    features; designs stated by registry fields (allocation, study type) or by MeSH check
    tags (``Animals`` without ``Humans``) are kept.
    """
    labels = metadata_labels(record)
    if ("design" in labels and labels["design"][0] not in CONFIDENT_DESIGNS
            and design_from_publication_types(record.get("publication_types")) is not None):
        del labels["design"]
    return labels
