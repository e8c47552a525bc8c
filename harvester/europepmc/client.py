"""Europe PMC REST search client: cursor paging, incremental date windows, resumable.

``GET {base_url}/search?query=...&resultType=core&format=json&pageSize=N&cursorMark=*``; each
response carries ``nextCursorMark`` for the next page.  Known faults guarded against:

* ``hitCount`` larger than what the pages deliver: paging stops at the first empty page, when
  ``nextCursorMark`` is missing, or when the cursor does not advance (never loops forever);
* truncated or malformed bodies are retried (``validate`` raises ``TransientHTTPError``);
* an error payload in a 200 answer, or a 4xx such as 404, is a :class:`SourceError`;
* an empty result is ``hitCount: 0``: one empty page, no error.

To checkpoint, store ``page.next_cursor_mark`` after processing each page and pass it back as
``cursor_mark=`` (with the same query and dates) to resume.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

from harvester.errors import ParseError, TransientHTTPError
from harvester.europepmc.parser import SearchPage, parse_search_response
from harvester.http import PoliteClient
from harvester.records import Record

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest"
MAX_PAGE_SIZE = 1000
FIRST_CURSOR = "*"
# Search fields usable for an incremental window (all date-valued Europe PMC search fields).
DATE_FIELDS = frozenset({"FIRST_PDATE", "UPDATE_DATE", "INDEX_DATE", "FIRST_IDATE", "P_PDATE",
                         "E_PDATE", "CREATION_DATE"})
OPEN_START = "1800-01-01"
OPEN_END = "3000-12-31"  # Europe PMC's own idiom for "up to the present"


class EuropePMCClient:
    """Searches Europe PMC; every page is parsed into :class:`SearchPage` with records."""

    def __init__(self, http: PoliteClient | None = None, base_url: str = DEFAULT_BASE_URL,
                 page_size: int = MAX_PAGE_SIZE, *, date_field: str = "FIRST_PDATE") -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if date_field not in DATE_FIELDS:
            raise ValueError(f"date_field must be one of {sorted(DATE_FIELDS)}")
        self.http = http or PoliteClient()
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.date_field = date_field

    def build_query(self, query: str, since: date | None = None, until: date | None = None,
                    date_field: str | None = None) -> str:
        """``(query) AND FIRST_PDATE:[since TO until]`` (inclusive); the query alone if no dates."""
        if since is None and until is None:
            return query
        field = date_field or self.date_field
        if field not in DATE_FIELDS:
            raise ValueError(f"date_field must be one of {sorted(DATE_FIELDS)}")
        start = since.isoformat() if since else OPEN_START
        end = until.isoformat() if until else OPEN_END
        return f"({query}) AND {field}:[{start} TO {end}]"

    def fetch_page(self, query: str, cursor_mark: str = FIRST_CURSOR) -> SearchPage:
        """One page for an already built query; retries truncated/garbled bodies."""
        params = {"query": query, "resultType": "core", "format": "json",
                  "pageSize": str(self.page_size), "cursorMark": cursor_mark}
        parsed: list[SearchPage] = []

        def validate(body: bytes) -> None:
            try:
                parsed[:] = [parse_search_response(body)]
            except ParseError as exc:
                raise TransientHTTPError(f"unusable Europe PMC body: {exc}") from exc

        self.http.request("GET", f"{self.base_url}/search", params=params, validate=validate)
        page = parsed[0]
        page.cursor_mark = cursor_mark
        return page

    def search(self, query: str, since: date | None = None, until: date | None = None,
               max_records: int | None = None, *, cursor_mark: str = FIRST_CURSOR,
               date_field: str | None = None) -> Iterator[SearchPage]:
        """Pages of results, first to last (the first page is yielded even when empty).

        With ``max_records`` the last page is cut short; its ``next_cursor_mark`` is then set back
        to its own ``cursor_mark`` so that resuming re-reads that page (records are upserted, so
        the repeats are harmless) instead of skipping its tail.
        """
        if max_records is not None and max_records < 0:
            raise ValueError("max_records must be >= 0")
        full_query = self.build_query(query, since, until, date_field)
        cursor = cursor_mark or FIRST_CURSOR
        seen = {cursor}
        delivered = 0
        first = True
        while True:
            if max_records is not None and delivered >= max_records and not first:
                return
            page = self.fetch_page(full_query, cursor)
            if max_records is not None and delivered + len(page.records) > max_records:
                page.records = page.records[: max_records - delivered]
                page.next_cursor_mark = cursor
                delivered += len(page.records)
                yield page
                return
            delivered += len(page.records)
            if page.records or first:
                yield page
            first = False
            nxt = page.next_cursor_mark
            if not page.records:
                if page.hit_count > delivered:
                    log.warning("Europe PMC: empty page at cursor %s although hitCount is %d "
                                "(%d delivered); stopping", cursor, page.hit_count, delivered)
                return
            if not nxt or nxt in seen:
                if nxt and page.hit_count > delivered:
                    log.warning("Europe PMC: cursor did not advance (%s); stopping after %d of "
                                "%d hits", nxt, delivered, page.hit_count)
                return
            seen.add(nxt)
            cursor = nxt

    def iter_records(self, query: str, since: date | None = None, until: date | None = None,
                     max_records: int | None = None, *, cursor_mark: str = FIRST_CURSOR,
                     date_field: str | None = None) -> Iterator[Record]:
        """The records of :meth:`search`, flattened."""
        for page in self.search(query, since, until, max_records, cursor_mark=cursor_mark,
                                date_field=date_field):
            yield from page.records
