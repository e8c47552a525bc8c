"""Training data assembly, de-duplication against gold, hashing, cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.tagging import train
from kb.tagging.model import TaggerModel

GOLD_SMALL = Path(__file__).resolve().parents[2] / "data" / "tagging" / "gold_small.jsonl"


def test_load_gold_validates_labels(tmp_path: Path) -> None:
    gold = train.load_gold(GOLD_SMALL)
    assert len(gold) == 14 and all(e.kind == "gold" and e.weight == 1.0 for e in gold)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "title": "t", "abstract": "a",
                               "labels": {"design": "cohort"}}) + "\n")
    with pytest.raises(train.TrainingDataError, match=r"bad\.jsonl:1"):
        train.load_gold(bad)


def test_weak_targets() -> None:
    assert train.weak_targets({"title": "Ketamine review", "abstract": "",
                               "publication_types": ["Systematic Review"]}) == {
        "design": "systematic_review_meta_analysis"}
    assert train.weak_targets({"title": "Statins", "abstract": "LDL fell."}) == {
        "relevance": "incidental", "agent": [], "route": []}
    assert train.weak_targets({"title": "Ketamine", "abstract": "x"}) == {}


def test_load_weak_drops_gold_records_under_other_ids(tmp_path: Path) -> None:
    gold = train.load_gold(GOLD_SMALL)
    first = gold[0].doc
    rows = [
        {"id": "doi:10.1/same-paper", "title": first.title.upper() + " ", "abstract": "x",
         "publication_types": ["Randomized Controlled Trial"]},  # the gold record again
        {"id": first.id, "title": "Other title", "abstract": "y",
         "publication_types": ["Review"]},  # same id
        {"id": "pmid:1", "title": "Statins and LDL", "abstract": "LDL fell."},
        {"id": "pmid:2", "title": "Statins and LDL.", "abstract": "dup of pmid:1"},
    ]
    (tmp_path / "ketamine_europepmc.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    weak = train.load_weak(tmp_path, exclude=[e.doc for e in gold],
                           sources={"ketamine_europepmc.jsonl": 100})
    assert [e.key for e in weak] == ["pmid:1"] or [e.key for e in weak] == ["pmid:2"]
    assert weak[0].kind == "weak" and weak[0].weight == train.WEAK_WEIGHT
    with pytest.raises(train.TrainingDataError, match="missing"):
        train.load_weak(tmp_path, sources={"nope.jsonl": 1})


def test_data_hash_is_stable_and_sensitive() -> None:
    gold = train.load_gold(GOLD_SMALL)
    h = train.data_hash(gold)
    assert h == train.data_hash(list(reversed(gold)))
    gold[0].targets["design"] = "other"
    assert train.data_hash(gold) != h


def test_metadata_dropout_keeps_weak_set_size() -> None:
    gold = train.load_gold(GOLD_SMALL)
    with_meta = [e for e in gold if e.doc.publication_types]
    out = train.with_metadata_dropout(gold)
    assert len(out) == len(gold) + len(with_meta)
    assert sum(e.weight for e in out) == pytest.approx(len(gold))


def test_cross_validate_and_overlap() -> None:
    gold = train.load_gold(GOLD_SMALL)
    res = train.cross_validate(gold, k=2, make_model=lambda: TaggerModel(inner_folds=2))
    assert res.folds == 2 and len(res.predictions) == 14
    summary = res.summary()
    assert set(summary) == {"folds", "n", "text_only", "with_metadata", "baseline"}
    assert 0.0 <= summary["text_only"]["relevance"] <= 1.0
    model = train.train(gold[:7], model=TaggerModel(inner_folds=2))
    assert set(train.overlap_with_training(model, [e.doc for e in gold])) == {
        e.key for e in gold[:7]}
