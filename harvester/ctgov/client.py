"""ClinicalTrials.gov API v2 ``/studies`` client: token paging, incremental, resumable.

``GET {base_url}/studies?query.term=...&pageSize=N&countTotal=true&format=json[&pageToken=T]``.
Incremental harvests add ``filter.advanced=AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]``.
Paging ends when ``nextPageToken`` is absent, repeats a token already used, or a page is empty.
4xx answers are :class:`SourceError`; 429/5xx, timeouts and unparseable bodies are retried by
:class:`PoliteClient`.  Default pace: one request per second (``Crawl-delay: 1`` in the site's
robots.txt; the API documents no limit).

To checkpoint, store ``page.next_page_token`` after processing each page and pass it back as
``page_token=`` with the same query to resume.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

from harvester.ctgov.parser import StudiesPage, parse_studies_page, parse_study
from harvester.errors import ParseError, TransientHTTPError
from harvester.http import PoliteClient
from harvester.ids import normalize_nct
from harvester.records import Trial

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
MAX_PAGE_SIZE = 1000
DEFAULT_RATE = 1.0  # requests per second


def last_update_filter(since: date | None, until: date | None = None) -> str | None:
    """``AREA[LastUpdatePostDate]RANGE[since,until]`` with ``MIN``/``MAX`` for open ends."""
    if since is None and until is None:
        return None
    start = since.isoformat() if since else "MIN"
    end = until.isoformat() if until else "MAX"
    return f"AREA[LastUpdatePostDate]RANGE[{start},{end}]"


class CTGovClient:
    """Searches ClinicalTrials.gov; each page is parsed into :class:`StudiesPage`."""

    def __init__(self, http: PoliteClient | None = None, base_url: str = DEFAULT_BASE_URL,
                 page_size: int = MAX_PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.http = http or PoliteClient(rate=DEFAULT_RATE)
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size

    def build_params(self, term: str | None = None, *, intervention: str | None = None,
                     updated_since: date | None = None, updated_until: date | None = None,
                     advanced: str | None = None) -> dict[str, str]:
        """Query parameters shared by every page of one search (no ``pageToken``)."""
        if not (term or intervention or updated_since or updated_until or advanced):
            raise ValueError("give a term, an intervention, a date window or an advanced filter")
        params = {"format": "json", "pageSize": str(self.page_size), "countTotal": "true"}
        if term:
            params["query.term"] = term
        if intervention:
            params["query.intr"] = intervention
        filters = [f for f in (last_update_filter(updated_since, updated_until), advanced) if f]
        if filters:
            params["filter.advanced"] = " AND ".join(
                f"({f})" if len(filters) > 1 else f for f in filters)
        return params

    def fetch_page(self, params: dict[str, str], page_token: str | None = None) -> StudiesPage:
        """One page; truncated or garbled bodies are retried."""
        query = dict(params)
        if page_token:
            query["pageToken"] = page_token
        parsed: list[StudiesPage] = []

        def validate(body: bytes) -> None:
            try:
                parsed[:] = [parse_studies_page(body)]
            except ParseError as exc:
                raise TransientHTTPError(f"unusable ClinicalTrials.gov body: {exc}") from exc

        self.http.request("GET", f"{self.base_url}/studies", params=query, validate=validate)
        return parsed[0]

    def search(self, term: str | None = None, *, intervention: str | None = None,
               updated_since: date | None = None, updated_until: date | None = None,
               advanced: str | None = None, max_studies: int | None = None,
               page_token: str | None = None) -> Iterator[StudiesPage]:
        """Pages of studies, first to last (the first page is yielded even when empty).

        With ``max_studies`` the last page is cut short and its ``next_page_token`` set back to
        the token that fetched it, so resuming re-reads that page rather than skipping its tail.
        """
        if max_studies is not None and max_studies < 0:
            raise ValueError("max_studies must be >= 0")
        params = self.build_params(term, intervention=intervention, updated_since=updated_since,
                                   updated_until=updated_until, advanced=advanced)
        token = page_token
        seen: set[str | None] = {token}
        delivered = 0
        first = True
        while True:
            page = self.fetch_page(params, token)
            if max_studies is not None and delivered + len(page.studies) > max_studies:
                page.studies = page.studies[: max_studies - delivered]
                page.next_page_token = token
                yield page
                return
            delivered += len(page.studies)
            if page.studies or first:
                yield page
            first = False
            nxt = page.next_page_token
            if not page.studies:
                return
            if not nxt or nxt in seen:
                if nxt:
                    log.warning("ClinicalTrials.gov repeated page token %s; stopping after %d "
                                "studies", nxt, delivered)
                return
            if max_studies is not None and delivered >= max_studies:
                return
            seen.add(nxt)
            token = nxt

    def iter_trials(self, term: str | None = None, *, intervention: str | None = None,
                    updated_since: date | None = None, updated_until: date | None = None,
                    advanced: str | None = None, max_studies: int | None = None,
                    page_token: str | None = None) -> Iterator[Trial]:
        """The trials of :meth:`search`, flattened."""
        for page in self.search(term, intervention=intervention, updated_since=updated_since,
                                updated_until=updated_until, advanced=advanced,
                                max_studies=max_studies, page_token=page_token):
            yield from page.studies

    def get_study(self, nct_id: str) -> Trial:
        """``/studies/{nctId}``; a 404 (unknown id) is a :class:`SourceError`."""
        nct = normalize_nct(nct_id)
        if not nct:
            raise ValueError(f"not an NCT id: {nct_id!r}")
        parsed: list[Trial] = []

        def validate(body: bytes) -> None:
            try:
                parsed[:] = [parse_study(body)]
            except ParseError as exc:
                raise TransientHTTPError(f"unusable ClinicalTrials.gov body: {exc}") from exc

        self.http.request("GET", f"{self.base_url}/studies/{nct}", params={"format": "json"},
                          validate=validate)
        return parsed[0]
