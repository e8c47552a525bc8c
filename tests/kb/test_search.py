import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.search import to_fts_query


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title, abstract, tokenize='porter unicode61')")
    db.executemany("INSERT INTO t VALUES (?, ?)", [
        ("Esketamine nasal spray in treatment-resistant depression", "A randomized trial."),
        ("Ketamine for post-operative pain", "Placebo-controlled; P<0.001."),
        ("Arketamine in mice", "Preclinical study of (R)-ketamine."),
    ])
    return db


def run(db: sqlite3.Connection, raw: str) -> list[str]:
    q = to_fts_query(raw)
    if not q:
        return []
    return [r[0] for r in db.execute("SELECT title FROM t WHERE t MATCH ?", (q,))]


def test_phrases_hyphens_or_not(fts: sqlite3.Connection) -> None:
    assert run(fts, "treatment-resistant") == [
        "Esketamine nasal spray in treatment-resistant depression"]
    assert run(fts, '"nasal spray"') == [
        "Esketamine nasal spray in treatment-resistant depression"]
    assert sorted(run(fts, "esketamine OR arketamine")) == [
        "Arketamine in mice", "Esketamine nasal spray in treatment-resistant depression"]
    assert run(fts, "ketamine -pain") == ["Arketamine in mice"]
    assert run(fts, "ketamine NOT pain") == ["Arketamine in mice"]


@pytest.mark.parametrize("raw", ['"', "(", ")", "-", "AND OR", "*", "NEAR(", "a:b", "^", "'",
                                 "ketamine AND", "OR", '"unterminated', "ké-tamine ü", "-- --",
                                 "title:ketamine", "{x}", "\\", "\x00"])
def test_awkward_input_never_errors(fts: sqlite3.Connection, raw: str) -> None:
    run(fts, raw)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_is_a_valid_fts5_query(raw: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title)")
    q = to_fts_query(raw)
    if q:
        db.execute("SELECT * FROM t WHERE t MATCH ?", (q,)).fetchall()


def test_postgres_form_is_websearch_syntax() -> None:
    assert to_fts_query('esketamine "nasal spray" -placebo', "postgresql") == (
        '"esketamine" "nasal spray" -"placebo"')
