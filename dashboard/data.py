"""Cached data access: thin wrappers over ``kb.repository`` (the functions the CLI uses).

The engine is a ``st.cache_resource``; query results are ``st.cache_data`` keyed by the
database URL and a cheap *data version* (max ids of records, tags and harvest runs), so a
harvest or a tagging run in another process invalidates them without a restart. Writes made
from the dashboard call :func:`invalidate`. No SQL here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard import auth
from kb import facet_index, repository
from kb.browse import Filters
from kb.config import load_config
from kb.db import make_engine

CACHE_TTL_S = 600
VERSION_TTL_S = 3


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


@st.cache_resource(show_spinner=False)
def _settings(config_env: str, url_env: str) -> dict[str, Any]:
    cfg = load_config()
    return {"url": cfg.database_url, "page_size": int(cfg["dashboard.page_size"])}


def settings() -> dict[str, Any]:
    """Database URL and page size (KB_DATABASE_URL / KB_CONFIG, as ``kb serve`` passes them)."""
    import os

    return _settings(os.environ.get("KB_CONFIG", ""), os.environ.get("KB_DATABASE_URL", ""))


def url() -> str:
    return str(settings()["url"])


def engine() -> Engine:
    return _engine(url())


@st.cache_data(ttl=VERSION_TTL_S, show_spinner=False)
def _version(db: str) -> tuple[Any, ...]:
    return repository.data_version(_engine(db))


def version() -> tuple[Any, ...]:
    return _version(url())


def invalidate() -> None:
    """Forget cached query results (after a write from the dashboard)."""
    st.cache_data.clear()


# --- cached reads (first two arguments: database URL and data version) ---


@st.cache_resource(max_entries=2, show_spinner="Indexing the knowledge base…")
def _index(db: str, v: tuple[Any, ...]) -> facet_index.FacetIndex:
    """The in-memory facet index of one data version (shared by every session)."""
    return facet_index.load(_engine(db))


@st.cache_data(ttl=CACHE_TTL_S, max_entries=128, show_spinner=False)
def _search(db: str, v: tuple[Any, ...], text: str) -> facet_index.Search | None:
    return facet_index.search(_engine(db), text)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=512, show_spinner=False)
def _browse_page(db: str, v: tuple[Any, ...], filters: Filters, limit: int,
                 offset: int) -> tuple[int, list[dict[str, Any]]]:
    return facet_index.browse_page(_engine(db), _index(db, v), filters,
                                   _search(db, v, filters.search.strip()),
                                   limit=limit, offset=offset)


def browse_page(filters: Filters, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """``(total, rows)`` of one page (the facet index filters and sorts; SQL fetches rows)."""
    return _browse_page(url(), version(), filters, limit, offset)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=256, show_spinner=False)
def _browse_counts(db: str, v: tuple[Any, ...], filters: Filters) -> dict[str, dict[str, int]]:
    return facet_index.browse_counts(_index(db, v), filters,
                                     _search(db, v, filters.search.strip()))


def browse_counts(filters: Filters) -> dict[str, dict[str, int]]:
    return _browse_counts(url(), version(), filters)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=256, show_spinner=False)
def _newest(db: str, v: tuple[Any, ...], filters: Filters, design: str,
            limit: int) -> list[dict[str, Any]]:
    return facet_index.newest_of_design(_engine(db), _index(db, v), filters,
                                        _search(db, v, filters.search.strip()), design, limit)


def newest_of_design(filters: Filters, design: str, limit: int = 3) -> list[dict[str, Any]]:
    return _newest(url(), version(), filters, design, limit)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=64, show_spinner=False)
def _matrix(db: str, v: tuple[Any, ...], filters: Filters, row_facet: str,
            col_facet: str) -> list[dict[str, Any]]:
    return repository.evidence_matrix(_engine(db), filters, row_facet, col_facet)


def evidence_matrix(filters: Filters, row_facet: str, col_facet: str) -> list[dict[str, Any]]:
    return _matrix(url(), version(), filters, row_facet, col_facet)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=64, show_spinner=False)
def _year_counts(db: str, v: tuple[Any, ...], filters: Filters,
                 facet_name: str) -> list[dict[str, Any]]:
    return repository.year_counts(_engine(db), filters, facet_name)


def year_counts(filters: Filters, facet_name: str) -> list[dict[str, Any]]:
    return _year_counts(url(), version(), filters, facet_name)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _bounds(db: str, v: tuple[Any, ...]) -> dict[str, Any]:
    return repository.browse_bounds(_engine(db))


def bounds() -> dict[str, Any]:
    return _bounds(url(), version())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _recent_runs(db: str, v: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
    return repository.recent_runs(_engine(db), limit)


def recent_runs(limit: int = 10) -> list[dict[str, Any]]:
    return _recent_runs(url(), version(), limit)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _last_harvest(db: str, v: tuple[Any, ...]) -> datetime | None:
    return repository.last_harvest_time(_engine(db))


def last_harvest() -> datetime | None:
    return _last_harvest(url(), version())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _trials(db: str, v: tuple[Any, ...]) -> list[dict[str, Any]]:
    return repository.list_trials(_engine(db))


def trials() -> list[dict[str, Any]]:
    return _trials(url(), version())


@st.cache_data(ttl=CACHE_TTL_S, max_entries=128, show_spinner=False)
def _trial_publications(db: str, v: tuple[Any, ...],
                        nct_ids: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    return repository.trial_publications(_engine(db), list(nct_ids))


def trial_publications(nct_ids: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    return _trial_publications(url(), version(), nct_ids)


# --- uncached reads (one record, reading lists: small and changed from the dashboard) ---


def record(record_id: int) -> dict[str, Any] | None:
    return repository.get_record(engine(), int(record_id))


def lookup(ref: str) -> dict[str, Any] | None:
    """A record by PMID, DOI or key (what a person pastes)."""
    return repository.get_record(engine(), ref)


def record_detail(record_id: int) -> dict[str, Any] | None:
    """A record with its effective labels, tag history, links, trials and reading lists."""
    eng = engine()
    rec = repository.get_record(eng, int(record_id))
    if rec is None:
        return None
    rec.pop("raw", None)
    rec["labels"] = repository.record_labels(eng, rec["id"])
    rec["tag_history"] = repository.record_tag_history(eng, rec["id"])
    rec["links"] = repository.record_links(eng, rec["id"])
    rec["trials"] = repository.record_trials(eng, rec["id"], rec.get("nct_ids") or [])
    notices = [c.get("pmid") for c in rec.get("comments_corrections") or [] if c.get("pmid")]
    rec["related_by_pmid"] = repository.records_by_pmids(eng, notices) if notices else {}
    return rec


def records_by_ids(ids: list[int]) -> list[dict[str, Any]]:
    return repository.records_by_ids(engine(), ids)


def reading_lists() -> list[dict[str, Any]]:
    return repository.reading_lists(engine())


def reading_list(list_id: int) -> dict[str, Any] | None:
    return repository.get_reading_list(engine(), list_id)


def reading_list_items(list_id: int) -> list[dict[str, Any]]:
    return repository.reading_list_items(engine(), list_id)


# --- writes (reading lists); each needs a user (dashboard.auth) and records who wrote ---


def create_list(name: str, description: str = "") -> int:
    return repository.create_reading_list(engine(), name, description,
                                          owner=auth.require_user())


def rename_list(list_id: int, name: str, description: str) -> None:
    auth.require_user()
    repository.update_reading_list(engine(), list_id, name=name, description=description)


def delete_list(list_id: int) -> None:
    auth.require_user()
    repository.delete_reading_list(engine(), list_id)


def add_to_list(list_id: int, record_ids: list[int]) -> int:
    return repository.add_to_reading_list(engine(), list_id, record_ids,
                                          added_by=auth.require_user())


def remove_from_list(list_id: int, record_id: int) -> None:
    auth.require_user()
    repository.remove_from_reading_list(engine(), list_id, record_id)


def move_in_list(list_id: int, record_id: int, offset: int) -> None:
    auth.require_user()
    repository.move_reading_list_item(engine(), list_id, record_id, offset)


def set_note(list_id: int, record_id: int, note: str) -> None:
    auth.require_user()
    repository.set_reading_list_note(engine(), list_id, record_id, note)


def lists_containing(record_id: int) -> list[int]:
    return repository.lists_containing(engine(), record_id)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=256, show_spinner=False)
def _count(db: str, v: tuple[Any, ...], filters: Filters,
           also: tuple[str, str] | None) -> int:
    return facet_index.browse_count(_index(db, v), filters,
                                    _search(db, v, filters.search.strip()), also)


def count(filters: Filters, also: tuple[str, str] | None = None) -> int:
    return _count(url(), version(), filters, also)


# --- tag review ---


def review_queue(filters: Filters, limit: int) -> list[dict[str, Any]]:
    return repository.review_queue(engine(), filters, limit)


def record_for_review(record_id: int) -> dict[str, Any] | None:
    rec = repository.get_record(engine(), int(record_id))
    if rec is None:
        return None
    rec.pop("raw", None)
    rec["labels"] = repository.record_labels(engine(), rec["id"])
    return rec


def save_review(record_id: int, labels: dict[str, list[str]], reviewer: str | None) -> None:
    """Store a human correction, then drop cached results (counts and chips change).

    Under sign-in the signed-in user is recorded (an anonymous session is refused); on a
    single-user install the name typed as reviewer, else the local user.
    """
    user = auth.require_user()
    if not auth.auth_configured() and reviewer:
        user = reviewer
    repository.save_review(engine(), record_id, labels, user)
    invalidate()
