"""ClinicalTrials.gov test fixtures: real studies, a fast PoliteClient, a scripted server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.harvester.fast_http import Reply
from tests.harvester.fast_http import make_http as make_http

DATA = Path(__file__).resolve().parents[2] / "data" / "ctgov"


def real_study(nct: str) -> dict[str, Any]:
    """One of the two real v2 study objects (``NCT00517179``, ``NCT05013879``)."""
    data: dict[str, Any] = json.loads((DATA / f"{nct}.json").read_text(encoding="utf-8"))
    return data


def registry_studies() -> list[dict[str, Any]]:
    """Minimal v2 study objects holding REAL registry text (id, brief title, summary) from
    ``ctgov_registry_texts_sample.jsonl``; the surrounding structure is the v2 layout of the real
    study files."""
    studies = []
    for line in (DATA / "ctgov_registry_texts_sample.jsonl").read_text("utf-8").splitlines():
        rec = json.loads(line)
        studies.append({
            "protocolSection": {
                "identificationModule": {"nctId": rec["nct_ids"][0], "briefTitle": rec["title"]},
                "descriptionModule": {"briefSummary": rec["abstract"]},
            },
            "hasResults": False,
        })
    return studies


def all_studies() -> list[dict[str, Any]]:
    """Nine studies: the two real full records and seven real registry texts."""
    return [real_study("NCT00517179"), real_study("NCT05013879"), *registry_studies()]


def studies_page(studies: list[dict[str, Any]], next_token: str | None = None,
                 total: int | None = None) -> bytes:
    payload: dict[str, Any] = {"studies": studies}
    if next_token is not None:
        payload["nextPageToken"] = next_token
    if total is not None:
        payload["totalCount"] = total
    return json.dumps(payload).encode("utf-8")


def token_for(page_index: int) -> str:
    """Placeholder page tokens, shaped like the real ``KV165pePlfg``."""
    return "" if page_index == 0 else f"KV165pe{page_index:04d}"


def paged(studies: list[dict[str, Any]], page_size: int) -> dict[str, bytes]:
    """``{pageToken or "": body}``; ``totalCount`` only on the first page, as the API does."""
    chunks = [studies[i:i + page_size] for i in range(0, len(studies), page_size)] or [[]]
    bodies = {}
    for i, chunk in enumerate(chunks):
        nxt = token_for(i + 1) if i + 1 < len(chunks) else None
        bodies[token_for(i)] = studies_page(chunk, nxt, len(studies) if i == 0 else None)
    return bodies


class Script:
    """Answers ``/studies`` by ``pageToken`` (``""`` = first page); replies used in turn, the last
    one repeating; an unknown token gets a 418 (a non-retried error)."""

    def __init__(self, routes: dict[str, list[Reply]]) -> None:
        self.routes = {k: list(v) for k, v in routes.items()}
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        self.calls.append(dict(request.args))
        queue = self.routes.get(request.args.get("pageToken", ""))
        if not queue:
            return Response("unexpected page token", status=418)
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) and not isinstance(reply, Response) else reply

    @property
    def tokens(self) -> list[str]:
        return [c.get("pageToken", "") for c in self.calls]


@pytest.fixture
def serve(httpserver: HTTPServer) -> Callable[[dict[str, list[Reply]]], tuple[Script, str]]:
    def mount(routes: dict[str, list[Reply]]) -> tuple[Script, str]:
        script = Script(routes)
        httpserver.expect_request("/api/v2/studies").respond_with_handler(script)
        return script, httpserver.url_for("/api/v2")

    return mount


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()
