"""A small knowledge base for dashboard tests, built the way a user builds one.

``kb import`` of the shipped sample (real records) and linking, the two real ClinicalTrials.gov
studies of ``tests/data/ctgov/`` as trials, the tagger, a finished harvest run, and one
synthetic record whose title is an XSS probe (the only made-up input; it tests escaping).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from harvester.ctgov.parser import parse_study
from harvester.records import Record
from kb import repository
from kb.db import make_engine
from kb.harvest import trial_to_record, trial_to_row
from kb.importer import SAMPLE_DIR, import_files
from kb.ingest import ingest
from kb.linking import link_all

DATA = Path(__file__).resolve().parents[1] / "data"
XSS_TITLE = "Ketamine <img src=x onerror=alert(1)> and [a link](javascript:alert(2)) $x$"
SUSTAIN1_PMID = "31166571"


def tag_database(url: str) -> str:
    """Tag every record with ``kb tag`` and the shipped model, as a user does."""
    from kb.cli import cli

    result = CliRunner().invoke(cli, ["--database-url", url, "-q", "tag"])
    assert result.exit_code == 0, result.output
    return "kb tag"


def build(path: Path | None, url: str | None = None) -> dict[str, Any]:
    """Build the fixture database at ``path`` (SQLite) or ``url`` (any database, e.g. a fresh
    PostgreSQL schema); returns its URL and ids the tests use."""
    url = url or f"sqlite:///{path}"
    engine = make_engine(url)
    run = repository.start_run(engine, "pubmed", "ketamine[tiab]", "2025-01-01", "2025-01-31")
    report = import_files(engine, [SAMPLE_DIR])
    assert not report.errors, report.errors
    ingest(engine, [Record(source="pubmed", pmid="999999901", title=XSS_TITLE,
                           abstract="Ketamine <script>alert(3)</script> was given.",
                           journal="<b>Journal</b>", pub_year=2024)])
    trials = [parse_study(json.loads((DATA / "ctgov" / name).read_bytes()))
              for name in ("NCT00517179.json", "NCT05013879.json")]
    ingest(engine, [trial_to_record(t) for t in trials])
    with engine.begin() as conn:
        repository.upsert_trials(conn, [trial_to_row(t) for t in trials])
        repository.attach_trial_records(conn, [t.nct_id for t in trials])
    link_all(engine)
    tagger = tag_database(url)
    repository.update_run(engine, run, found=3, fetched=3, inserted=1, updated=2)
    repository.finish_run(engine, run, "ok")
    ids = {
        "sustain1": repository.get_record(engine, SUSTAIN1_PMID)["id"],  # type: ignore[index]
        "xss": repository.get_record(engine, "999999901")["id"],  # type: ignore[index]
    }
    engine.dispose()
    return {"url": url, "path": path, "tagger": tagger, **ids}
