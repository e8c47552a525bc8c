"""The in-memory facet index answers exactly what the SQL reference (kb.browse) answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from kb import facet_index, repository
from kb.browse import SORTS, Filters
from kb.db import make_engine
from kb.taxonomy import FACETS
from tests.dashboard.fixture_db import build

WORDS = ["esketamine", "ketamine", '"nasal spray"', "depression -rats", "pain OR analgesia",
         "treatment-resistant", "(", "suicidal ideation", "zzzznotaword", ""]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Any]]:
    """The shipped sample, imported and tagged, and its index."""
    info = build(tmp_path_factory.mktemp("fi") / "kb.sqlite")
    engine = make_engine(info["url"])
    yield engine, facet_index.load(engine)
    engine.dispose()


def assert_same(engine: Engine, index: facet_index.FacetIndex, f: Filters) -> None:
    found = facet_index.search(engine, f.search)
    for offset in (0, 25):
        total, rows = facet_index.browse_page(engine, index, f, found, limit=25, offset=offset)
        ref_total, ref_rows = repository.browse_page(engine, f, limit=25, offset=offset)
        assert total == ref_total, f
        assert [r["id"] for r in rows] == [r["id"] for r in ref_rows], (f, offset)
    assert facet_index.browse_counts(index, f, found) == repository.browse_counts(engine, f), f
    also = ("outcome", "safety_tolerability")
    assert facet_index.browse_count(index, f, found, also) == repository.browse_count(
        engine, f, also)
    for design in ("systematic_review_meta_analysis", "rct"):
        assert [r["id"] for r in facet_index.newest_of_design(engine, index, f, found, design)] \
            == [r["id"] for r in repository.newest_of_design(engine, f, design)]


CASES = [
    Filters(),
    Filters(include_incidental=True),
    Filters(labels={"condition": ("trd",), "route": ("intranasal",)}),
    Filters(labels={"condition": ("depression", "bipolar"), "design": ("rct",)}, sort="evidence"),
    Filters(labels={"relevance": ("incidental",)}),
    Filters(year_from=2020, year_to=2024, sources=("europepmc",)),
    Filters(year_to=2010, include_incidental=True, show_retracted=True),
    Filters(search="esketamine nasal spray", sort="relevance"),
    Filters(search='"treatment-resistant depression" -rats', sort="relevance",
            include_incidental=True),
    Filters(search="ketamine", sort="evidence", labels={"outcome": ("dissociation",)}),
    Filters(search='"(', sort="relevance"),
    Filters(added_since=datetime.now(UTC) - timedelta(days=1)),
    Filters(added_since=datetime.now(UTC) + timedelta(days=1)),
    Filters(human_verified=True),
]


@pytest.mark.parametrize("f", CASES, ids=lambda f: repr(f.to_query_params()))
def test_index_matches_sql(sample: tuple[Engine, Any], f: Filters) -> None:
    engine, index = sample
    assert_same(engine, index, f)


label_sets = st.fixed_dictionaries({}, optional={
    facet.name: st.lists(st.sampled_from(facet.label_names), max_size=2, unique=True)
    for facet in FACETS})
filters = st.builds(
    Filters, labels=label_sets,
    year_from=st.none() | st.integers(1990, 2026), year_to=st.none() | st.integers(1990, 2026),
    sources=st.lists(st.sampled_from(["europepmc", "pubmed", "ctgov-text", "medline"]),
                     max_size=2).map(tuple),
    show_retracted=st.booleans(), human_verified=st.just(False),
    include_incidental=st.booleans(), search=st.sampled_from(WORDS),
    sort=st.sampled_from(SORTS))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=filters)
def test_index_matches_sql_for_any_filters(sample: tuple[Engine, Any], f: Filters) -> None:
    engine, index = sample
    assert_same(engine, index, f)


def test_index_follows_a_review(tmp_path: Path) -> None:
    info = build(tmp_path / "kb.sqlite")
    engine = make_engine(info["url"])
    before = facet_index.load(engine)
    repository.save_review(engine, info["sustain1"], {"design": ["rct"], "route": ["oral"]})
    after = facet_index.load(engine)
    f = Filters(human_verified=True)
    assert before.total(f) == 0 and after.total(f) == 1
    assert_same(engine, after, f)
    assert_same(engine, after, Filters(labels={"route": ("oral",)}))
    engine.dispose()


def test_empty_database(engine: Engine) -> None:
    index = facet_index.load(engine)
    assert index.size == 0
    assert index.page_ids(Filters()) == (0, [])
    assert index.counts(Filters())["design"] == {}
    assert facet_index.browse_page(engine, index, Filters(search="x"),
                                   facet_index.search(engine, "x")) == (0, [])
