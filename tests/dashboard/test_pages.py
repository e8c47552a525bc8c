"""Every dashboard page under ``streamlit.testing.v1.AppTest`` on the fixture database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from kb import repository
from kb.db import make_engine

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = ("views/browser.py", "views/evidence_map.py", "views/record.py", "views/trends.py",
         "views/whats_new.py", "views/trials.py", "views/reading_lists.py",
         "views/tag_review.py")
# Searches a person might type; none may raise.
AWKWARD_SEARCHES = ('"', "(", ")", "-", "AND OR", "*", "ketamine*", '"unclosed phrase',
                    "NEAR(a b)", "'; DROP TABLE record; --", "ß 漢字 κεταμίνη", "esk-",
                    "treatment-resistant AND (depression OR", "^~:", "%_%", "\\")


def _app(url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("KB_DATABASE_URL", url)
    return AppTest.from_file(str(APP), default_timeout=60)


@pytest.fixture
def app(dashboard_db: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _app(dashboard_db["url"], monkeypatch)


def _open(at: AppTest, page: str | None = None, **params: str) -> AppTest:
    if page:
        at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _assert_no_raw_html(at: AppTest) -> None:
    """No element renders HTML: no st.html, no markdown with unsafe_allow_html."""
    assert not at.get("html")
    for m in at.markdown:
        assert not m.proto.allow_html


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app: AppTest, page: str) -> None:
    _open(app, page)
    assert app.title or app.markdown
    _assert_no_raw_html(app)


def test_browser_default_view(app: AppTest) -> None:
    _open(app)
    assert app.title[0].value == "Evidence browser"
    total = int(_metric(app, "Matching records").replace(",", ""))
    assert total > 100
    assert _metric(app, "Safety reported").endswith("%")
    keys = {p.key for p in app.pills}
    assert {"f_relevance", "f_agent", "f_condition", "f_route", "f_outcome", "f_design"} <= keys
    # live counts in the option labels
    condition = app.get_by_key("f_condition")
    assert any("·" in opt.content for opt in condition.proto.options)
    assert any(str(b.key).startswith("open-b-") for b in app.button)
    assert app.get_by_key("q") is not None and app.get_by_key("sort") is not None
    assert app.get("vega_lite_chart")  # the evidence pyramid
    assert "Newest RCTs" in _markdown(app)
    _assert_no_raw_html(app)


def test_browser_filter_narrows_and_counts_follow(app: AppTest) -> None:
    _open(app)
    before = int(_metric(app, "Matching records").replace(",", ""))
    app.get_by_key("f_condition").set_value(["trd"]).run()
    assert not app.exception
    after = int(_metric(app, "Matching records").replace(",", ""))
    assert 0 < after < before
    assert app.query_params.get("condition") in ("trd", ["trd"])


@pytest.mark.parametrize("text", AWKWARD_SEARCHES)
def test_browser_search_never_errors(app: AppTest, text: str) -> None:
    _open(app)
    app.get_by_key("q").input(text).run()
    assert not app.exception, [e.value for e in app.exception]


def test_browser_search_and_relevance_sort(app: AppTest) -> None:
    _open(app)
    app.get_by_key("q").input('esketamine "nasal spray" -rat').run()
    app.get_by_key("sort").set_value("relevance").run()
    assert not app.exception
    titles = [b.label.lower() for b in app.button if str(b.key).startswith("open-b-")]
    assert titles and "esketamine" in titles[0]


def test_browser_evidence_sort_puts_reviews_first(app: AppTest) -> None:
    _open(app)
    app.get_by_key("sort").set_value("evidence").run()
    assert not app.exception
    cards = [m.value for m in app.markdown if "-badge[" in m.value and "·" in m.value]
    assert "Systematic review" in cards[0]


def test_browser_opens_filtered_from_url(app: AppTest) -> None:
    _open(app, None, condition="trd", outcome="safety_tolerability", sort="evidence")
    assert app.get_by_key("f_condition").value == ["trd"]
    assert app.get_by_key("f_outcome").value == ["safety_tolerability"]
    assert app.get_by_key("sort").value == "evidence"


def test_xss_title_shows_as_text(app: AppTest, dashboard_db: dict[str, Any]) -> None:
    _open(app)
    app.get_by_key("include_incidental").set_value(True)  # whatever the tagger decided
    app.get_by_key("q").input("onerror").run()
    labels = [b.label for b in app.button if str(b.key).startswith("open-b-")]
    assert any(r"\<img src=x onerror=alert(1)\>" in label for label in labels)
    assert not any(re.search(r"(?<!\\)<", label) for label in labels)  # every < escaped
    _open(app, "views/record.py", id=str(dashboard_db["xss"]))
    text = _markdown(app)
    assert r"\<img src=x onerror=alert(1)\>" in text
    assert r"\[a link\](javascript\:alert(2))" in text and r"\$x\$" in text
    assert r"\<script\>alert(3)\</script\>" in text
    _assert_no_raw_html(app)


def test_record_page(app: AppTest, dashboard_db: dict[str, Any]) -> None:
    _open(app, "views/record.py", id=str(dashboard_db["sustain1"]))
    text = _markdown(app)
    assert "Esketamine Nasal Spray" in text
    assert "**Importance** ·" in text and "**Results** ·" in text  # structured abstract
    assert "https://pubmed.ncbi.nlm.nih.gov/31166571/" in text
    assert "https://doi.org/10.1001/jamapsychiatry.2019.1189" in text
    assert "https://clinicaltrials.gov/study/NCT02493868" in text
    assert "Randomized Controlled Trial" in text  # publication types
    assert "Ketamine" in text  # MeSH
    assert [t.label for t in app.tabs] == ["Tags", "MeSH & publication types", "Trials",
                                           "Versions & notices"]
    assert app.dataframe  # tags with provenance and probability
    _assert_no_raw_html(app)


def test_record_page_lookup_and_unknown_id(app: AppTest) -> None:
    _open(app, "views/record.py")
    assert app.get_by_key("record_lookup") is not None
    _open(app, "views/record.py", id="999999999")
    assert app.error


def test_evidence_map(app: AppTest) -> None:
    _open(app, "views/evidence_map.py")
    assert app.title[0].value == "Evidence map"
    charts = app.get("vega_lite_chart")
    assert charts and "cell" in charts[0].proto.selection_mode
    assert {m.label for m in app.metric} >= {"Cells with evidence",
                                             "Evidence gaps (empty cells)"}
    link = next(p for p in app.page_link if p.proto.label == "Open in browser")
    assert link.proto.page_script_hash and "condition=" in link.proto.query_string
    app.get_by_key("map_matrix").set_value("route").run()
    assert not app.exception
    assert app.get_by_key("map_pick_route") is not None


def test_trends(app: AppTest) -> None:
    _open(app, "views/trends.py")
    assert len(app.get("vega_lite_chart")) == 2
    app.get_by_key("trend_share").set_value(True).run()
    assert not app.exception


def test_whats_new(app: AppTest) -> None:
    _open(app, "views/whats_new.py")
    assert int(_metric(app, "New records").replace(",", "")) > 0
    assert _metric(app, "Last harvest") != "never"
    assert app.dataframe  # recent runs
    assert any("new" in e.label for e in app.expander)


def test_trials(app: AppTest) -> None:
    _open(app, "views/trials.py")
    assert _metric(app, "Trials") == "2"
    df = app.dataframe[0].value
    assert set(df["nct_id"]) == {"NCT00517179", "NCT05013879"}
    app.get_by_key("trial_text").input("no such words anywhere").run()
    assert _metric(app, "Trials") == "0"


def test_reading_list_flow(fresh_db: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(fresh_db["url"], monkeypatch), "views/reading_lists.py")
    assert at.info  # no list yet
    at.get_by_key("rl_new_name").input("Esketamine in TRD").run()
    at.get_by_key("rl_create").click().run()
    assert not at.exception
    engine = make_engine(fresh_db["url"])
    (lst,) = repository.reading_lists(engine)
    assert lst["name"] == "Esketamine in TRD"
    # add from the browser (the active list), then from the record page
    _open(at, "views/browser.py")
    add = next(b for b in at.button if str(b.key).startswith("add-b-"))
    add.click().run()
    _open(at, "views/record.py", id=str(fresh_db["sustain1"]))
    at.get_by_key(f"add-record-{fresh_db['sustain1']}").click().run()
    assert not at.exception
    items = repository.reading_list_items(engine, lst["id"])
    assert len(items) == 2 and items[1]["id"] == fresh_db["sustain1"]
    at.query_params.clear()
    _open(at, "views/reading_lists.py")
    assert {d.label for d in at.download_button} == {"RIS", "BibTeX", "CSV", "Markdown"}
    at.get_by_key(f"up_{lst['id']}_{fresh_db['sustain1']}").click().run()
    at.get_by_key(f"note_{lst['id']}_{fresh_db['sustain1']}").input("Start here").run()
    items = repository.reading_list_items(engine, lst["id"])
    assert items[0]["id"] == fresh_db["sustain1"] and items[0]["note"] == "Start here"
    engine.dispose()


def test_tag_review_stores_human_tags(fresh_db: dict[str, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rid = fresh_db["sustain1"]
    at = _open(_app(fresh_db["url"], monkeypatch), "views/tag_review.py", id=str(rid))
    at.get_by_key("reviewer").input("JS")
    at.get_by_key(f"rv_{rid}_design").set_value("rct")
    at.get_by_key(f"rv_{rid}_route").set_value(["intranasal"])
    at.get_by_key(f"rv_{rid}_condition").set_value(["depression", "trd"])
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert at.success
    engine = make_engine(fresh_db["url"])
    labels = {(x["facet"], x["label"]): x["origin"] for x in repository.record_labels(engine, rid)}
    assert labels[("design", "rct")] == "human"
    assert labels[("route", "intranasal")] == "human"
    assert {k for k in labels if k[0] == "condition"} == {("condition", "depression"),
                                                          ("condition", "trd")}
    history = repository.record_tag_history(engine, rid)
    assert any(h["origin"] == "human" and h["user"] == "JS" for h in history)
    # the browser's "human-verified only" filter now finds it
    _open(at, "views/browser.py")
    at.get_by_key("human_verified").set_value(True).run()
    assert _metric(at, "Matching records") == "1"
    engine.dispose()
