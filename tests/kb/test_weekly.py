"""The weekly run, its lock, and the digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.engine import Engine

from harvester.records import CommentCorrection, Record
from kb import repository
from kb.cli import cli
from kb.config import load_config
from kb.digest import build_digest, to_atom, to_html, to_markdown
from kb.ingest import ingest
from kb.linking import link_all
from kb.locking import AlreadyRunning, run_lock
from kb.models import RecordRow
from kb.weekly import run_weekly
from tests.harvester.europepmc.corpus_pages import corpus_records, paged_responses

XSS = "<img src=x onerror=alert(1)> Ketamine & esketamine"


def test_lock_prevents_overlap_and_is_released(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    with run_lock(lock), pytest.raises(AlreadyRunning, match="another run holds"), \
            run_lock(lock):
        pass
    with run_lock(lock):  # released after the first block
        pass


def test_digest_groups_new_records_and_calls_out_retractions(engine: Engine) -> None:
    ingest(engine, [Record(source="pubmed", pmid="1", title="Old ketamine trial")])
    week_ago = datetime.now(UTC) - timedelta(days=7)
    with engine.begin() as conn:
        conn.execute(update(RecordRow).values(first_seen=week_ago - timedelta(days=30)))
    since = datetime.now(UTC) - timedelta(days=1)
    ingest(engine, [Record(source="pubmed", pmid="2", title=XSS, journal="J <b>",
                           pub_year=2026)])
    ingest(engine, [Record(source="pubmed", pmid="3", title="Retraction: Old ketamine trial",
                           publication_types=["Retraction of Publication"],
                           comments_corrections=[CommentCorrection("RetractionOf", pmid="1")])])
    link_all(engine)
    d = build_digest(engine, since)
    assert sorted(r["key"] for r in d.records) == ["pmid:2", "pmid:3"]
    assert [r["key"] for r in d.retracted] == ["pmid:1"]
    md, page, atom = to_markdown(d), to_html(d), to_atom(d)
    assert "Retracted since the last digest" in md and "Old ketamine trial" in md
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    feed = ET.fromstring(atom)
    titles = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}title")]
    assert XSS in titles and "RETRACTED: Old ketamine trial" in titles


def test_weekly_run_one_source_down(tmp_path: Path, httpserver: HTTPServer) -> None:
    EPMCServer = paged_responses(corpus_records()[:6], page_size=10)
    httpserver.expect_request("/search").respond_with_data(
        EPMCServer["*"], content_type="application/json")
    httpserver.expect_request("/ctgov/studies").respond_with_data("down", status=503)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kb.sqlite"}"\n'
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[harvest]\nsources = ["europepmc", "ctgov"]\nretries = 1\n'
        f'[europepmc]\nbase_url = "{httpserver.url_for("/")}"\nrate = 1000\n'
        f'[ctgov]\nbase_url = "{httpserver.url_for("/ctgov/")}"\nrate = 1000\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--json", "run", "--no-tag"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert {s["source"]: s["status"] for s in report["sources"]} == {"europepmc": "ok",
                                                                      "ctgov": "failed"}
    assert len(report["digest"]) == 3 and all(Path(p).exists() for p in report["digest"])
    assert "6 new records" in Path(report["digest"][0]).read_text()
    # One summary line without --json.
    plain = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--no-tag",
                                     "--source", "europepmc"])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.count("\n") == 1 and plain.stdout.startswith("kb run ok: europepmc ok")


def test_weekly_run_refuses_to_overlap(tmp_path: Path) -> None:
    config = load_config(None, env={"KB_CONFIG": "/nonexistent",
                                    "KB_PATHS_DATA_DIR": str(tmp_path)})
    from kb.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    with run_lock(tmp_path / "kb-run.lock"), pytest.raises(AlreadyRunning):
        run_weekly(config, engine, tagger=None, sources=[])
    report = run_weekly(config, engine, tagger=None, sources=[])
    assert report.status == "ok"
    assert repository.recent_runs(engine, 1)[0]["source"] == "weekly"


def test_weekly_run_tags_new_records_with_the_shipped_model(tmp_path: Path) -> None:
    from kb.commands.ops import default_tagger
    from kb.db import make_engine

    config = load_config(None, env={"KB_CONFIG": "/nonexistent",
                                    "KB_PATHS_DATA_DIR": str(tmp_path)})
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    ingest(engine, [Record(source="pubmed", pmid="31166571",
                           title="Efficacy and Safety of Flexibly Dosed Esketamine Nasal Spray "
                                 "Combined With a Newly Initiated Oral Antidepressant in "
                                 "Treatment-Resistant Depression",
                           publication_types=["Randomized Controlled Trial"])])
    report = run_weekly(config, engine, tagger=default_tagger(""), sources=[])
    assert report.status == "ok" and report.tagged == 1
    labels = {(x["facet"], x["label"]) for x in repository.record_labels(engine, 1)}
    assert ("design", "rct") in labels and ("agent", "esketamine") in labels
    again = run_weekly(config, engine, tagger=default_tagger(""), sources=[])
    assert again.tagged == 0  # nothing new or changed
