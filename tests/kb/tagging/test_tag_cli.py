"""``kb classify`` and ``kb evaluate`` through the click runner (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kb.cli import cli
from kb.taxonomy import FACETS

GOLD_SMALL = Path(__file__).resolve().parents[2] / "data" / "tagging" / "gold_small.jsonl"


def _db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'kb.sqlite'}"]


def test_classify_output_has_every_facet(tmp_path: Path) -> None:
    records = [json.loads(line) for line in GOLD_SMALL.read_text().splitlines()]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({k: r[k] for k in ("id", "title", "abstract")}) + "\n"
                           for r in records)
                   + json.dumps({"id": "x", "title": "RCT", "abstract": "",
                                 "publication_types": ["Randomized Controlled Trial"],
                                 "mesh": [{"name": "Ketamine"}], "keywords": ["pain"]}) + "\n")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(cli, [*_db(tmp_path), "classify", "--input", str(inp),
                                   "--output", str(out)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in records] + ["x"]
    for line in lines:
        assert set(line) == {"id", "labels", "scores"}
        assert list(line["labels"]) == [f.name for f in FACETS]
        assert list(line["scores"]) == [f.name for f in FACETS]
        for f in FACETS:
            value = line["labels"][f.name]
            if f.multi:
                assert isinstance(value, list) and set(value) <= set(f.label_names)
            else:
                assert value in f.label_names
            assert set(line["scores"][f.name]) == set(f.label_names)
    assert lines[-1]["labels"]["design"] == "rct"  # metadata: the publication type


def test_classify_stdin_stdout_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    line = json.dumps({"id": "a", "title": "Ketamine", "abstract": "IV ketamine for TRD."})
    res = runner.invoke(cli, [*_db(tmp_path), "classify", "-i", "-", "-o", "-"],
                        input=line + "\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["id"] == "a"
    res = runner.invoke(cli, [*_db(tmp_path), "classify", "-i", "-", "-o", "-"],
                        input='{"id": "a", "title": "x"}\n')
    assert res.exit_code == 2 and "missing abstract" in res.output
    res = runner.invoke(cli, [*_db(tmp_path), "classify", "-i", "-", "-o", "-"],
                        input="not json\n")
    assert res.exit_code == 2 and "not JSON" in res.output


def test_evaluate_warns_about_training_overlap(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*_db(tmp_path), "evaluate", "--gold", str(GOLD_SMALL)])
    assert res.exit_code == 0, res.output
    assert "were used to train" in res.stderr and "--cv" in res.stderr
    assert "relevance accuracy" in res.stdout and "baseline" in res.stdout
    assert "cross-validated" in res.stdout
    assert "precision" not in res.stdout and "prec" in res.stdout


def test_evaluate_json_and_cv(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*_db(tmp_path), "evaluate", "--gold", str(GOLD_SMALL),
                                   "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["n"] == 14 and data["overlap_with_training"] == 14
    assert set(data["model"]["facets"]) == {f.name for f in FACETS}
    assert data["model"]["facets"]["design"]["labels"]["rct"]["support"] == 2
    assert "rct_auc" in data["baseline"]
    res = CliRunner().invoke(cli, [*_db(tmp_path), "--json", "evaluate", "--gold",
                                   str(GOLD_SMALL), "--cv", "2", "--no-weak"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["mode"] == "2-fold cross-validation"
    assert set(data["text_only"]["facets"]) == {f.name for f in FACETS}


def test_train_writes_versioned_model_with_cv_metrics(tmp_path: Path) -> None:
    out = tmp_path / "model"
    res = CliRunner().invoke(cli, [*_db(tmp_path), "train", "--gold", str(GOLD_SMALL),
                                   "--no-weak", "--cv", "2", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "2-fold cross-validation on 14 gold records" in res.stdout
    assert "baseline" in res.stdout and f"written to {out}" in res.stdout
    meta = json.loads((out / "model.json").read_text())
    assert meta["cv_metrics"]["folds"] == 2
    assert meta["training_data"]["examples"] == {"gold": 14}
    tagged = CliRunner().invoke(cli, [*_db(tmp_path), "evaluate", "--gold", str(GOLD_SMALL),
                                      "--model", str(out)])
    assert tagged.exit_code == 0 and meta["version"] in tagged.stderr


def test_train_without_corpus_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*_db(tmp_path), "train", "--gold", str(GOLD_SMALL),
                                   "--corpus", str(tmp_path / "absent"), "--cv", "0",
                                   "--output", str(tmp_path / "m")])
    assert res.exit_code == 2 and "--no-weak" in res.output


def test_registry_records_get_a_study_design(tmp_path: Path) -> None:
    from kb.tagging.service import classify, load_model

    text = ("This study will test whether a single dose of ketamine causes a rapid "
            "antidepressant effect. Participants will be assessed with the MADRS. "
            "A review of the literature suggests ketamine is promising.")
    out = classify(load_model(), [{"id": "nct:NCT00088699", "title": "Ketamine in depression",
                                   "abstract": text}])
    assert out[0]["labels"]["design"] in {"rct", "nonrandomized_trial", "observational"}
