"""Query building of the evidence browser: SQL fragments and bound values, then a real run.

The first tests compile statements without a database (as datasette tests its filters); the
last ones run them on a small knowledge base built by the import path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from harvester.records import Record
from kb import repository
from kb.browse import (
    EVIDENCE_ORDER,
    Filters,
    label_count_statements,
    select_count,
    select_matrix,
    select_page,
)
from kb.ingest import ingest
from kb.taxonomy import FACETS

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def sql(stmt: Select[Any], dialect: str = "sqlite") -> tuple[str, dict[str, Any]]:
    compiled = stmt.compile(dialect=DIALECTS[dialect],
                            compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


def test_default_filters_hide_incidental_retracted_duplicates_and_deleted() -> None:
    text, params = sql(select_count(Filters(), "sqlite"))
    assert "record.duplicate_of IS NULL" in text and "record.deleted IS 0" in text
    assert "record.is_retracted IS 0" in text
    assert "record_label.facet = ?" in text
    assert "relevance" in params.values()
    assert {"primary", "secondary"} <= set(params.values())
    assert "incidental" not in params.values()


def test_incidental_toggle_and_explicit_relevance() -> None:
    _, params = sql(select_count(Filters(include_incidental=True), "sqlite"))
    assert "relevance" not in params.values()
    _, params = sql(select_count(Filters(labels={"relevance": ["incidental"]}), "sqlite"))
    assert "incidental" in params.values() and "primary" not in params.values()


def test_facets_are_anded_labels_ored_and_values_bound() -> None:
    f = Filters(labels={"condition": ["trd", "depression"], "route": ["intranasal"]})
    text, params = sql(select_count(f, "sqlite"))
    assert text.count("record.id IN (SELECT record_label.record_id") == 3  # + relevance
    assert "trd" not in text and "intranasal" not in text  # bound, never pasted
    assert {"trd", "depression", "intranasal"} <= set(params.values())


def test_unknown_facets_and_labels_are_dropped() -> None:
    f = Filters(labels={"condition": ["trd", "not-a-label"], "colour": ["red"],
                        "route": "intranasal"})
    assert f.labels == {"condition": ("trd",), "route": ("intranasal",)}


def test_other_filters_render_bound_conditions() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    f = Filters(year_from=2015, year_to=2024, sources=("pubmed", "europepmc"),
                show_retracted=True, human_verified=True, added_since=since)
    text, params = sql(select_count(f, "sqlite"))
    assert "record.pub_year >= ?" in text and "record.pub_year <= ?" in text
    assert "record.source IN (?, ?)" in text
    assert "is_retracted" not in text
    assert "record_label.origin = ?" in text and "human" in params.values()
    assert "record.first_seen >= ?" in text and since in params.values()
    assert 2015 in params.values() and 2024 in params.values()


def test_year_bounds_are_ordered() -> None:
    f = Filters(year_from=2024, year_to=2010)
    assert (f.year_from, f.year_to) == (2010, 2024)


def test_fulltext_is_a_subquery_not_an_id_list() -> None:
    text, params = sql(select_count(Filters(search="esketamine nasal"), "sqlite"))
    assert "record.id IN (SELECT record_fts.rowid FROM record_fts WHERE record_fts MATCH ?)" \
        in " ".join(text.split())
    assert params["fts_q"] == '"esketamine" AND "nasal"'


def test_fulltext_postgres_uses_tsvector() -> None:
    text, params = sql(select_count(Filters(search='"nasal spray" -rat'), "postgresql"),
                       "postgresql")
    assert "record.search_tsv @@ websearch_to_tsquery" in text
    assert params["fts_q"] == '"nasal spray" -"rat"'


def test_nothing_searchable_matches_nothing() -> None:
    text, _ = sql(select_count(Filters(search='"( ) * -'), "sqlite"))
    assert "record.id IS NULL" in text and "MATCH" not in text


def test_sorts() -> None:
    newest, _ = sql(select_page(Filters(), "sqlite"))
    assert "ORDER BY record.pub_year DESC NULLS LAST, record.pub_date DESC NULLS LAST, " \
           "record.id DESC" in newest
    evidence, params = sql(select_page(Filters(sort="evidence"), "sqlite"))
    assert "ORDER BY CASE (SELECT record_label.label" in evidence
    ranks = [params[k] for k in sorted(params) if k.startswith("param")]
    assert EVIDENCE_ORDER[0] in params.values() and 0 in ranks
    relevance, params = sql(select_page(Filters(search="ketamine", sort="relevance"),
                                        "sqlite"))
    assert "JOIN record_fts ON record.id = record_fts.rowid" in relevance
    assert "ORDER BY bm25(record_fts" in relevance
    # relevance without a search falls back to newest
    assert Filters(sort="relevance").effective_sort == "newest"
    pg, _ = sql(select_page(Filters(search="ketamine", sort="relevance"), "postgresql"),
                "postgresql")
    assert "ORDER BY ts_rank(record.search_tsv" in pg


def test_paging_is_bound() -> None:
    text, params = sql(select_page(Filters(), "sqlite", limit=25, offset=50))
    assert text.rstrip().endswith("LIMIT ? OFFSET ?")
    assert 25 in params.values() and 50 in params.values()


def test_live_counts_leave_out_the_facet_being_counted() -> None:
    f = Filters(labels={"condition": ["trd"]})
    stmts = label_count_statements(f, "sqlite")
    assert len(stmts) == 3  # unfiltered facets together; relevance and condition alone
    without_trd = [s for s in stmts if "trd" not in sql(s)[1].values()]
    assert len(without_trd) == 1  # the statement counting the condition facet itself
    _, params = sql(without_trd[0])
    assert "condition" in params.values()


def test_matrix_statement() -> None:
    text, params = sql(select_matrix(Filters(), "sqlite", "condition", "outcome"))
    assert "GROUP BY a.label, b.label, d.label" in text
    assert {"condition", "outcome", "design"} <= set(params.values())


def test_query_params_round_trip() -> None:
    f = Filters(labels={"condition": ("trd",), "outcome": ("safety_tolerability",
                                                          "dissociation")},
                year_from=2015, sources=("pubmed",), show_retracted=True,
                include_incidental=True, search='esketamine "nasal spray"', sort="evidence",
                added_since=datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    qp = f.to_query_params()
    assert qp["outcome"] == "safety_tolerability,dissociation"
    assert Filters.from_query_params(qp) == f
    assert Filters().to_query_params() == {}


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40) | st.lists(st.text())))
def test_any_query_params_give_valid_filters(params: dict[str, Any]) -> None:
    f = Filters.from_query_params(params)
    for facet, labels in f.labels.items():
        assert set(labels) <= set(next(x for x in FACETS if x.name == facet).label_names)
    select_count(f, "sqlite").compile(dialect=sqlite.dialect())


# --- on a real database ---


@pytest.fixture
def kb_engine(engine: Engine) -> Engine:
    """Four real-looking records, tagged by hand through the review path."""
    ingest(engine, [
        Record(source="pubmed", pmid="1", pub_year=2019, title="Esketamine nasal spray in "
               "treatment-resistant depression: a randomised trial",
               abstract="Adverse events were dissociation and nausea."),
        Record(source="pubmed", pmid="2", pub_year=2023, title="Ketamine for depression: a "
               "systematic review and meta-analysis", abstract="We searched MEDLINE."),
        Record(source="pubmed", pmid="3", pub_year=2021, title="Ketamine anaesthesia in rats",
               abstract="Rats were anaesthetised with ketamine."),
        Record(source="europepmc", pmid="4", pub_year=2024, title="Retracted: ketamine and "
               "pain", abstract="Pain after surgery.", retracted=True),
    ])
    ids = {r["pmid"]: r["id"] for r in (repository.get_record(engine, p) for p in "1234") if r}
    tags = {
        "1": {"relevance": ["primary"], "condition": ["depression", "trd"],
              "route": ["intranasal"], "design": ["rct"],
              "outcome": ["safety_tolerability", "dissociation"]},
        "2": {"relevance": ["primary"], "condition": ["depression"], "design":
              ["systematic_review_meta_analysis"], "outcome": ["depressive_symptoms"]},
        "3": {"relevance": ["incidental"], "design": ["preclinical"]},
        "4": {"relevance": ["primary"], "condition": ["acute_pain"], "design": ["rct"]},
    }
    for pmid, labels in tags.items():
        repository.save_review(engine, ids[pmid], labels, "test")
    return engine


def _pmids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["pmid"] for r in rows]


def test_browse_on_a_database(kb_engine: Engine) -> None:
    total, rows = repository.browse_page(kb_engine, Filters())
    assert total == 2 and _pmids(rows) == ["2", "1"]  # newest first; no rat, no retracted
    assert rows[1]["design"] == "rct"
    assert [x["label"] for x in rows[1]["labels"] if x["facet"] == "condition"] == [
        "depression", "trd"]
    total, _ = repository.browse_page(kb_engine, Filters(include_incidental=True,
                                                         show_retracted=True))
    assert total == 4
    _, rows = repository.browse_page(kb_engine, Filters(sort="evidence"))
    assert _pmids(rows) == ["2", "1"]
    _, rows = repository.browse_page(kb_engine, Filters(labels={"condition": ["trd"]}))
    assert _pmids(rows) == ["1"]


@pytest.mark.parametrize("text", ['"', "(", ")", "-", "AND OR", "*", "ketamine*",
                                  '"unclosed', "NEAR(a b)", "ß 漢字", "x -", "OR ketamine",
                                  "NOT", "'", "\\", "%", "depress-", "--ketamine"])
def test_search_never_errors(kb_engine: Engine, text: str) -> None:
    for sort in ("newest", "evidence", "relevance"):
        total, rows = repository.browse_page(kb_engine, Filters(search=text, sort=sort,
                                                               include_incidental=True))
        assert total == len(rows)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40))
def test_search_never_errors_on_any_text(kb_engine: Engine, text: str) -> None:
    repository.browse_page(kb_engine, Filters(search=text, sort="relevance"))


def test_search_hyphens_phrases_and_exclusion(kb_engine: Engine) -> None:
    def found(q: str) -> list[str]:
        return _pmids(repository.browse_page(kb_engine, Filters(
            search=q, include_incidental=True, show_retracted=True, sort="relevance"))[1])

    assert found("treatment-resistant") == ["1"]
    assert found('"nasal spray"') == ["1"]
    assert sorted(found("ketamine -rats")) == ["2", "4"]
    assert found("esketamine OR anaesthesia") in (["1", "3"], ["3", "1"])


def test_counts_summary_and_matrix(kb_engine: Engine) -> None:
    counts = repository.browse_counts(kb_engine, Filters())
    assert counts["design"] == {"rct": 1, "systematic_review_meta_analysis": 1}
    assert counts["relevance"] == {"primary": 2, "incidental": 1}  # own filter left out
    assert counts["source"] == {"pubmed": 2}
    f = Filters(labels={"condition": ["trd"]})
    counts = repository.browse_counts(kb_engine, f)
    assert counts["condition"] == {"depression": 2, "trd": 1}  # what picking another adds
    assert repository.browse_count(kb_engine, Filters(), ("outcome", "safety_tolerability")) == 1
    assert _pmids(repository.newest_of_design(kb_engine, Filters(), "rct")) == ["1"]
    cells = repository.evidence_matrix(kb_engine, Filters(), "condition", "outcome")
    assert {"row": "trd", "col": "dissociation", "design": "rct", "n": 1} in cells
    years = repository.year_counts(kb_engine, Filters(), "design")
    assert {"year": 2023, "label": "systematic_review_meta_analysis", "n": 1} in years


def test_human_verified_filter_and_review_queue(kb_engine: Engine) -> None:
    total, _ = repository.browse_page(kb_engine, Filters(human_verified=True))
    assert total == 2
    assert repository.review_queue(kb_engine, Filters()) == []  # all reviewed here


def test_save_review_validates(kb_engine: Engine) -> None:
    rid = repository.get_record(kb_engine, "1")["id"]  # type: ignore[index]
    with pytest.raises(ValueError, match="exactly one"):
        repository.save_review(kb_engine, rid, {"design": ["rct", "observational"]})
    with pytest.raises(ValueError):
        repository.save_review(kb_engine, rid, {"route": ["teleportation"]})
    repository.save_review(kb_engine, rid, {"route": []}, "test")
    history = repository.record_tag_history(kb_engine, rid)
    assert any(h["label"] == "intranasal" and h["negative"] for h in history)
    assert not [x for x in repository.record_labels(kb_engine, rid) if x["facet"] == "route"]


@pytest.mark.parametrize("f", [
    Filters(), Filters(include_incidental=True, show_retracted=True),
    Filters(labels={"condition": ["trd"]}, sort="evidence"),
    Filters(search="ketamine", sort="relevance", include_incidental=True),
    Filters(search="ketamine -rats", show_retracted=True), Filters(human_verified=True),
    Filters(year_from=2020, sources=("pubmed",)), Filters(search="(", sort="relevance"),
])
def test_facet_index_agrees_with_sql(kb_engine: Engine, f: Filters) -> None:
    """The dashboard's in-memory index gives the SQL reference's answers (both backends)."""
    from kb import facet_index

    index = facet_index.load(kb_engine)
    found = facet_index.search(kb_engine, f.search)
    total, rows = facet_index.browse_page(kb_engine, index, f, found)
    ref_total, ref_rows = repository.browse_page(kb_engine, f)
    assert (total, _pmids(rows)) == (ref_total, _pmids(ref_rows))
    assert facet_index.browse_counts(index, f, found) == repository.browse_counts(kb_engine, f)
