"""Combining metadata, model and human tags into effective tags."""

from __future__ import annotations

from kb.tagging.combine import TagValue, as_labels, combine_labels, effective_tags
from kb.taxonomy import FACET_NAMES


def model(facet: str, label: str, p: float = 0.8) -> TagValue:
    return TagValue(facet, label, "model", p)


def meta(facet: str, label: str) -> TagValue:
    return TagValue(facet, label, "metadata")


def human(facet: str, label: str, negative: bool = False) -> TagValue:
    return TagValue(facet, label, "human", None, negative)


BASE = [model("relevance", "primary", 0.9), model("agent", "ketamine", 0.9),
        model("condition", "depression", 0.7), model("route", "intravenous", 0.6),
        model("design", "observational", 0.5)]


def labels(tags: list[TagValue]) -> dict[str, object]:
    return as_labels(effective_tags(tags))


def test_every_facet_present_and_single_facets_have_one_label() -> None:
    out = labels([])
    assert list(out) == list(FACET_NAMES)
    assert out["relevance"] == "incidental" and out["design"] == "other"
    assert out["agent"] == [] and out["route"] == []


def test_metadata_design_wins_over_model_and_multi_facets_are_unions() -> None:
    eff = effective_tags([*BASE, meta("design", "rct"), meta("condition", "trd")])
    by = {(e.facet, e.label): e for e in eff}
    assert ("design", "rct") in by and ("design", "observational") not in by
    assert by[("design", "rct")].origin == "metadata"
    assert by[("condition", "depression")].origin == "model"
    assert by[("condition", "depression")].probability == 0.7
    assert by[("condition", "trd")].origin == "metadata"


def test_human_wins_over_everything() -> None:
    out = labels([*BASE, meta("design", "rct"), human("design", "case_report_series"),
                  human("condition", "ptsd")])
    assert out["design"] == "case_report_series"
    assert out["condition"] == ["ptsd"]  # the person chose the facet's labels
    eff = {(e.facet, e.label): e for e in effective_tags([*BASE, human("route", "oral")])}
    assert eff[("route", "oral")].origin == "human" and eff[("route", "oral")].probability == 1.0


def test_human_negative_removes_model_and_metadata_labels() -> None:
    out = labels([*BASE, meta("condition", "trd"), human("condition", "trd", negative=True),
                  human("route", "intravenous", negative=True)])
    assert out["condition"] == ["depression"]
    assert out["route"] == []


def test_human_negative_on_single_facet_falls_back() -> None:
    out = labels([*BASE, human("design", "observational", negative=True)])
    assert out["design"] == "other"


def test_incidental_empties_agent_and_route_unless_human_set_them() -> None:
    tags = [model("relevance", "incidental"), model("agent", "ketamine"),
            model("route", "oral")]
    assert labels(tags)["agent"] == [] and labels(tags)["route"] == []
    out = labels([*tags, human("agent", "esketamine")])
    assert out["agent"] == ["esketamine"]
    # A person says it is relevant after all: the model's stored agent comes back.
    assert labels([*tags, human("relevance", "primary")])["agent"] == ["ketamine"]


def test_relevant_record_gets_an_agent() -> None:
    tags = [model("relevance", "secondary"), model("agent", "esketamine", 0.3)]
    assert labels(tags)["agent"] == ["esketamine"]


def test_combine_labels_with_metadata() -> None:
    out = combine_labels({"relevance": "primary", "agent": ["ketamine"], "design": "other",
                          "condition": [], "route": [], "outcome": []},
                         {"design": {"other": 0.4}}, {"design": ["rct"]})
    assert out["design"] == "rct" and out["agent"] == ["ketamine"]
