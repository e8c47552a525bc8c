"""Europe PMC and ClinicalTrials.gov harvests into the knowledge base, against local servers
serving real record content, with faults; and `kb harvest all` with one source down."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from harvester.ctgov.client import CTGovClient
from harvester.europepmc.client import EuropePMCClient
from harvester.http import PoliteClient, RetryPolicy
from kb import repository
from kb.cli import cli
from kb.harvest import ctgov_pages, europepmc_pages, harvest_paged
from kb.models import RecordRow, TrialRow
from tests.harvester.europepmc.corpus_pages import corpus_records, cursor_for, paged_responses

DATA = Path(__file__).resolve().parents[1] / "data"


def fast_http() -> PoliteClient:
    return PoliteClient(rate=1000, retry=RetryPolicy(attempts=2, base_delay=0.001),
                        sleep=lambda s: None)


class EPMCServer:
    """/search answering by cursorMark; ``broken`` cursors answer 500."""

    def __init__(self, server: HTTPServer, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.broken: set[str] = set()
        self.queries: list[str] = []
        server.expect_request("/search").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.queries.append(request.args["query"])
        cursor = request.args.get("cursorMark", "*")
        if cursor in self.broken:
            return Response("unavailable", status=500)
        return Response(self.bodies[cursor], content_type="application/json")


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_europepmc_failure_on_page_three_resumes_from_cursor(engine: Engine,
                                                             httpserver: HTTPServer) -> None:
    records = corpus_records()[:25]
    fake = EPMCServer(httpserver, paged_responses(records, page_size=10))
    fake.broken.add(cursor_for(2))
    client = EuropePMCClient(fast_http(), httpserver.url_for("/"), page_size=10)
    pages = europepmc_pages(client, "ketamine")
    first = harvest_paged(engine, "europepmc", "ketamine", pages, today=date(2026, 11, 1))
    assert first.status == "failed" and "500" in (first.error or "")
    assert count(engine, RecordRow) == 20
    state = repository.get_state(engine, "europepmc", "ketamine")
    assert state and state["checkpoint"]["cursor"] == cursor_for(2)
    fake.broken.clear()
    second = harvest_paged(engine, "europepmc", "ketamine", pages, today=date(2026, 11, 2))
    assert second.resumed and second.status == "ok"
    assert (second.fetched, second.inserted) == (5, 5)
    assert count(engine, RecordRow) == 25
    # The window is in the query: first published or updated inside it.
    assert "FIRST_PDATE:[1960-01-01 TO 2026-11-01]" in fake.queries[0]
    assert "UPDATE_DATE:[1960-01-01 TO 2026-11-01]" in fake.queries[0]
    third = harvest_paged(engine, "europepmc", "ketamine", pages, today=date(2026, 11, 8))
    assert third.window_from == "2026-10-31" and third.inserted == 0
    assert count(engine, RecordRow) == 25


def ctgov_page(studies: list[dict[str, object]], token: str | None) -> bytes:
    body: dict[str, object] = {"studies": studies, "totalCount": 2}
    if token:
        body["nextPageToken"] = token
    return json.dumps(body).encode()


def test_ctgov_trials_stored_as_trials_and_registry_records(engine: Engine,
                                                            httpserver: HTTPServer) -> None:
    studies = [json.loads((DATA / "ctgov" / f"{n}.json").read_bytes())
               for n in ("NCT00517179", "NCT05013879")]
    seen: list[dict[str, str]] = []

    def handle(request: Request) -> Response:
        seen.append(request.args.to_dict())
        token = request.args.get("pageToken")
        return Response(ctgov_page([studies[1]], None) if token == "p2"
                        else ctgov_page([studies[0]], "p2"), content_type="application/json")

    httpserver.expect_request("/studies").respond_with_handler(handle)
    pages = ctgov_pages(CTGovClient(fast_http(), httpserver.url_for("/"), page_size=1),
                        "ketamine")
    report = harvest_paged(engine, "ctgov", "ketamine", pages, today=date(2026, 11, 1))
    assert report.status == "ok" and report.fetched == 2
    assert "AREA[LastUpdatePostDate]RANGE[1960-01-01,2026-11-01]" in seen[0]["filter.advanced"]
    assert count(engine, TrialRow) == 2
    rec = repository.get_record(engine, "nct:NCT05013879")
    assert rec is not None and rec["source"] == "ctgov"
    with engine.connect() as conn:
        trial = conn.execute(select(TrialRow).where(TrialRow.nct_id == "NCT05013879")).one()
    assert trial.record_id == rec["id"] and trial.overall_status == "COMPLETED"
    again = harvest_paged(engine, "ctgov", "ketamine", pages, since=date(2026, 1, 1),
                          today=date(2026, 11, 2))
    assert again.inserted == 0 and count(engine, TrialRow) == 2


def test_harvest_all_one_source_down_others_complete(tmp_path: Path,
                                                     httpserver: HTTPServer) -> None:
    records = corpus_records()[:5]
    EPMCServer(httpserver, paged_responses(records, page_size=10))
    httpserver.expect_request("/ctgov/studies").respond_with_data("down", status=503)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "kb.sqlite"}"\n'
        f'[harvest]\nsources = ["europepmc", "ctgov"]\nretries = 1\n'
        f'[europepmc]\nbase_url = "{httpserver.url_for("/")}"\nrate = 1000\n'
        f'[ctgov]\nbase_url = "{httpserver.url_for("/ctgov/")}"\nrate = 1000\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--json", "harvest", "all"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    status = {s["source"]: s["status"] for s in out["sources"]}
    assert status == {"europepmc": "ok", "ctgov": "failed"}
    from kb.db import make_engine

    assert repository.record_count(make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")) == 5
