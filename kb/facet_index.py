"""An in-memory facet index: the evidence browser's filters, counts and sort orders in numpy.

The SQL in :mod:`kb.browse` is the reference; this index answers the same questions (which
records match, how many carry each label, the first page newest-first or by evidence level,
best full-text matches first) without a query per facet. At 100,000 records a filter change
costs a few milliseconds instead of hundreds. It holds live records only (no merged duplicates,
nothing deleted), is built from one read of the database (:func:`kb.repository.facet_index_rows`),
and is rebuilt when the data version changes (a harvest, a tagging run, a review). Full-text
search still runs in the database (FTS5 / tsvector); its scores are combined here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kb.browse import EVIDENCE_RANK, KETAMINE_RELEVANT, Filters
from kb.taxonomy import FACET_NAMES

Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]
_NULL_LAST = np.iinfo(np.int64).max
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Search:
    """Full-text matches: record ids and scores (lower is better, as FTS5 bm25)."""

    ids: Ints
    scores: NDArray[np.float64]


def _epoch_us(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND  # exact integer arithmetic


def _ids(value: str | Sequence[int]) -> Ints:
    if isinstance(value, str):
        return np.array(value.split(","), dtype=np.int64) if value else np.zeros(0, np.int64)
    return np.asarray(value, dtype=np.int64)


def _epochs(values: Sequence[Any]) -> Ints:
    """Microseconds since the epoch (UTC) of datetimes or ISO strings (as SQLite stores)."""
    if values and all(isinstance(v, str) for v in values):
        try:
            stamps = np.array([v.replace(" ", "T") for v in values], dtype="datetime64[us]")
            return stamps.astype(np.int64)
        except ValueError:  # offsets or other forms: the slow, general path
            pass
    return np.fromiter((_epoch_us(v) for v in values), dtype=np.int64, count=len(values))


@dataclass(frozen=True, slots=True)
class FacetIndex:
    """Column arrays over the live records, in ascending id order (position = array index)."""

    ids: Ints
    year: NDArray[np.int32]  # -1: unknown
    source: NDArray[np.int16]
    sources: tuple[str, ...]
    retracted: Bools
    first_seen: Ints  # microseconds since the epoch, UTC
    human: Bools
    labels: Mapping[str, Mapping[str, Bools]]
    newest: Ints  # positions, newest first (year, date, id: as kb.browse.NEWEST)
    evidence: Ints  # positions by evidence level, then newest
    newest_rank: Ints  # position -> rank in ``newest``

    @property
    def size(self) -> int:
        return int(self.ids.size)

    # --- building ---

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]],
                     labels: Mapping[tuple[str, str], str | Sequence[int]],
                     human: str | Sequence[int]) -> FacetIndex:
        """Build from the live records' columns in id order (``id``, ``year`` (-1: unknown),
        ``date`` ("": unknown), ``source``, ``retracted``, ``first_seen``), the record ids of
        every (facet, label) and of those with human tags (lists, or comma-joined strings)."""
        ids = np.asarray(columns["id"], dtype=np.int64)
        year = np.asarray(columns["year"], dtype=np.int32)
        sources = tuple(sorted(set(columns["source"])))
        code = {s: i for i, s in enumerate(sources)}
        source = np.fromiter((code[s] for s in columns["source"]), dtype=np.int16,
                             count=ids.size)
        retracted = np.asarray(columns["retracted"], dtype=np.bool_)
        first_seen = _epochs(columns["first_seen"])
        dates = np.asarray(columns["date"], dtype=str)

        def member(record_ids: str | Sequence[int]) -> Bools:
            arr = _ids(record_ids)
            out = np.zeros(ids.size, dtype=np.bool_)
            if arr.size and ids.size:
                pos = np.searchsorted(ids, arr)
                ok = pos < ids.size
                pos, arr = pos[ok], arr[ok]
                out[pos[ids[pos] == arr]] = True
            return out

        by_facet: dict[str, dict[str, Bools]] = {f: {} for f in FACET_NAMES}
        for (facet, label), rids in labels.items():
            by_facet.setdefault(facet, {})[label] = member(rids)
        # Sort keys: year desc (unknown last), date desc (none last), id desc.
        year_key = np.where(year < 0, _NULL_LAST, -year.astype(np.int64))
        _, date_rank = np.unique(dates, return_inverse=True)
        date_key = np.where(dates == "", _NULL_LAST, -date_rank.astype(np.int64))
        newest = np.lexsort((-ids, date_key, year_key)).astype(np.int64)
        design = np.full(ids.size, len(EVIDENCE_RANK), dtype=np.int64)
        for label, rank in EVIDENCE_RANK.items():
            arr = by_facet.get("design", {}).get(label)
            if arr is not None:
                design[arr] = np.minimum(design[arr], rank)
        evidence = np.lexsort((-ids, date_key, year_key, design)).astype(np.int64)
        newest_rank = np.empty_like(newest)
        newest_rank[newest] = np.arange(newest.size)
        return cls(ids=ids, year=year, source=source, sources=sources, retracted=retracted,
                   first_seen=first_seen, human=member(human), labels=by_facet,
                   newest=newest, evidence=evidence, newest_rank=newest_rank)

    # --- filtering ---

    def _any(self, facet: str, labels: Sequence[str]) -> Bools:
        out = np.zeros(self.size, dtype=np.bool_)
        for lab in labels:
            arr = self.labels.get(facet, {}).get(lab)
            if arr is not None:
                out |= arr
        return out

    def search_mask(self, search: Search | None) -> Bools | None:
        if search is None:
            return None
        out = np.zeros(self.size, dtype=np.bool_)
        if search.ids.size and self.size:
            pos = np.searchsorted(self.ids, search.ids)
            ok = pos < self.size
            pos = pos[ok]
            out[pos[self.ids[pos] == search.ids[ok]]] = True
        return out

    def mask(self, f: Filters, found: Bools | None = None, *, skip_facet: str | None = None,
             skip_source: bool = False) -> Bools:
        """Records matching ``f`` (``found``: the full-text matches, when searching).

        Mirrors :func:`kb.browse.conditions` exactly; ``skip_facet`` leaves out one facet.
        """
        m = np.ones(self.size, dtype=np.bool_)
        for facet, labels in f.labels.items():
            if facet in ("relevance", skip_facet):
                continue
            m &= self._any(facet, labels)
        if skip_facet != "relevance":
            rel = f.labels.get("relevance", ())
            if rel:
                m &= self._any("relevance", rel)
            elif not f.include_incidental:
                m &= self._any("relevance", KETAMINE_RELEVANT)
        if f.year_from is not None:
            m &= self.year >= f.year_from
        if f.year_to is not None:
            m &= (self.year <= f.year_to) & (self.year >= 0)
        if f.sources and not skip_source:
            codes = [self.sources.index(s) for s in f.sources if s in self.sources]
            m &= np.isin(self.source, codes)
        if not f.show_retracted:
            m &= ~self.retracted
        if f.human_verified:
            m &= self.human
        if f.added_since is not None:
            m &= self.first_seen >= _epoch_us(f.added_since)
        if f.search.strip():
            m &= found if found is not None else False
        return m

    # --- answers (same shapes as the repository's browse functions) ---

    def total(self, f: Filters, found: Bools | None = None,
              also: tuple[str, str] | None = None) -> int:
        m = self.mask(f, found)
        if also is not None:
            m &= self._any(also[0], [also[1]])
        return int(np.count_nonzero(m))

    def counts(self, f: Filters, found: Bools | None = None) -> dict[str, dict[str, int]]:
        """Live counts ``{facet: {label: n}}`` (own facet left out) and ``{"source": ...}``."""
        full = self.mask(f, found)
        out: dict[str, dict[str, int]] = {}
        for facet in FACET_NAMES:
            own = facet == "relevance" or facet in f.labels
            m = self.mask(f, found, skip_facet=facet) if own else full
            counts = {lab: int(np.count_nonzero(m & arr))
                      for lab, arr in self.labels.get(facet, {}).items()}
            out[facet] = {lab: n for lab, n in counts.items() if n}
        m = self.mask(f, found, skip_source=True)
        per = np.bincount(self.source[m], minlength=len(self.sources))
        out["source"] = {s: int(n) for s, n in zip(self.sources, per, strict=True) if n}
        return out

    def page_ids(self, f: Filters, search: Search | None = None, *, limit: int = 25,
                 offset: int = 0) -> tuple[int, list[int]]:
        """``(total, ids of one page)`` in the filters' sort order."""
        found = self.search_mask(search)
        m = self.mask(f, found)
        total = int(np.count_nonzero(m))
        if f.effective_sort == "relevance" and search is not None and search.ids.size:
            pos = np.searchsorted(self.ids, search.ids)
            pos = np.clip(pos, 0, max(self.size - 1, 0))
            keep = (self.ids[pos] == search.ids) & m[pos] if self.size else pos < 0
            pos, scores = pos[keep], search.scores[keep]
            order = pos[np.lexsort((self.newest_rank[pos], scores))]
        else:
            base = self.evidence if f.effective_sort == "evidence" else self.newest
            order = base[m[base]]
        start = max(0, offset)
        return total, [int(i) for i in self.ids[order[start:start + max(1, limit)]]]

    def newest_of(self, f: Filters, found: Bools | None, design: str, limit: int = 3
                  ) -> list[int]:
        narrowed = self.mask(f.with_labels("design", [design]), found)
        order = self.newest[narrowed[self.newest]]
        return [int(i) for i in self.ids[order[:limit]]]


# --- the browser's questions, answered from an index plus the database ---


def load(engine: Any) -> FacetIndex:
    """Build the index from the database (one read; about a second per 100,000 records)."""
    from kb import repository

    rows = repository.facet_index_rows(engine)
    return FacetIndex.from_columns(rows["columns"], rows["labels"], rows["human"])


def search(engine: Any, text: str) -> Search | None:
    """Full-text matches of what a person typed; ``None`` when no search was typed.

    Typing only punctuation is a search that matches nothing (an empty :class:`Search`).
    """
    from kb import repository

    if not text.strip():
        return None
    found = repository.fulltext_scores(engine, text)
    if found is None:
        return Search(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    ids, scores = found
    return Search(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64))


def browse_page(engine: Any, index: FacetIndex, f: Filters, found: Search | None, *,
                limit: int = 25, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """Like :func:`kb.repository.browse_page`: ``(total, rows with labels)``."""
    from kb import repository

    total, ids = index.page_ids(f, found, limit=limit, offset=offset)
    return total, repository.records_by_ids(engine, ids) if ids else []


def browse_counts(index: FacetIndex, f: Filters, found: Search | None
                  ) -> dict[str, dict[str, int]]:
    """Like :func:`kb.repository.browse_counts`."""
    return index.counts(f, index.search_mask(found))


def browse_count(index: FacetIndex, f: Filters, found: Search | None,
                 also: tuple[str, str] | None = None) -> int:
    """Like :func:`kb.repository.browse_count`."""
    return index.total(f, index.search_mask(found), also)


def newest_of_design(engine: Any, index: FacetIndex, f: Filters, found: Search | None,
                     design: str, limit: int = 3) -> list[dict[str, Any]]:
    """Like :func:`kb.repository.newest_of_design`."""
    from kb import repository

    ids = index.newest_of(f, index.search_mask(found), design, limit)
    return repository.records_by_ids(engine, ids) if ids else []
