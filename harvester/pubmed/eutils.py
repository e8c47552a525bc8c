"""NCBI E-utilities client for PubMed: ``esearch`` (with date splitting) and ``efetch``.

Every request is a ``POST`` (parameters in the form body) through a :class:`PoliteClient`:
``tool``, ``email`` and, when set, ``api_key`` go with each one, and a key never lands in a
request URL, a log line or an exception message.  The default rate is 3 requests/s without a key
and 10/s with one (NCBI's limits).

Failures are failures, never "0 results":

* ``esearch``: an ``<ERROR>`` element is raised (:class:`TransientHTTPError` for the backend
  hiccups NCBI reports that way, retried; :class:`SourceError` otherwise); an ``ErrorList`` is
  raised as :class:`SourceError`, with one exception: ``PhraseNotFound`` with ``Count`` 0 is a
  genuine empty result (PubMed's answer to a term it does not index, as in
  ``tests/data/eutils/biopython_esearch8.xml``); the phrases are kept in
  :attr:`SearchResult.phrases_not_found` and logged.  ``PhraseNotFound`` with a non-zero count
  is raised, because PubMed then counted a query other than the one asked (the phrase dropped).
  ``WarningList`` entries are informational (:attr:`SearchResult.warnings`).
* NCBI's rate-limit JSON (``{"error":"API rate limit exceeded",...}``, with status 429 or 200),
  5xx, timeouts and dropped connections are retried with backoff by the :class:`PoliteClient`.
* ``efetch`` counts the articles that came back against the ids asked for.  A truncated or
  garbled body, an ``<ERROR>`` in it or a short answer is retried for the ids still missing; a
  batch that keeps failing to parse is bisected so one bad record cannot sink its neighbours.
  Ids still missing at the end are reported in :attr:`FetchResult.missing`; only a batch that
  produced nothing on every attempt raises.

PubMed's ``esearch`` returns at most 9,999 ids per query (``retstart + retmax <= 9999``):
:meth:`EUtilsClient.iter_slices` halves the date window until each slice fits, down to a single
day; a single day over the cap raises :class:`ResultCapExceeded` instead of truncating.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from lxml import etree

from harvester.errors import (
    HarvestError,
    ParseError,
    SourceError,
    TransientHTTPError,
)
from harvester.http import PoliteClient
from harvester.pubmed.parser import parse_pubmed_xml
from harvester.records import Deletion, Record

__all__ = [
    "DEFAULT_BASE_URL",
    "ESEARCH_CAP",
    "MAX_BATCH",
    "DateType",
    "EUtilsClient",
    "FetchResult",
    "IdSlice",
    "ResultCapExceeded",
    "SearchResult",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ESEARCH_CAP = 9999  # PubMed esearch: retstart + retmax may not exceed this
MAX_BATCH = 500  # ids per efetch request
RATE_NO_KEY = 3.0  # requests per second NCBI allows without an API key
RATE_WITH_KEY = 10.0  # ... and with one

DateType = Literal["edat", "mdat", "pdat"]
_DATETYPES = frozenset({"edat", "mdat", "pdat"})

# <ERROR> texts NCBI (or its proxies) send for a passing backend problem: worth a retry.
_TRANSIENT_ERROR = re.compile(
    r"backend|temporar|unavailable|timed?[ +]?out|try[ +]again|server[ +]error|bad[ +]gateway"
    r"|error[ +]reading[ +]from[ +]remote|internal[ +]error|cannot[ +]process",
    re.IGNORECASE,
)
# <ERROR> texts that mean "none of these ids exist": an answer, not a failure.
_NO_SUCH_IDS = re.compile(r"id[ +]list[ +]is[ +]empty|id[ +]parameter[ +]is[ +]empty",
                          re.IGNORECASE)
_ERROR_ELEMENT = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)

_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                              huge_tree=False, remove_comments=True, remove_pis=True)


class ResultCapExceeded(SourceError):
    """A single day matches more ids than esearch can return (9,999): not silently truncated."""

    def __init__(self, query: str, day: date, datetype: str, count: int):
        super().__init__(
            f"esearch: {count} ids on {day.isoformat()} ({datetype}) for query {query!r}, "
            f"more than the {ESEARCH_CAP} PubMed returns for one query; narrow the query"
        )
        self.query = query
        self.day = day
        self.datetype = datetype
        self.count = count


@dataclass(slots=True)
class SearchResult:
    """One ``esearch`` answer."""

    count: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    query_translation: str | None = None
    retstart: int = 0
    phrases_not_found: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IdSlice:
    """The ids of one date window small enough for one esearch (``since``/``until`` inclusive)."""

    since: date
    until: date
    count: int
    ids: list[str]


@dataclass(slots=True)
class FetchResult:
    """Parsed ``efetch`` output; ``missing`` lists requested ids that never came back."""

    records: list[Record] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def extend(self, other: FetchResult) -> None:
        self.records.extend(other.records)
        self.deletions.extend(other.deletions)
        self.missing.extend(other.missing)


class EUtilsClient:
    """PubMed through NCBI E-utilities.

    ``http`` is used as given (its own rate and retry policy); without one a
    :class:`PoliteClient` is built at ``rate`` requests/s, by default 3 (10 with ``api_key``),
    and never faster than NCBI allows.
    """

    def __init__(self, http: PoliteClient | None = None, *, base_url: str = DEFAULT_BASE_URL,
                 api_key: str | None, email: str | None, tool: str = "ketamine-kb",
                 batch_size: int = 200, rate: float | None = None) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if http is not None and rate is not None:
            raise ValueError("give the rate to the PoliteClient you pass, not to EUtilsClient")
        limit = RATE_WITH_KEY if api_key else RATE_NO_KEY
        if rate is not None and not 0 < rate <= limit:
            raise ValueError(f"rate must be in (0, {limit}] requests/s "
                             f"({'with' if api_key else 'without'} an API key)")
        self._owns_http = http is None
        self.http = http if http is not None else PoliteClient(rate=rate or limit)
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key or None
        self.email = email or None
        self.tool = tool
        self.batch_size = batch_size
        if not self.email:
            log.warning("E-utilities: no contact email configured; NCBI asks for one")

    def __repr__(self) -> str:  # never show the key
        return (f"EUtilsClient(base_url={self.base_url!r}, tool={self.tool!r}, "
                f"email={self.email!r}, api_key={'***' if self._api_key else None})")

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> EUtilsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- plumbing

    def _params(self, **params: Any) -> dict[str, Any]:
        params["tool"] = self.tool
        if self.email:
            params["email"] = self.email
        if self._api_key:
            params["api_key"] = self._api_key
        return params

    def _post(self, endpoint: str, data: dict[str, Any],
              validate: Callable[[bytes], None] | None = None) -> bytes:
        return self.http.request("POST", self.base_url + endpoint, data=self._params(**data),
                                 validate=validate)

    # ---------------------------------------------------------------------------- esearch

    def esearch(self, query: str, *, mindate: date | None = None, maxdate: date | None = None,
                datetype: DateType = "edat", retstart: int = 0,
                retmax: int = ESEARCH_CAP) -> SearchResult:
        """One ``esearch.fcgi`` call (``db=pubmed&usehistory=y``); dates are inclusive.

        Raises ``ValueError`` for ``retstart + retmax`` past the 9,999 cap, and
        :class:`SourceError` / :class:`TransientHTTPError` / :class:`RateLimited` when PubMed
        answers with an error (see the module docstring).
        """
        if datetype not in _DATETYPES:
            raise ValueError(f"datetype must be one of {sorted(_DATETYPES)}")
        if retstart < 0 or retmax < 0 or retstart + retmax > ESEARCH_CAP:
            raise ValueError(f"retstart + retmax must be within 0..{ESEARCH_CAP} "
                             f"(got {retstart} + {retmax})")
        if (mindate is None) != (maxdate is None):
            raise ValueError("give both mindate and maxdate, or neither")
        data: dict[str, Any] = {"db": "pubmed", "term": query, "usehistory": "y",
                                "retstart": retstart, "retmax": retmax}
        if mindate is not None and maxdate is not None:
            if mindate > maxdate:
                raise ValueError("mindate is after maxdate")
            data.update(datetype=datetype, mindate=mindate.strftime("%Y/%m/%d"),
                        maxdate=maxdate.strftime("%Y/%m/%d"))
        parsed: list[SearchResult] = []

        def validate(body: bytes) -> None:
            parsed.append(_parse_esearch(body))

        self._post("esearch.fcgi", data, validate)
        result = parsed[-1]
        if result.phrases_not_found:
            log.warning("esearch: PubMed does not index %s (query %r); %d results",
                        result.phrases_not_found, query, result.count)
        return result

    def iter_slices(self, query: str, since: date, until: date,
                    datetype: DateType = "edat") -> Iterator[IdSlice]:
        """Every id matching ``query`` with ``datetype`` in ``since..until`` (inclusive), in
        chronological slices of at most 9,999 ids (the window is halved until each fits).

        Raises :class:`ResultCapExceeded` if one day alone exceeds the cap.
        """
        if since > until:
            raise ValueError("since is after until")
        stack = [(since, until)]
        while stack:
            lo, hi = stack.pop()
            first = self.esearch(query, mindate=lo, maxdate=hi, datetype=datetype,
                                 retmax=ESEARCH_CAP)
            if first.count > ESEARCH_CAP:
                if lo == hi:
                    raise ResultCapExceeded(query, lo, datetype, first.count)
                mid = lo + timedelta(days=(hi - lo).days // 2)
                log.info("esearch: %d ids in %s..%s (%s) > %d; splitting the window",
                         first.count, lo, hi, datetype, ESEARCH_CAP)
                stack.append((mid + timedelta(days=1), hi))  # popped second: stays in order
                stack.append((lo, mid))
                continue
            ids = list(dict.fromkeys(first.ids))
            while len(ids) < first.count:  # a short page: ask for the rest, within the cap
                retstart = len(ids)
                retmax = min(ESEARCH_CAP, first.count) - retstart
                page = self.esearch(query, mindate=lo, maxdate=hi, datetype=datetype,
                                    retstart=retstart, retmax=retmax)
                before = len(ids)
                ids = list(dict.fromkeys([*ids, *page.ids]))
                if len(ids) == before:
                    log.warning("esearch: %s..%s (%s) reports %d ids but returned %d",
                                lo, hi, datetype, first.count, len(ids))
                    break
            yield IdSlice(lo, hi, first.count, ids)

    def iter_ids(self, query: str, since: date, until: date,
                 datetype: DateType = "edat") -> Iterator[list[str]]:
        """The ids of :meth:`iter_slices`, one list per slice."""
        for piece in self.iter_slices(query, since, until, datetype):
            yield piece.ids

    def search_window(self, query: str, since: date, until: date, *,
                      datetypes: Sequence[DateType] = ("edat", "mdat")) -> list[str]:
        """Ids added (``edat``) or revised (``mdat``) in ``since..until`` (inclusive):
        de-duplicated, in ascending numeric PMID order."""
        seen: set[str] = set()
        for datetype in datetypes:
            for ids in self.iter_ids(query, since, until, datetype):
                seen.update(ids)
        return sorted(seen, key=lambda pmid: (len(pmid), pmid))

    # ---------------------------------------------------------------------------- efetch

    def iter_fetch(self, ids: Sequence[str]) -> Iterator[FetchResult]:
        """:meth:`efetch`, one :class:`FetchResult` per batch of ``batch_size`` ids."""
        wanted = list(dict.fromkeys(_check_pmid(i) for i in ids))
        for start in range(0, len(wanted), self.batch_size):
            yield self._fetch_batch(wanted[start:start + self.batch_size])

    def efetch(self, ids: Sequence[str]) -> FetchResult:
        """Fetch and parse the PubMed records for ``ids`` (POST ``efetch.fcgi``, XML).

        Ids that never came back after the retries are in ``missing``; raises only when a
        whole batch produced nothing on every attempt.
        """
        total = FetchResult()
        for part in self.iter_fetch(ids):
            total.extend(part)
        return total

    def _fetch_batch(self, ids: list[str]) -> FetchResult:
        acc = _Batch(ids)
        attempts = max(1, self.http.retry.attempts)
        # Enough requests to retry the whole batch and then bisect down to one bad record.
        budget = attempts + 2 * math.ceil(math.log2(len(ids))) + 2
        work: list[tuple[list[str], int]] = [(ids, attempts)]
        while work and acc.requests < budget:
            group, tries = work.pop()
            group = acc.pending(group)
            problem: Exception | None = None
            for attempt in range(tries):
                if not group or acc.requests >= budget:
                    break
                if attempt:
                    self.http.sleep(self.http.retry.delay(attempt - 1))
                acc.requests += 1
                try:
                    body = self._post("efetch.fcgi", {"db": "pubmed", "retmode": "xml",
                                                      "id": ",".join(group)})
                except HarvestError as exc:
                    # The PoliteClient already retried this with backoff: the source is down
                    # or refusing us, so stop here.
                    return acc.finish(exc)
                problem, no_such_ids = acc.absorb(body)
                before, group = len(group), acc.pending(group)
                if not group:
                    break
                if problem is None:
                    problem = _Short(f"efetch: {len(group)} of the ids asked for did not come back")
                    # The same well-formed answer twice (or an explicit "no such ids"): they
                    # do not exist (deleted or never valid); stop asking.
                    if no_such_ids or (attempt and len(group) == before):
                        acc.answered = True
                        break
                log.warning("efetch: %s; %d ids pending (attempt %d/%d)", problem, len(group),
                            attempt + 1, tries)
            if group and isinstance(problem, ParseError) and len(group) > 1:
                half = len(group) // 2
                work.append((group[half:], 1))
                work.append((group[:half], 1))
        return acc.finish(None)


class _Short(HarvestError):
    """A well-formed efetch answer without some of the requested articles."""


class _Batch:
    """What one efetch batch has gathered so far."""

    def __init__(self, ids: list[str]):
        self.ids = ids
        self.records: dict[str, Record] = {}
        self.unkeyed: list[Record] = []
        self.deletions: list[Deletion] = []
        self.deleted: set[str] = set()
        self.requests = 0
        self.answered = False  # a well-formed answer came back at least once
        self.last_problem: Exception | None = None

    def pending(self, group: list[str]) -> list[str]:
        return [i for i in group if i not in self.records and i not in self.deleted]

    def absorb(self, body: bytes) -> tuple[Exception | None, bool]:
        """Keep the articles in ``body``; return (the problem with it, "no such ids" answer)."""
        errors = [m.decode("utf-8", "replace").strip()
                  for m in _ERROR_ELEMENT.findall(body[:1_000_000])]
        no_such_ids = bool(errors) and all(_NO_SUCH_IDS.search(e) for e in errors)
        problem: Exception | None = None
        if errors and not no_such_ids:
            problem = SourceError("efetch error: " + "; ".join(errors)[:300])
        if b"<PubmedArticleSet" in body[:4096] or not errors:
            # Salvage every complete article, even from a body with an error in it.
            try:
                for item in parse_pubmed_xml(body):
                    if isinstance(item, Deletion):
                        self.deletions.append(item)
                        self.deleted.update(item.pmids)
                    elif item.pmid:
                        self.records.setdefault(item.pmid, item)
                    else:
                        self.unkeyed.append(item)
            except ParseError as exc:
                problem = exc
        # else: an <eFetchResult> holding only <ERROR>s, which the article parser refuses.
        if problem is None:
            self.answered = True
        else:
            self.last_problem = problem
        return problem, no_such_ids

    def finish(self, failure: Exception | None) -> FetchResult:
        missing = self.pending(self.ids)
        got = len(self.ids) - len(missing)
        if got == 0 and not self.answered and not self.unkeyed:
            cause = failure or self.last_problem
            message = (f"efetch: none of {len(self.ids)} ids could be fetched "
                       f"({type(cause).__name__}: {cause})")
            if isinstance(cause, SourceError):
                raise SourceError(message) from cause
            raise TransientHTTPError(message) from cause
        if missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            log.warning("efetch: %d of %d ids missing after %d requests: %s", len(missing),
                        len(self.ids), self.requests, shown)
        wanted = set(self.ids)
        ordered = [self.records[i] for i in self.ids if i in self.records]
        extra = [r for k, r in self.records.items() if k not in wanted]
        return FetchResult(records=ordered + extra + self.unkeyed, deletions=self.deletions,
                           missing=missing)


def _check_pmid(value: str) -> str:
    pmid = str(value).strip()
    if not pmid.isdigit() or not pmid.isascii():
        raise ValueError(f"not a PMID: {value!r}")
    return pmid


def _parse_esearch(body: bytes) -> SearchResult:
    """An ``eSearchResult`` document, or the error it carries (raised)."""
    try:
        root = etree.fromstring(body, parser=_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise TransientHTTPError(f"esearch: unparseable response ({exc})") from None
    if root is None or root.tag != "eSearchResult":
        tag = None if root is None else root.tag
        raise TransientHTTPError(f"esearch: unexpected response <{tag}>")
    errors = [(e.text or "").strip() for e in root.iter("ERROR")]
    if errors:
        message = "esearch error: " + "; ".join(errors)[:300]
        if any(_TRANSIENT_ERROR.search(e) for e in errors):
            raise TransientHTTPError(message)
        raise SourceError(message)
    count_text = (root.findtext("Count") or "").strip()
    if not count_text.isdigit():
        raise TransientHTTPError("esearch: response without a Count")
    count = int(count_text)
    problems: list[tuple[str, str]] = []
    error_list = root.find("ErrorList")
    if error_list is not None:
        problems = [(str(e.tag), (e.text or "").strip()) for e in error_list
                    if isinstance(e.tag, str)]
    not_found = [text for tag, text in problems if tag == "PhraseNotFound"]
    others = [f"{tag}: {text}" for tag, text in problems if tag != "PhraseNotFound"]
    if others:
        raise SourceError("esearch: query errors: " + "; ".join(others)[:300])
    if not_found and count:
        raise SourceError(f"esearch: PubMed dropped phrase(s) {not_found} it does not index; "
                          f"its {count} results are for a different query")
    warnings_el = root.find("WarningList")
    warnings = [] if warnings_el is None else [
        f"{w.tag}: {(w.text or '').strip()}" for w in warnings_el if isinstance(w.tag, str)]
    ids = [t for e in root.iterfind("IdList/Id") if (t := (e.text or "").strip())]
    retstart = (root.findtext("RetStart") or "0").strip()
    return SearchResult(
        count=count,
        ids=ids,
        webenv=(root.findtext("WebEnv") or "").strip() or None,
        query_key=(root.findtext("QueryKey") or "").strip() or None,
        query_translation=(root.findtext("QueryTranslation") or "").strip() or None,
        retstart=int(retstart) if retstart.isdigit() else 0,
        phrases_not_found=not_found,
        warnings=warnings,
    )
