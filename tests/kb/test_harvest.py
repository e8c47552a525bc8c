"""End-to-end PubMed harvests into the knowledge base, against a local E-utilities server.

The server speaks esearch/efetch and serves real recorded PubMed articles; faults are injected
there. The kill test runs `kb harvest pubmed` in a real subprocess and SIGKILLs it mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from lxml import etree
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from harvester.http import PoliteClient, RetryPolicy
from harvester.pubmed.eutils import EUtilsClient
from kb import repository
from kb.db import make_engine
from kb.harvest import harvest_pubmed
from kb.models import RecordRow

DATA = Path(__file__).resolve().parents[1] / "data" / "eutils"
QUERY = "ketamine[tiab]"


def real_articles() -> dict[str, bytes]:
    """PMID -> the bytes of one real <PubmedArticle> from the recorded efetch files."""
    out: dict[str, bytes] = {}
    for f in sorted(DATA.glob("efetch_*.xml")):
        root = etree.fromstring(f.read_bytes(), etree.XMLParser(resolve_entities=False))
        for art in root.iter("PubmedArticle"):
            pmid = art.findtext("MedlineCitation/PMID")
            assert pmid
            out[pmid] = etree.tostring(art)
    return out


ARTICLES = real_articles()


class FakeEUtils:
    """Enough of E-utilities for a harvest: esearch (edat lists all, mdat none) and efetch."""

    def __init__(self, server: HTTPServer, pmids: list[str]) -> None:
        self.pmids = pmids
        self.fetch_calls = 0
        self.fault: Callable[[int, list[str]], Response | None] = lambda n, ids: None
        server.expect_request("/esearch.fcgi").respond_with_handler(self.esearch)
        server.expect_request("/efetch.fcgi").respond_with_handler(self.efetch)

    def esearch(self, request: Request) -> Response:
        form = {**request.args.to_dict(), **request.form.to_dict()}
        ids = self.pmids if form.get("datetype", "edat") == "edat" else []
        body = (f"<eSearchResult><Count>{len(ids)}</Count><RetMax>{len(ids)}</RetMax>"
                f"<RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>W</WebEnv><IdList>"
                + "".join(f"<Id>{i}</Id>" for i in ids) + "</IdList></eSearchResult>")
        return Response(body, content_type="text/xml")

    def efetch(self, request: Request) -> Response:
        self.fetch_calls += 1
        ids = parse_qs(request.get_data(as_text=True))["id"][0].split(",")
        faulty = self.fault(self.fetch_calls, ids)
        if faulty is not None:
            return faulty
        body = b"<PubmedArticleSet>" + b"".join(ARTICLES[i] for i in ids if i in ARTICLES) + (
            b"</PubmedArticleSet>")
        return Response(body, content_type="text/xml")


def client(server: HTTPServer, batch_size: int = 3) -> EUtilsClient:
    http = PoliteClient(rate=1000, retry=RetryPolicy(attempts=2, base_delay=0.001),
                        sleep=lambda s: None)
    return EUtilsClient(http, base_url=server.url_for("/"), api_key=None, email="t@example.org",
                        batch_size=batch_size)


def stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(RecordRow.pmid)).scalars(), key=int)


@pytest.fixture
def pmids() -> list[str]:
    assert len(ARTICLES) >= 9
    return sorted(ARTICLES, key=int)


def test_first_run_then_incremental_rerun(engine: Engine, httpserver: HTTPServer,
                                          pmids: list[str]) -> None:
    FakeEUtils(httpserver, pmids)
    first = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 1),
                           start_date=date(2026, 1, 1))
    assert first.status == "ok", first.error
    assert (first.found, first.inserted) == (len(pmids), len(pmids))
    assert stored(engine) == pmids
    state = repository.get_state(engine, "pubmed", QUERY)
    assert state and state["last_until"] == "2026-11-01" and state["checkpoint"] == {}
    second = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 8))
    assert second.window_from == "2026-10-31"  # one day of overlap
    assert (second.inserted, second.unchanged) == (0, len(pmids))
    assert stored(engine) == pmids


def test_failure_mid_run_resumes_without_duplicates(engine: Engine, httpserver: HTTPServer,
                                                    pmids: list[str]) -> None:
    fake = FakeEUtils(httpserver, pmids)
    fake.fault = lambda n, ids: Response("boom", status=502) if n >= 2 else None
    broken = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 1))
    assert broken.status == "failed" and "502" in (broken.error or "")
    assert len(stored(engine)) == 3  # the first batch was committed
    cp = (repository.get_state(engine, "pubmed", QUERY) or {})["checkpoint"]
    assert cp["done"] == 3 and cp["ids"] == pmids
    fake.fault = lambda n, ids: None
    resumed = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 2))
    assert resumed.resumed and resumed.status == "ok"
    assert resumed.window_to == "2026-11-01"  # the interrupted window, not a new one
    assert resumed.inserted == len(pmids) - 3
    assert stored(engine) == pmids


def test_missing_ids_are_quarantined_then_retried(engine: Engine, httpserver: HTTPServer,
                                                  pmids: list[str]) -> None:
    fake = FakeEUtils(httpserver, pmids)
    lost = pmids[4]

    def drop(n: int, ids: list[str]) -> Response | None:
        body = b"<PubmedArticleSet>" + b"".join(ARTICLES[i] for i in ids if i != lost) + (
            b"</PubmedArticleSet>")
        return Response(body, content_type="text/xml")

    fake.fault = drop
    partial = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 1))
    assert partial.status == "partial" and partial.missing == [lost]
    assert [q["item"] for q in repository.open_quarantine(engine, "pubmed")] == [lost]
    fake.fault = lambda n, ids: None
    fake.pmids = []  # nothing new this week: only the quarantined id is retried
    again = harvest_pubmed(engine, client(httpserver), QUERY, today=date(2026, 11, 8))
    assert again.status == "ok" and again.inserted == 1
    assert repository.open_quarantine(engine, "pubmed") == []
    assert stored(engine) == pmids


def test_killed_process_then_rerun_stores_everything_once(tmp_path: Path,
                                                          httpserver: HTTPServer,
                                                          pmids: list[str]) -> None:
    fake = FakeEUtils(httpserver, pmids)
    release = threading.Event()

    def hang_on_third(n: int, ids: list[str]) -> Response | None:
        if n == 3:
            release.wait(30)  # the process is killed while waiting here
        return None

    fake.fault = hang_on_third
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    engine = make_engine(url)
    env = {**os.environ, "KB_DATABASE_URL": url, "KB_PUBMED_BATCH_SIZE": "3",
           "KB_PUBMED_RATE": "100"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb", "--quiet", "harvest", "pubmed", "--query", QUERY, "--base-url",
         httpserver.url_for("/")], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while fake.fetch_calls < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.fetch_calls >= 3, proc.stderr.read() if proc.stderr else ""
        with engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(RecordRow)).scalar_one()
        assert before == 6  # two batches committed, the third in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    fake.fault = lambda n, ids: None
    rerun = harvest_pubmed(engine, client(httpserver), QUERY)
    assert rerun.resumed and rerun.status == "ok"
    assert stored(engine) == pmids  # each exactly once
    assert repository.record_count(engine) == len(pmids)
