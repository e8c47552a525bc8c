"""The lexicon matcher, the keyword baseline and the lexicon features."""

from __future__ import annotations

import pytest

from kb.tagging import lexicon
from kb.tagging.baseline import FEATURE_NAMES, baseline_predict, lexicon_features
from kb.tagging.features import Doc, clean_text, doc_from_mapping, normalise_title


@pytest.mark.parametrize(("text", "expected"), [
    ("S-ketamine", "esketamine"), ("(S)-ketamine", "esketamine"),
    ("S(+)-ketamine", "esketamine"), ("(R)-(-)-ketamine", "arketamine"),
    ("R-ketamine", "arketamine"), ("i.v. ketamine", "iv ketamine"),
])
def test_normalise(text: str, expected: str) -> None:
    assert lexicon.normalise(text).split() == expected.split()


def _count(text: str, facet: str, label: str) -> int:
    return lexicon.count(text)[lexicon.KEY_INDEX[(facet, label)]]


def test_terms_prefix_multiword_and_numbers() -> None:
    text = ("Treatment-resistant patients with depression: 40 patients received intranasal "
            "esketamine; the MADRS fell. Randomised, double-blind.")
    assert _count(text, "condition", "trd") == 1  # "treatment resistant" across a hyphen
    assert _count(text, "condition", "depression") == 1  # prefix depress*
    assert _count(text, "route", "intranasal") == 1
    assert _count(text, "agent", "esketamine") == 1
    assert _count(text, "agent", "ketamine") == 0  # esketamine is not racemic ketamine
    assert _count(text, "cue", "n_patients") == 1  # "<num> patients"
    assert _count(text, "design", "rct") == 2  # "randomised" and "double blind"


def test_clean_text_keeps_text_of_markup() -> None:
    raw = "<h4>Background</h4> P&lt;0.001 in <i>vivo</i>"
    assert clean_text(raw) == "Background P<0.001 in vivo"
    assert normalise_title("Ketamine: a <i>Review</i>.") == "ketamine a review"


def test_doc_from_mapping_reads_mesh_dicts_and_names() -> None:
    doc = doc_from_mapping({"id": "pmid:1", "title": "T", "abstract": None,
                            "mesh": [{"name": "Ketamine", "ui": "D007649"}, "Humans"],
                            "publication_types": ["Review"], "allocation": "RANDOMIZED"})
    assert doc.mesh == ["Ketamine", "Humans"]
    assert doc.registry == {"allocation": "RANDOMIZED"}
    assert doc.text_only().mesh == [] and doc.text_only().publication_types == []


def test_lexicon_features_contexts() -> None:
    doc = Doc("x", "Ketamine for pain", "Patients had surgery. Intravenous ketamine was given. "
                                        "Oral morphine was used for rescue.")
    row = lexicon_features([doc])[0]
    idx = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert row[idx["title:agent:ketamine"]] == 1
    assert row[idx["abstract:route:intravenous"]] == 1
    assert row[idx["ket_sentences:route:intravenous"]] == 1
    assert row[idx["abstract:route:oral"]] == 1
    assert row[idx["ket_sentences:route:oral"]] == 0  # that sentence does not name ketamine
    assert row[idx["relevance:ket_in_title"]] == 1


def test_baseline_predict() -> None:
    doc = Doc("x", "Intranasal esketamine for treatment-resistant depression: a randomized "
                   "controlled trial", "Esketamine nasal spray reduced MADRS scores. "
                                       "Dissociation was transient.")
    labels, scores = baseline_predict(doc)
    assert labels["relevance"] == "primary"
    assert labels["agent"] == ["esketamine"]
    assert labels["condition"] == ["depression", "trd"]
    assert labels["route"] == ["intranasal"]
    assert "depressive_symptoms" in labels["outcome"] and "dissociation" in labels["outcome"]
    assert labels["design"] == "rct"
    assert 0 < scores["design"]["rct"] <= 1


def test_baseline_incidental_has_no_agent_or_route() -> None:
    labels, _ = baseline_predict(Doc("x", "Statins and cholesterol", "Oral statins lowered LDL."))
    assert labels["relevance"] == "incidental"
    assert labels["agent"] == [] and labels["route"] == []
