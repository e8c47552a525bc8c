"""Metrics on a tiny hand-made case whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from kb.tagging.evaluate import evaluate, format_report, format_summary, headline

GOLD = [
    {"relevance": "primary", "design": "rct", "condition": ["depression", "trd"]},
    {"relevance": "primary", "design": "rct", "condition": ["depression"]},
    {"relevance": "incidental", "design": "other", "condition": []},
    {"relevance": "secondary", "design": "rct", "condition": ["chronic_pain"]},
]
PRED = [
    {"relevance": "primary", "design": "rct", "condition": ["depression"]},
    {"relevance": "secondary", "design": "other", "condition": ["depression", "anxiety"]},
    {"relevance": "incidental", "design": "other", "condition": []},
    {"relevance": "secondary", "design": "rct", "condition": ["chronic_pain"]},
]
SCORES = [{"design": {"rct": 0.9}}, {"design": {"rct": 0.4}}, {"design": {"rct": 0.5}},
          {"design": {"rct": 0.8}}]


@pytest.fixture(scope="module")
def report() -> dict:
    return evaluate(GOLD, PRED, SCORES)


def test_single_label_facet(report: dict) -> None:
    design = report["facets"]["design"]
    assert design["accuracy"] == pytest.approx(0.75)
    assert design["micro_f1"] == pytest.approx(0.75)  # equals accuracy for one label each
    rct = design["labels"]["rct"]
    assert (rct["precision"], rct["recall"], rct["support"]) == (1.0, pytest.approx(2 / 3), 3)
    assert rct["f1"] == pytest.approx(0.8)
    other = design["labels"]["other"]
    assert (other["precision"], other["recall"], other["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    # Macro over the labels used (rct, other): (0.8 + 2/3) / 2.
    assert design["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert report["facets"]["relevance"]["accuracy"] == pytest.approx(0.75)


def test_multi_label_facet(report: dict) -> None:
    cond = report["facets"]["condition"]
    # depression tp 2; trd fn 1; anxiety fp 1; chronic_pain tp 1 -> P = R = 3/4.
    assert cond["micro_f1"] == pytest.approx(0.75)
    assert cond["macro_f1"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert cond["labels"]["trd"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                                     "predicted": 0}
    assert cond["exact_match"] == pytest.approx(0.5)
    # A facet nobody labelled: no labels used, F1 0, exact match 1.
    assert report["facets"]["route"]["exact_match"] == 1.0


def test_rct_roc_auc(report: dict) -> None:
    # rct scores 0.9, 0.4, 0.8 against the one negative at 0.5: 2 of 3 pairs ordered.
    assert report["rct_auc"] == pytest.approx(2 / 3)
    assert headline(report)["rct_auc"] == pytest.approx(2 / 3)
    assert evaluate(GOLD, PRED)["rct_auc"] is None


def test_rendering(report: dict) -> None:
    text = format_report(report)
    assert "design (single): micro-F1 0.750" in text and "RCT-vs-rest ROC AUC: 0.667" in text
    table = format_summary({"model": report, "baseline": report})
    assert "relevance accuracy" in table and table.count("\n") == 8


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="length"):
        evaluate(GOLD, PRED[:2])
