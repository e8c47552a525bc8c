"""Tagging records in the database: only untagged / older-model ones, human corrections win and
survive re-tagging, corrections feed training (``kb tag``, ``kb tag set``)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from kb import repository
from kb.cli import cli
from kb.models import RecordRow
from kb.tagging.service import human_examples, load_model, set_tags, tag_pending
from kb.taxonomy import FACET_NAMES

R = RecordRow.__table__  # type: ignore[attr-defined]
TAG = repository.TAG
RLABEL = repository.RLABEL

RECORDS: list[dict[str, Any]] = [
    {"key": "pmid:31166571", "source": "pubmed", "pmid": "31166571",
     "title": "Efficacy and safety of flexibly dosed esketamine nasal spray combined with a "
              "newly initiated oral antidepressant in treatment-resistant depression: a "
              "randomized double-blind active-controlled study",
     "abstract": "Patients with treatment-resistant depression were randomized to esketamine "
                 "nasal spray or placebo nasal spray. MADRS total score improved; "
                 "dissociation and nausea were the most common adverse events.",
     "publication_types": ["Journal Article", "Randomized Controlled Trial"],
     "mesh": [{"name": "Administration, Intranasal"},
              {"name": "Depressive Disorder, Treatment-Resistant"}]},
    {"key": "pmid:2", "source": "pubmed", "pmid": "2",
     "title": "Ketamine for postoperative pain after tonsillectomy in children",
     "abstract": "Children received intravenous ketamine or saline. Pain scores and "
                 "morphine consumption were lower with ketamine.",
     "publication_types": [], "mesh": []},
    {"key": "pmid:3", "source": "pubmed", "pmid": "3",
     "title": "Statins and LDL cholesterol", "abstract": "Oral statins lowered LDL.",
     "publication_types": ["Review"], "mesh": []},
]


@pytest.fixture
def kb_engine(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(insert(R), [{"keywords": [], **r} for r in RECORDS])
    return engine


def _id(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(R.c.id).where(R.c.key == key)).scalar_one())


def _effective(engine: Engine, key: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in repository.record_labels(engine, _id(engine, key)):
        out.setdefault(row["facet"], set()).add(row["label"])
    return out


def test_tag_pending_tags_untagged_then_only_older_models(kb_engine: Engine) -> None:
    model = load_model()
    report = tag_pending(kb_engine, model=model)
    assert report.tagged == 3 and report.remaining == 0
    with kb_engine.connect() as conn:
        versions = set(conn.execute(select(R.c.tagged_model)).scalars())
        origins = {(o, v) for o, v in conn.execute(select(TAG.c.origin, TAG.c.model_version))}
    assert versions == {model.version}
    assert ("model", model.version) in origins and ("metadata", None) in origins
    rct = _effective(kb_engine, "pmid:31166571")
    assert set(FACET_NAMES) - {"agent", "route", "condition", "outcome"} <= set(rct)
    assert rct["design"] == {"rct"} and rct["agent"] == {"esketamine"}
    assert {"depression", "trd"} <= rct["condition"] and rct["route"] == {"intranasal"}
    assert _effective(kb_engine, "pmid:3")["relevance"] == {"incidental"}
    assert "agent" not in _effective(kb_engine, "pmid:3")

    assert tag_pending(kb_engine, model=model).tagged == 0  # nothing left
    with kb_engine.begin() as conn:
        conn.execute(update(R).where(R.c.key == "pmid:2").values(tagged_model="old-model"))
    again = tag_pending(kb_engine, model=model)
    assert again.tagged == 1
    with kb_engine.connect() as conn:  # no duplicated tags after re-tagging
        n = conn.execute(select(TAG.c.id).where(TAG.c.record_id == _id(kb_engine, "pmid:2"),
                                                TAG.c.origin == "model")).all()
        facets = [f for (f,) in conn.execute(select(RLABEL.c.facet).where(
            RLABEL.c.record_id == _id(kb_engine, "pmid:2"), RLABEL.c.facet == "design"))]
    assert len(n) >= 3 and facets == ["design"]


def test_human_correction_wins_and_survives_retagging(kb_engine: Engine) -> None:
    model = load_model()
    tag_pending(kb_engine, model=model)
    after = set_tags(kb_engine, "pmid:2", "design", ["observational"], user="alice")
    assert after["design"] == "observational"
    set_tags(kb_engine, "pmid:31166571", "outcome", ["dissociation"], remove=True)
    tag_pending(kb_engine, model=model, retag=True)
    assert _effective(kb_engine, "pmid:2")["design"] == {"observational"}
    assert "dissociation" not in _effective(kb_engine, "pmid:31166571").get("outcome", set())
    history = repository.record_tag_history(kb_engine, _id(kb_engine, "pmid:2"))
    human = [h for h in history if h["origin"] == "human"]
    assert {(h["label"], h["negative"], h["user"]) for h in human} >= {
        ("observational", False, "alice")}
    labels = {e.key: e.targets for e in human_examples(kb_engine)}
    assert labels["pmid:2"] == {"design": "observational"}
    assert "dissociation" not in labels["pmid:31166571"]["outcome"]


def test_set_tags_validation(kb_engine: Engine) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        set_tags(kb_engine, "pmid:2", "design", ["rct", "other"])
    with pytest.raises(ValueError, match="set the right one"):
        set_tags(kb_engine, "pmid:2", "design", ["rct"], remove=True)
    with pytest.raises(ValueError, match="unknown label"):
        set_tags(kb_engine, "pmid:2", "route", ["nasal"])


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_cli_tag_and_tag_set(kb_engine: Engine) -> None:
    runner = CliRunner()
    url = _url(kb_engine)
    res = runner.invoke(cli, ["--database-url", url, "tag"])
    assert res.exit_code == 0, res.output
    assert "tagged 3 records" in res.output
    res = runner.invoke(cli, ["--database-url", url, "--json", "tag"])
    assert res.exit_code == 0 and '"tagged": 0' in res.output
    res = runner.invoke(cli, ["--database-url", url, "tag", "set", "pmid:2", "condition",
                              "acute_pain", "anesthesia_sedation", "--user", "bob"])
    assert res.exit_code == 0, res.output
    assert "acute_pain, anesthesia_sedation" in res.output
    assert _effective(kb_engine, "pmid:2")["condition"] == {"acute_pain", "anesthesia_sedation"}
    rid = _id(kb_engine, "pmid:3")
    res = runner.invoke(cli, ["--database-url", url, "tag", "set", f"id:{rid}", "relevance",
                              "secondary"])
    assert res.exit_code == 0, res.output
    assert _effective(kb_engine, "pmid:3")["relevance"] == {"secondary"}
    bad = runner.invoke(cli, ["--database-url", url, "tag", "set", "pmid:2", "design", "cohort"])
    assert bad.exit_code == 2 and "unknown label" in bad.output
    missing = runner.invoke(cli, ["--database-url", url, "tag", "set", "pmid:999", "design",
                                  "rct"])
    assert missing.exit_code == 1 and "no record" in missing.output


def test_worker_processes_give_the_same_tags(kb_engine: Engine) -> None:
    from kb.tagging.service import classify, classify_many

    model = load_model()
    report = tag_pending(kb_engine, model=model, jobs=2, batch_size=1)
    assert report.tagged == 3
    rows = [{"id": r["key"], **r} for r in RECORDS]
    assert list(classify_many(model, rows, jobs=2, chunk=1)) == classify(model, rows)
