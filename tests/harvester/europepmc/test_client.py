"""Europe PMC client against a local server: paging, resume, date windows and every fault."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.errors import RateLimited, SourceError, TransientHTTPError
from harvester.europepmc.client import EuropePMCClient
from harvester.records import Record
from tests.harvester.fast_http import FastHTTP, Reply, json_response

from .conftest import Script
from .corpus_pages import (
    NEJM_FIXTURE,
    core_response,
    core_result,
    corpus_records,
    cursor_for,
    paged_responses,
)

Serve = Callable[[dict[str, list[Reply]]], tuple[Script, str]]
MakeHTTP = Callable[..., FastHTTP]

RECORDS = corpus_records()[:25]  # 25 real records -> 3 pages of 10


def routes_for(bodies: dict[str, bytes]) -> dict[str, list[Reply]]:
    return {cursor: [json_response(body)] for cursor, body in bodies.items()}


def client(make_http: MakeHTTP, base_url: str, page_size: int = 10, **kw: float) -> EuropePMCClient:
    return EuropePMCClient(make_http(**kw).http, base_url, page_size)


def dois(records: list[Record]) -> list[str | None]:
    return [r.doi for r in records]


EXPECTED_DOIS = [(r["doi"] or "").lower() or None for r in RECORDS]


# ------------------------------------------------------------------ paging and resume


def test_pages_through_three_pages_in_order(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS, 10)))
    pages = list(client(make_http, base).search("ketamine"))
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert dois([r for p in pages for r in p.records]) == EXPECTED_DOIS
    assert script.cursors == ["*", cursor_for(1), cursor_for(2)]
    assert [p.cursor_mark for p in pages] == script.cursors
    assert pages[-1].next_cursor_mark is None
    first = script.calls[0]
    assert first["query"] == "ketamine"
    assert (first["resultType"], first["format"], first["pageSize"]) == ("core", "json", "10")


@pytest.mark.parametrize("ending", ["omit", "same", "empty"])
def test_every_kind_of_last_page_ends_the_loop(serve: Serve, make_http: MakeHTTP,
                                               ending: str) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS, 10, last_page_cursor=ending)))
    records = list(client(make_http, base).iter_records("ketamine"))
    assert dois(records) == EXPECTED_DOIS
    assert len(script.calls) == (4 if ending == "empty" else 3)


def test_resume_from_a_checkpointed_cursor(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS, 10)))
    first_run = client(make_http, base).search("ketamine")
    page1 = next(first_run)
    checkpoint = page1.next_cursor_mark
    assert checkpoint == cursor_for(1)
    del first_run  # the harvest dies here

    resumed = list(client(make_http, base).search("ketamine", cursor_mark=checkpoint))
    assert script.cursors == ["*", cursor_for(1), cursor_for(2)]
    assert dois(page1.records + [r for p in resumed for r in p.records]) == EXPECTED_DOIS


def test_max_records_cuts_the_last_page_and_resumes_without_gaps(serve: Serve,
                                                                   make_http: MakeHTTP) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS, 10)))
    pages = list(client(make_http, base).search("ketamine", max_records=15))
    got = [r for p in pages for r in p.records]
    assert dois(got) == EXPECTED_DOIS[:15]
    assert len(script.calls) == 2
    # the cut page points back at itself, so a resume re-reads it instead of skipping 5 records
    assert pages[-1].next_cursor_mark == pages[-1].cursor_mark == cursor_for(1)
    rest = list(client(make_http, base).iter_records(
        "ketamine", cursor_mark=pages[-1].next_cursor_mark or "*"))
    assert set(EXPECTED_DOIS) <= set(dois(got + rest))


def test_max_records_on_a_page_boundary_stops_without_extra_request(
        serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS, 10)))
    got = list(client(make_http, base).iter_records("ketamine", max_records=10))
    assert len(got) == 10 and len(script.calls) == 1


@pytest.mark.parametrize(
    ("field", "since", "until", "expected"),
    [
        (None, date(2024, 1, 1), date(2024, 2, 1),
         "(ketamine) AND FIRST_PDATE:[2024-01-01 TO 2024-02-01]"),
        ("UPDATE_DATE", date(2024, 1, 1), None,
         "(ketamine) AND UPDATE_DATE:[2024-01-01 TO 3000-12-31]"),
        ("INDEX_DATE", None, date(2020, 5, 31),
         "(ketamine) AND INDEX_DATE:[1800-01-01 TO 2020-05-31]"),
        (None, None, None, "ketamine"),
    ],
)
def test_incremental_date_window_in_the_query(serve: Serve, make_http: MakeHTTP,
                                              field: str | None, since: date | None,
                                              until: date | None, expected: str) -> None:
    script, base = serve(routes_for(paged_responses(RECORDS[:3], 10)))
    list(client(make_http, base).search("ketamine", since, until, date_field=field))
    assert script.calls[0]["query"] == expected


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EuropePMCClient(None, page_size=1001)
    with pytest.raises(ValueError):
        EuropePMCClient(None, page_size=0)
    with pytest.raises(ValueError):
        EuropePMCClient(None, date_field="PUB_TYPE")
    epmc = EuropePMCClient(None)
    with pytest.raises(ValueError):
        epmc.build_query("x", date(2024, 1, 1), None, date_field="TITLE")


# ------------------------------------------------------------------ faults


def test_hit_count_larger_than_delivered_stops_at_empty_page(serve: Serve,
                                                             make_http: MakeHTTP) -> None:
    bodies = paged_responses(RECORDS[:10], 10, hit_count=5000, last_page_cursor="empty")
    script, base = serve(routes_for(bodies))
    pages = list(client(make_http, base).search("ketamine"))
    assert sum(len(p.records) for p in pages) == 10
    assert pages[0].hit_count == 5000
    assert len(script.calls) == 2


def test_cursor_that_does_not_advance_stops(serve: Serve, make_http: MakeHTTP) -> None:
    page = [core_result(r) for r in RECORDS[:10]]
    stuck = core_response(page, hit_count=5000, cursor=cursor_for(1), next_cursor=cursor_for(1))
    script, base = serve({
        "*": [json_response(core_response(page, hit_count=5000, next_cursor=cursor_for(1)))],
        cursor_for(1): [json_response(stuck)],
    })
    records = list(client(make_http, base).iter_records("ketamine"))
    assert len(records) == 20
    assert script.cursors == ["*", cursor_for(1)]


def test_cursor_cycling_back_stops(serve: Serve, make_http: MakeHTTP) -> None:
    page = [core_result(r) for r in RECORDS[:10]]
    script, base = serve({
        "*": [json_response(core_response(page, hit_count=99, next_cursor=cursor_for(1)))],
        cursor_for(1): [json_response(core_response(page, hit_count=99, next_cursor="*"))],
    })
    list(client(make_http, base).search("ketamine"))
    assert script.cursors == ["*", cursor_for(1)]


def test_missing_next_cursor_is_the_end(serve: Serve, make_http: MakeHTTP) -> None:
    page = [core_result(r) for r in RECORDS[:10]]
    script, base = serve({"*": [json_response(core_response(page, hit_count=25))]})
    records = list(client(make_http, base).iter_records("ketamine"))
    assert len(records) == 10 and len(script.calls) == 1


def test_empty_result_is_one_empty_page(serve: Serve, make_http: MakeHTTP) -> None:
    body = core_response([], hit_count=0, next_cursor="*")
    script, base = serve({"*": [json_response(body)]})
    pages = list(client(make_http, base).search("no such thing"))
    assert len(pages) == 1
    assert (pages[0].hit_count, pages[0].records) == (0, [])
    assert len(script.calls) == 1


def test_404_is_a_source_error_not_retried(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"*": [Response("Not Found", status=404)]})
    with pytest.raises(SourceError, match="404"):
        list(client(make_http, base).search("ketamine"))
    assert len(script.calls) == 1


def test_error_json_in_a_200_is_a_source_error(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"*": [json_response(b'{"errCode": 400, "errMsg": "bad query"}')]})
    with pytest.raises(SourceError, match="bad query"):
        list(client(make_http, base).search("ketamine"))
    assert len(script.calls) == 1


def test_truncated_body_is_retried(serve: Serve, make_http: MakeHTTP) -> None:
    good = NEJM_FIXTURE.read_bytes()
    script, base = serve({"*": [json_response(good[: len(good) // 2]), json_response(good)]})
    records = list(client(make_http, base).iter_records("DOI:10.1056/NEJMoa1504720"))
    assert [r.pmid for r in records] == ["26378978"]
    assert len(script.calls) == 2


def test_always_truncated_body_gives_up(serve: Serve, make_http: MakeHTTP) -> None:
    good = NEJM_FIXTURE.read_bytes()
    script, base = serve({"*": [json_response(good[:-3])]})
    with pytest.raises(TransientHTTPError, match="gave up after 3 attempts"):
        list(client(make_http, base).search("ketamine"))
    assert len(script.calls) == 3


def test_429_with_retry_after_is_honoured(serve: Serve, make_http: MakeHTTP) -> None:
    fast = make_http(max_delay=60.0)
    script, base = serve({"*": [Response("slow down", status=429, headers={"Retry-After": "7"}),
                                json_response(NEJM_FIXTURE.read_bytes())]})
    records = list(EuropePMCClient(fast.http, base, 10).iter_records("x"))
    assert len(records) == 1 and len(script.calls) == 2
    assert fast.pauses == [7.0]


def test_429_without_retry_after_backs_off(serve: Serve, make_http: MakeHTTP) -> None:
    fast = make_http(base_delay=0.1, max_delay=0.5)
    script, base = serve({"*": [Response("slow down", status=429),
                                Response("slow down", status=429),
                                json_response(NEJM_FIXTURE.read_bytes())]})
    records = list(EuropePMCClient(fast.http, base, 10).iter_records("x"))
    assert len(records) == 1 and len(script.calls) == 3
    # exponential back-off with jitter: attempt 0 in [0.05, 0.1], attempt 1 in [0.1, 0.2]
    assert len(fast.pauses) == 2
    assert 0.05 <= fast.pauses[0] <= 0.1 and 0.1 <= fast.pauses[1] <= 0.2


def test_persistent_429_raises_rate_limited(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"*": [Response("slow down", status=429)]})
    with pytest.raises(RateLimited):
        list(client(make_http, base).search("x"))
    assert len(script.calls) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(serve: Serve, make_http: MakeHTTP, status: int) -> None:
    script, base = serve({"*": [Response("oops", status=status),
                                json_response(NEJM_FIXTURE.read_bytes())]})
    records = list(client(make_http, base).iter_records("x"))
    assert len(records) == 1 and len(script.calls) == 2


def test_persistent_503_gives_up(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"*": [Response("down", status=503)]})
    with pytest.raises(TransientHTTPError):
        list(client(make_http, base).search("x"))
    assert len(script.calls) == 3


def _slow_then_fast(delay: float) -> Callable[[Request], Response]:
    calls = {"n": 0}

    def handler(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(delay)
        return json_response(NEJM_FIXTURE.read_bytes())

    return handler


def test_timeout_is_retried(threaded_server: HTTPServer, make_http: MakeHTTP) -> None:
    threaded_server.expect_request("/rest/search").respond_with_handler(_slow_then_fast(1.0))
    fast = make_http(timeout=0.2)
    started = time.monotonic()
    records = list(EuropePMCClient(fast.http, threaded_server.url_for("/rest"), 10)
                   .iter_records("x"))
    assert [r.pmid for r in records] == ["26378978"]
    assert fast.http.requests_made == 2
    assert time.monotonic() - started < 1.0  # did not wait for the slow answer


def test_persistent_timeout_gives_up(threaded_server: HTTPServer, make_http: MakeHTTP) -> None:
    def always_slow(request: Request) -> Response:
        time.sleep(0.5)
        return json_response(NEJM_FIXTURE.read_bytes())

    threaded_server.expect_request("/rest/search").respond_with_handler(always_slow)
    fast = make_http(timeout=0.1, attempts=2)
    with pytest.raises(TransientHTTPError, match="Timeout"):
        list(EuropePMCClient(fast.http, threaded_server.url_for("/rest"), 10).search("x"))
    assert fast.http.requests_made == 2
