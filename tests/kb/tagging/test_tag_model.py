"""The classifier: fit, predict, persistence and its metadata; the shipped model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from kb.tagging import train
from kb.tagging.features import Doc
from kb.tagging.model import DEFAULT_MODEL_DIR, META_FILE, MODEL_FILE, TaggerModel
from kb.taxonomy import FACET_BY_NAME, FACETS

GOLD_SMALL = Path(__file__).resolve().parents[2] / "data" / "tagging" / "gold_small.jsonl"
VERSION = re.compile(r"^tfidf-linear-\d{8}-[0-9a-f]{8}$")


@pytest.fixture(scope="module")
def tiny() -> TaggerModel:
    examples = train.load_gold(GOLD_SMALL)
    return train.train(examples, model=TaggerModel(inner_folds=2))


def test_predict_has_every_facet(tiny: TaggerModel) -> None:
    docs = [Doc("a", "Intranasal esketamine for treatment-resistant depression",
                "A randomised placebo-controlled trial of esketamine nasal spray."),
            Doc("b", "", "")]
    labels, scores = tiny.predict(docs)
    for lab, sc in zip(labels, scores, strict=True):
        assert list(lab) == [f.name for f in FACETS]
        for f in FACETS:
            assert set(sc[f.name]) == set(f.label_names)
            assert all(0.0 <= p <= 1.0 for p in sc[f.name].values())
            if f.multi:
                assert isinstance(lab[f.name], list)
            else:
                assert lab[f.name] in f.label_names
                assert sum(sc[f.name].values()) == pytest.approx(1.0, abs=1e-3)
    proba = tiny.predict_proba(docs)
    assert proba["condition"].shape == (2, len(FACET_BY_NAME["condition"].labels))


def test_save_load_round_trip(tiny: TaggerModel, tmp_path: Path) -> None:
    tiny.save(tmp_path)
    assert (tmp_path / MODEL_FILE).is_file()
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert VERSION.match(meta["version"])
    assert meta["labels"]["design"]["labels"] == list(FACET_BY_NAME["design"].label_names)
    assert meta["labels"]["agent"]["multi"] is True
    assert {"scikit-learn", "numpy", "scipy", "python"} <= set(meta["libraries"])
    assert meta["params"]["kind"] == "tfidf-linear"
    assert len(meta["training_data_hash"]) == 64
    assert meta["training_data"]["examples"] == {"gold": 14}
    loaded = TaggerModel.load(tmp_path)
    assert loaded.version == tiny.version == meta["version"]
    docs = [Doc("x", "Ketamine infusion for chronic pain", "Randomized trial of IV ketamine.")]
    a, b = tiny.predict_proba(docs), loaded.predict_proba(docs)
    for f in FACETS:
        np.testing.assert_allclose(a[f.name], b[f.name], rtol=1e-6)


def test_load_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="kb train"):
        TaggerModel.load(tmp_path)


def test_shipped_model_loads_with_metadata() -> None:
    model = TaggerModel.load()
    meta = json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text())
    assert model.version == meta["version"] and VERSION.match(model.version)
    assert {f.name: f.label_names for f in FACETS} == {
        k: tuple(v["labels"]) for k, v in meta["labels"].items()}
    cv = meta["cv_metrics"]
    assert cv["folds"] >= 5 and cv["n"] >= 100
    assert set(cv["text_only"]) == {"relevance", "agent", "condition", "route", "outcome",
                                    "design", "rct_auc"}
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 15_000_000
    labels, _ = model.predict([Doc("x", "Esketamine nasal spray in TRD: a randomized trial",
                                   "Patients with treatment-resistant depression received "
                                   "esketamine nasal spray or placebo; MADRS improved.")])
    assert labels[0]["agent"] == ["esketamine"] and labels[0]["design"] == "rct"
    assert "trd" in labels[0]["condition"] and labels[0]["route"] == ["intranasal"]
