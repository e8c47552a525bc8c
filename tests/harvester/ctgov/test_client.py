"""ClinicalTrials.gov client against a local server: paging, resume, filters and every fault."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.ctgov.client import DEFAULT_RATE, CTGovClient, last_update_filter
from harvester.errors import RateLimited, SourceError, TransientHTTPError
from tests.harvester.fast_http import FastHTTP, Reply, json_response

from .conftest import (
    Script,
    all_studies,
    paged,
    real_study,
    studies_page,
    token_for,
)

Serve = Callable[[dict[str, list[Reply]]], tuple[Script, str]]
MakeHTTP = Callable[..., FastHTTP]

STUDIES = all_studies()  # 9 studies -> 3 pages of 3
ALL_NCT = [s["protocolSection"]["identificationModule"]["nctId"] for s in STUDIES]


def routes(bodies: dict[str, bytes]) -> dict[str, list[Reply]]:
    return {token: [json_response(body)] for token, body in bodies.items()}


def ctgov(make_http: MakeHTTP, base: str, page_size: int = 3, **kw: float) -> CTGovClient:
    return CTGovClient(make_http(**kw).http, base, page_size)


def one_study_body() -> bytes:
    return studies_page([real_study("NCT05013879")])


# ------------------------------------------------------------------ paging and parameters


def test_pages_through_three_pages(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES, 3)))
    pages = list(ctgov(make_http, base).search("ketamine"))
    assert [len(p.studies) for p in pages] == [3, 3, 3]
    assert [t.nct_id for p in pages for t in p.studies] == ALL_NCT
    assert script.tokens == ["", token_for(1), token_for(2)]
    assert "pageToken" not in script.calls[0]  # "Do not specify it for the first page"
    assert pages[0].total_count == 9 and pages[1].total_count is None
    assert pages[-1].next_page_token is None
    first = script.calls[0]
    assert first == {"format": "json", "pageSize": "3", "countTotal": "true",
                     "query.term": "ketamine"}


def test_intervention_and_incremental_filter(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES[:2], 3)))
    list(ctgov(make_http, base).search(intervention="esketamine",
                                       updated_since=date(2024, 1, 1)))
    call = script.calls[0]
    assert call["query.intr"] == "esketamine"
    assert "query.term" not in call
    assert call["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"


def test_date_window_and_extra_filter_are_combined(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES[:2], 3)))
    list(ctgov(make_http, base).search("ketamine", updated_since=date(2024, 1, 1),
                                       updated_until=date(2024, 6, 30),
                                       advanced="AREA[Phase]PHASE3"))
    assert script.calls[0]["filter.advanced"] == (
        "(AREA[LastUpdatePostDate]RANGE[2024-01-01,2024-06-30]) AND (AREA[Phase]PHASE3)")


def test_last_update_filter() -> None:
    assert last_update_filter(date(2024, 1, 1)) == "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"
    assert last_update_filter(None, date(2020, 1, 31)) == (
        "AREA[LastUpdatePostDate]RANGE[MIN,2020-01-31]")
    assert last_update_filter(None) is None


def test_resume_from_a_page_token(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES, 3)))
    run = ctgov(make_http, base).search("ketamine")
    first = next(run)
    checkpoint = first.next_page_token
    del run  # the harvest dies here
    resumed = list(ctgov(make_http, base).search("ketamine", page_token=checkpoint))
    assert script.tokens == ["", token_for(1), token_for(2)]
    got = [t.nct_id for t in first.studies] + [t.nct_id for p in resumed for t in p.studies]
    assert got == ALL_NCT


def test_max_studies_cuts_and_resumes_without_gaps(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES, 3)))
    pages = list(ctgov(make_http, base).search("ketamine", max_studies=4))
    got = [t.nct_id for p in pages for t in p.studies]
    assert got == ALL_NCT[:4] and len(script.calls) == 2
    assert pages[-1].next_page_token == token_for(1)  # points back at the cut page
    rest = [t.nct_id for t in ctgov(make_http, base).iter_trials(
        "ketamine", page_token=pages[-1].next_page_token)]
    assert set(ALL_NCT) <= set(got + rest)


def test_max_studies_on_page_boundary(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve(routes(paged(STUDIES, 3)))
    got = list(ctgov(make_http, base).iter_trials("ketamine", max_studies=3))
    assert len(got) == 3 and len(script.calls) == 1


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        CTGovClient(None, page_size=1001)
    with pytest.raises(ValueError):
        CTGovClient(None).build_params()
    with pytest.raises(ValueError):
        CTGovClient(None).get_study("12345")


def test_default_pace_is_one_request_per_second() -> None:
    client = CTGovClient()
    assert DEFAULT_RATE == 1.0
    assert client.http.limiter.interval == pytest.approx(1.0)
    client.http.close()


# ------------------------------------------------------------------ loop guards


def test_repeated_token_ends_the_loop(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({
        "": [json_response(studies_page(STUDIES[:3], token_for(1), 9))],
        token_for(1): [json_response(studies_page(STUDIES[3:6], token_for(1)))],
    })
    got = list(ctgov(make_http, base).iter_trials("ketamine"))
    assert len(got) == 6
    assert script.tokens == ["", token_for(1)]


def test_token_cycling_back_ends_the_loop(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({
        "": [json_response(studies_page(STUDIES[:3], token_for(1), 9))],
        token_for(1): [json_response(studies_page(STUDIES[3:6], token_for(2)))],
        token_for(2): [json_response(studies_page(STUDIES[6:], token_for(1)))],
    })
    list(ctgov(make_http, base).search("ketamine"))
    assert script.tokens == ["", token_for(1), token_for(2)]


def test_empty_page_with_a_token_ends_the_loop(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({
        "": [json_response(studies_page(STUDIES[:3], token_for(1), 500))],
        token_for(1): [json_response(studies_page([], token_for(2)))],
    })
    got = list(ctgov(make_http, base).iter_trials("ketamine"))
    assert len(got) == 3 and len(script.calls) == 2


def test_no_hits(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"": [json_response(studies_page([], None, 0))]})
    pages = list(ctgov(make_http, base).search("no such drug"))
    assert len(pages) == 1 and pages[0].studies == [] and pages[0].total_count == 0
    assert len(script.calls) == 1


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("status", [400, 404])
def test_4xx_is_source_error_not_retried(serve: Serve, make_http: MakeHTTP,
                                         status: int) -> None:
    script, base = serve({"": [Response("bad request", status=status)]})
    with pytest.raises(SourceError, match=str(status)):
        list(ctgov(make_http, base).search("ketamine"))
    assert len(script.calls) == 1


def test_error_object_in_200_is_source_error(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"": [json_response(b'{"message": "query syntax error"}')]})
    with pytest.raises(SourceError, match="query syntax error"):
        list(ctgov(make_http, base).search("ketamine"))
    assert len(script.calls) == 1


def test_truncated_body_is_retried(serve: Serve, make_http: MakeHTTP) -> None:
    good = one_study_body()
    script, base = serve({"": [json_response(good[:200]), json_response(good)]})
    got = list(ctgov(make_http, base).iter_trials("x"))
    assert [t.nct_id for t in got] == ["NCT05013879"] and len(script.calls) == 2


def test_always_truncated_gives_up(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"": [json_response(one_study_body()[:-1])]})
    with pytest.raises(TransientHTTPError, match="gave up"):
        list(ctgov(make_http, base).search("x"))
    assert len(script.calls) == 3


def test_429_with_retry_after(serve: Serve, make_http: MakeHTTP) -> None:
    fast = make_http(max_delay=60.0)
    script, base = serve({"": [Response("", status=429, headers={"Retry-After": "5"}),
                               json_response(one_study_body())]})
    got = list(CTGovClient(fast.http, base, 3).iter_trials("x"))
    assert len(got) == 1 and len(script.calls) == 2
    assert fast.pauses == [5.0]


def test_429_without_retry_after(serve: Serve, make_http: MakeHTTP) -> None:
    fast = make_http(base_delay=0.2, max_delay=1.0)
    script, base = serve({"": [Response("", status=429), json_response(one_study_body())]})
    got = list(CTGovClient(fast.http, base, 3).iter_trials("x"))
    assert len(got) == 1 and len(script.calls) == 2
    assert len(fast.pauses) == 1 and 0.1 <= fast.pauses[0] <= 0.2


def test_persistent_429(serve: Serve, make_http: MakeHTTP) -> None:
    script, base = serve({"": [Response("", status=429)]})
    with pytest.raises(RateLimited):
        list(ctgov(make_http, base).search("x"))
    assert len(script.calls) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_retried(serve: Serve, make_http: MakeHTTP, status: int) -> None:
    script, base = serve({"": [Response("", status=status), json_response(one_study_body())]})
    assert len(list(ctgov(make_http, base).iter_trials("x"))) == 1
    assert len(script.calls) == 2


def test_timeout_retried(threaded_server: HTTPServer, make_http: MakeHTTP) -> None:
    calls = {"n": 0}

    def slow_once(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(1.0)
        return json_response(one_study_body())

    threaded_server.expect_request("/api/v2/studies").respond_with_handler(slow_once)
    fast = make_http(timeout=0.2)
    started = time.monotonic()
    got = list(CTGovClient(fast.http, threaded_server.url_for("/api/v2"), 3).iter_trials("x"))
    assert [t.nct_id for t in got] == ["NCT05013879"]
    assert fast.http.requests_made == 2
    assert time.monotonic() - started < 1.0


def test_persistent_timeout(threaded_server: HTTPServer, make_http: MakeHTTP) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return json_response(one_study_body())

    threaded_server.expect_request("/api/v2/studies").respond_with_handler(slow)
    fast = make_http(timeout=0.1, attempts=2)
    with pytest.raises(TransientHTTPError, match="Timeout"):
        list(CTGovClient(fast.http, threaded_server.url_for("/api/v2"), 3).search("x"))
    assert fast.http.requests_made == 2


# ------------------------------------------------------------------ single study


def test_get_study(httpserver: HTTPServer, make_http: MakeHTTP) -> None:
    httpserver.expect_request("/api/v2/studies/NCT00517179").respond_with_data(
        json.dumps(real_study("NCT00517179")), content_type="application/json")
    trial = ctgov(make_http, httpserver.url_for("/api/v2")).get_study("nct00517179")
    assert trial.nct_id == "NCT00517179" and trial.enrollment == 40


def test_get_unknown_study_is_source_error(httpserver: HTTPServer, make_http: MakeHTTP) -> None:
    httpserver.expect_request("/api/v2/studies/NCT99999999").respond_with_data(
        "Study not found", status=404)
    with pytest.raises(SourceError, match="404"):
        ctgov(make_http, httpserver.url_for("/api/v2")).get_study("NCT99999999")
