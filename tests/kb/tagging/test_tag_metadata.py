"""Metadata rules: MeSH, publication types and ClinicalTrials.gov fields -> labels."""

from __future__ import annotations

import pytest

from kb.tagging.metadata import (
    MESH_CONDITIONS,
    MESH_ROUTES,
    PUBLICATION_TYPE_DESIGN,
    confident_metadata_labels,
    design_from_publication_types,
    metadata_labels,
)
from kb.taxonomy import FACET_BY_NAME

KETAMINE = {"title": "Ketamine in depression", "abstract": ""}


def test_tables_only_name_taxonomy_labels() -> None:
    for labels in MESH_CONDITIONS.values():
        assert set(labels) <= set(FACET_BY_NAME["condition"].label_names)
    for labels in MESH_ROUTES.values():
        assert set(labels) <= set(FACET_BY_NAME["route"].label_names)
    assert set(PUBLICATION_TYPE_DESIGN.values()) <= set(FACET_BY_NAME["design"].label_names)


@pytest.mark.parametrize(("pubtypes", "design"), [
    (["Journal Article", "Randomized Controlled Trial"], "rct"),
    (["Review", "Systematic Review"], "systematic_review_meta_analysis"),
    (["Meta-Analysis", "Review"], "systematic_review_meta_analysis"),
    (["Review"], "narrative_review"),
    (["Case Reports"], "case_report_series"),
    (["Clinical Trial Protocol", "Randomized Controlled Trial"], "protocol"),
    (["Editorial"], "other"),
    (["Practice Guideline"], "guideline_consensus"),
    (["Journal Article"], None),
    ([], None),
])
def test_design_from_publication_types(pubtypes: list[str], design: str | None) -> None:
    assert design_from_publication_types(pubtypes) == design


def test_mesh_trd_gives_trd_and_depression() -> None:
    labels = metadata_labels({**KETAMINE, "mesh": [
        {"name": "Depressive Disorder, Treatment-Resistant"}]})
    assert labels["condition"] == ["depression", "trd"]


def test_mesh_route_only_for_ketamine_records() -> None:
    mesh = [{"name": "Administration, Intranasal"}, {"name": "Esketamine"}]
    assert metadata_labels({"title": "x", "mesh": mesh})["route"] == ["intranasal"]
    other_drug = metadata_labels({"title": "Sumatriptan nasal spray", "abstract": "",
                                  "mesh": ["Administration, Intranasal", "Migraine Disorders"]})
    assert "route" not in other_drug
    assert other_drug["condition"] == ["chronic_pain"]


def test_mesh_names_are_case_insensitive() -> None:
    assert metadata_labels({**KETAMINE, "mesh": ["pain, postoperative"]})["condition"] == [
        "acute_pain"]


def test_ctgov_fields() -> None:
    rec = {"title": "Ketamine for TRD", "allocation": "RANDOMIZED",
           "conditions": ["Depressive Disorder, Treatment-Resistant"],
           "interventions": [{"name": "Ketamine intravenous infusion"}, {"name": "Midazolam"}]}
    labels = metadata_labels(rec)
    assert labels["design"] == ["rct"]
    assert labels["condition"] == ["depression", "trd"]
    assert labels["route"] == ["intravenous"]
    assert labels["agent"] == ["ketamine"]
    assert metadata_labels({"title": "x", "study_type": "OBSERVATIONAL"})["design"] == [
        "observational"]
    assert metadata_labels({"title": "x", "allocation": "NA"})["design"] == [
        "nonrandomized_trial"]


def test_animal_mesh_means_preclinical_unless_humans() -> None:
    assert metadata_labels({"title": "x", "mesh": ["Animals", "Rats"]})["design"] == [
        "preclinical"]
    assert "design" not in metadata_labels({"title": "x", "mesh": ["Animals", "Humans"]})


def test_confident_subset_drops_review_and_bare_clinical_trial() -> None:
    assert "design" not in confident_metadata_labels({"publication_types": ["Review"]})
    assert "design" not in confident_metadata_labels({"publication_types": ["Clinical Trial"]})
    assert confident_metadata_labels({"publication_types": ["Randomized Controlled Trial"]}) == {
        "design": ["rct"]}


def test_registry_designs_are_confident() -> None:
    assert confident_metadata_labels({"title": "x", "allocation": "NON_RANDOMIZED"}) == {
        "design": ["nonrandomized_trial"]}
    assert confident_metadata_labels({"title": "x", "study_type": "OBSERVATIONAL"}) == {
        "design": ["observational"]}
