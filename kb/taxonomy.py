"""The evidence taxonomy (version 1): six facets, their labels, descriptions and display order.

This module is the single source of truth in code for ``../shared/TAXONOMY.md``; a test parses
that file and asserts that facets, labels and their order here are exactly the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TAXONOMY_VERSION = 1


@dataclass(frozen=True, slots=True)
class Label:
    """One label of a facet: the exact string stored, and what it means."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Facet:
    """A facet: ``multi`` facets carry zero or more labels, single ones exactly one."""

    name: str
    multi: bool
    description: str
    labels: tuple[Label, ...]

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(lab.name for lab in self.labels)

    def describe(self, label: str) -> str:
        for lab in self.labels:
            if lab.name == label:
                return lab.description
        raise KeyError(f"{self.name}: unknown label {label!r}")


def _facet(name: str, multi: bool, description: str, *labels: tuple[str, str]) -> Facet:
    return Facet(name, multi, description, tuple(Label(n, d) for n, d in labels))


FACETS: tuple[Facet, ...] = (
    _facet(
        "relevance", False, "How central ketamine (any form) is to the record.",
        ("primary", "ketamine, esketamine, arketamine or a ketamine metabolite is the studied "
                    "intervention or exposure, or the main subject of a review."),
        ("secondary", "ketamine is a comparator, a co-intervention, one arm among several, or "
                      "one treatment among several that a review covers."),
        ("incidental", "ketamine is mentioned only in passing (e.g. as the anaesthetic for an "
                       "animal procedure, in background text) or not at all."),
    ),
    _facet(
        "agent", True, "Which form of the drug is studied. Empty when relevance is `incidental`.",
        ("ketamine", 'racemic ketamine, or "ketamine" without an enantiomer named.'),
        ("esketamine", "S-ketamine / esketamine (incl. the nasal spray)."),
        ("arketamine", "R-ketamine / arketamine."),
        ("metabolite", "norketamine, hydroxynorketamine (HNK) and other metabolites."),
    ),
    _facet(
        "condition", True,
        "The clinical condition or indication the record studies (not conditions merely listed "
        "as exclusions).",
        ("depression", "any unipolar depressive disorder or depressive symptoms as the target "
                       "(includes TRD and perinatal depression; add the more specific label "
                       "too)."),
        ("trd", "depression explicitly described as treatment-resistant / refractory."),
        ("perinatal_depression", "postpartum, peripartum or antenatal depression (incl. "
                                 "prevention of postpartum depression)."),
        ("bipolar", "bipolar disorder, bipolar depression."),
        ("suicidality", "suicidal ideation or behaviour as a target or main focus."),
        ("ptsd", "post-traumatic stress disorder."),
        ("anxiety", "anxiety disorders or anxiety as the target (incl. pre-operative anxiety)."),
        ("ocd", "obsessive-compulsive disorder."),
        ("substance_use", "substance use disorders (alcohol, opioids, cocaine, ...) as the "
                          "target, or recreational/illicit ketamine use."),
        ("chronic_pain", "chronic, neuropathic, cancer pain, CRPS, fibromyalgia, "
                         "headache/migraine."),
        ("acute_pain", "post-operative, trauma, emergency or procedural pain; analgesia after "
                       "surgery."),
        ("anesthesia_sedation", "anaesthesia induction/maintenance, procedural or ICU sedation, "
                                "intubation."),
        ("neurocognitive", "post-operative delirium, post-operative cognitive dysfunction, "
                           "dementia, cognition as the target condition."),
        ("other", "any other condition (schizophrenia, autism, epilepsy, asthma, healthy "
                  "volunteers, ...)."),
    ),
    _facet(
        "route", True,
        "How ketamine was given in the study (or the routes a review explicitly focuses on). "
        "Empty when not stated.",
        ("intravenous", "IV infusion or bolus."),
        ("intranasal", "nasal spray, intranasal."),
        ("intramuscular", ""),
        ("subcutaneous", ""),
        ("oral", "oral solution, tablets, capsules."),
        ("sublingual_buccal", "sublingual, buccal, lozenge, troche, orally dissolving."),
        ("other_route", "epidural, intrathecal, rectal, inhaled/nebulised, topical, wound "
                        "infiltration."),
    ),
    _facet(
        "outcome", True, 'The outcome domains the record measures or reports (PICO "O").',
        ("depressive_symptoms", "depression severity scales (MADRS, HAM-D, BDI, QIDS, EPDS ...)."),
        ("response_remission", "response or remission rates."),
        ("relapse_maintenance", "relapse, maintenance, durability or time to relapse."),
        ("suicidality_outcome", "suicidal ideation or behaviour measured (SSI, C-SSRS, "
                                "MADRS-SI ...)."),
        ("anxiety_ptsd_ocd_symptoms", "anxiety, PTSD or OCD symptom scales."),
        ("pain_outcome", "pain intensity, analgesia, opioid consumption."),
        ("safety_tolerability", "adverse events, side effects, tolerability, safety of any kind."),
        ("dissociation", "dissociative or psychotomimetic effects (CADSS, BPRS positive, "
                         "hallucinations, emergence reactions)."),
        ("cognition", "cognitive or neuropsychological outcomes, delirium."),
        ("misuse_dependence", "abuse, dependence, misuse, diversion, craving."),
        ("quality_of_life_function", "quality of life, functioning, disability, work."),
        ("biomarker_mechanism", "imaging, EEG, blood or molecular biomarkers, mechanistic "
                                "measures."),
    ),
    _facet(
        "design", False, "The study design, i.e. the level of evidence.",
        ("systematic_review_meta_analysis", "systematic reviews, meta-analyses (incl. "
                                            "individual-patient-data and network "
                                            "meta-analyses)."),
        ("rct", "randomised controlled trials, incl. crossover RCTs and secondary / post-hoc / "
                "pooled analyses of RCT data."),
        ("nonrandomized_trial", "open-label, single-arm or non-randomised interventional "
                                "trials."),
        ("observational", "cohort, case-control, cross-sectional, registry, chart review, "
                          "real-world and survey studies."),
        ("case_report_series", "case reports and case series."),
        ("narrative_review", "non-systematic reviews, overviews, perspectives that synthesise "
                             "literature."),
        ("protocol", "study or review protocols without results."),
        ("preclinical", "animal or in-vitro studies."),
        ("guideline_consensus", "guidelines, consensus and position statements."),
        ("other", "editorials, letters, comments, qualitative studies, economic models and "
                  "anything else."),
    ),
)

FACET_BY_NAME: dict[str, Facet] = {f.name: f for f in FACETS}
FACET_NAMES: tuple[str, ...] = tuple(f.name for f in FACETS)
SINGLE_FACETS: tuple[str, ...] = tuple(f.name for f in FACETS if not f.multi)
MULTI_FACETS: tuple[str, ...] = tuple(f.name for f in FACETS if f.multi)

# Labels a single-label facet falls back to when nothing else is known.
DEFAULTS: dict[str, str] = {"relevance": "incidental", "design": "other"}

Labels = dict[str, Any]  # facet -> label (single) or list of labels (multi)


class TaxonomyError(ValueError):
    """A facet or label that the taxonomy does not define."""


def facet(name: str) -> Facet:
    """The facet called ``name``; raises :class:`TaxonomyError` when there is none."""
    try:
        return FACET_BY_NAME[name]
    except KeyError:
        raise TaxonomyError(f"unknown facet {name!r} (facets: {', '.join(FACET_NAMES)})") from None


def check_label(facet_name: str, label: str) -> None:
    """Raise :class:`TaxonomyError` unless ``label`` belongs to ``facet_name``."""
    f = facet(facet_name)
    if label not in f.label_names:
        raise TaxonomyError(f"{facet_name}: unknown label {label!r} "
                            f"(labels: {', '.join(f.label_names)})")


_LABEL_NAMES: dict[str, tuple[str, ...]] = {f.name: f.label_names for f in FACETS}


def order_labels(facet_name: str, labels: Iterable[str]) -> list[str]:
    """``labels`` without duplicates, in the facet's display order."""
    wanted = set(labels)
    names = _LABEL_NAMES.get(facet_name) or facet(facet_name).label_names
    return [name for name in names if name in wanted]


def normalise_labels(labels: Mapping[str, Any]) -> Labels:
    """Validate a ``{facet: label or [labels]}`` mapping and fill every facet.

    Single facets become a string, multi facets an ordered list. Missing single facets get
    their default; unknown facets or labels raise :class:`TaxonomyError`.
    """
    for name in labels:
        facet(name)
    out: Labels = {}
    for f in FACETS:
        value = labels.get(f.name)
        if f.multi:
            items: Sequence[str] = ([] if value is None else [value] if isinstance(value, str)
                                    else list(value))
            for lab in items:
                check_label(f.name, lab)
            out[f.name] = order_labels(f.name, items)
        else:
            if isinstance(value, list | tuple):
                if len(value) != 1:
                    raise TaxonomyError(f"{f.name}: exactly one label expected, got {value!r}")
                value = value[0]
            value = value or DEFAULTS[f.name]
            check_label(f.name, value)
            out[f.name] = value
    return out


def as_set(labels: Mapping[str, Any], facet_name: str) -> set[str]:
    """The labels of ``facet_name`` in ``labels`` as a set (single facets give one element)."""
    value = labels.get(facet_name)
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return set(value)
