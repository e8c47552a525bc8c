"""Fixtures for the Europe PMC client tests: a fast PoliteClient and a scripted server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.harvester.fast_http import Reply
from tests.harvester.fast_http import make_http as make_http


class Script:
    """Answers ``/search`` by ``cursorMark``: each key has a list of replies used in turn (the last
    one repeats).  Unknown cursors get a 418, which the client treats as a non-retried error."""

    def __init__(self, routes: dict[str, list[Reply]]) -> None:
        self.routes = {k: list(v) for k, v in routes.items()}
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        self.calls.append(dict(request.args))
        queue = self.routes.get(request.args.get("cursorMark", ""))
        if not queue:
            return Response(f"unexpected cursor {request.args.get('cursorMark')!r}", status=418)
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) and not isinstance(reply, Response) else reply

    @property
    def cursors(self) -> list[str]:
        return [c.get("cursorMark", "") for c in self.calls]


@pytest.fixture
def serve(httpserver: HTTPServer) -> Callable[[dict[str, list[Reply]]], tuple[Script, str]]:
    """``serve(routes)`` -> (script, base_url) with the script mounted at ``/rest/search``."""

    def mount(routes: dict[str, list[Reply]]) -> tuple[Script, str]:
        script = Script(routes)
        httpserver.expect_request("/rest/search").respond_with_handler(script)
        return script, httpserver.url_for("/rest")

    return mount


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A server that answers requests concurrently (a slow handler must not block the retry)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()
