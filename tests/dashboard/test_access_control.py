"""Browsing is public; curation needs a signed-in user when `[auth]` (OIDC) is configured."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from kb import repository
from kb.db import make_engine
from tests.dashboard.test_pages import APP

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "kb-test", "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}


def _app(url: str, monkeypatch: pytest.MonkeyPatch, *, signin: bool) -> AppTest:
    monkeypatch.setenv("KB_DATABASE_URL", url)
    monkeypatch.setenv("KB_LOCAL_USER", "educator@local")
    at = AppTest.from_file(str(APP), default_timeout=60)
    if signin:
        at.secrets["auth"] = AUTH
    return at


def _run(at: AppTest, page: str, **params: str) -> AppTest:
    at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_anonymous_session_cannot_write(fresh_db: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(fresh_db["url"], monkeypatch, signin=True)
    # Browsing works, but every add button is disabled.
    _run(at, "views/browser.py")
    adds = [b for b in at.button if str(b.key).startswith("add-") or b.key == "add_page"]
    assert adds and all(b.disabled for b in adds)
    # Reading lists: a sign-in button, no form to create or edit.
    _run(at, "views/reading_lists.py")
    assert any(b.label == "Sign in" for b in at.button)
    keys = {str(w.key) for w in [*at.text_input, *at.button, *at.text_area]}
    assert "rl_create" not in keys and "rl_new_name" not in keys
    # Tag review: a sign-in button, no correction form.
    _run(at, "views/tag_review.py", id=str(fresh_db["sustain1"]))
    assert any(b.label == "Sign in" for b in at.button)
    assert not at.form_submit_button
    engine = make_engine(fresh_db["url"])
    assert repository.reading_lists(engine) == []
    assert not any(h["origin"] == "human"
                   for h in repository.record_tag_history(engine, fresh_db["sustain1"]))
    engine.dispose()


def test_write_functions_refuse_anonymous_sessions(fresh_db: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a page that forgot to hide a control cannot write: the data layer refuses."""
    monkeypatch.setenv("KB_DATABASE_URL", fresh_db["url"])

    def script() -> None:
        import streamlit as st

        from dashboard import data
        from dashboard.auth import NotSignedIn

        for name, call in (("create", lambda: data.create_list("Sneaky")),
                           ("add", lambda: data.add_to_list(1, [1])),
                           ("review", lambda: data.save_review(1, {"design": ["rct"]}, "x"))):
            try:
                call()
                st.write(f"{name}: WROTE")
            except NotSignedIn:
                st.write(f"{name}: refused")

    at = AppTest.from_function(script, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.markdown] == ["create: refused", "add: refused",
                                              "review: refused"]


def test_without_signin_config_the_local_user_is_recorded(
        fresh_db: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(fresh_db["url"], monkeypatch, signin=False)
    _run(at, "views/reading_lists.py")
    assert not any(b.label == "Sign in" for b in at.button)
    at.get_by_key("rl_new_name").input("Teaching set").run()
    at.get_by_key("rl_create").click().run()
    assert not at.exception
    engine = make_engine(fresh_db["url"])
    (lst,) = repository.reading_lists(engine)
    assert lst["name"] == "Teaching set"
    assert repository.get_reading_list(engine, lst["id"])["owner"] == "educator@local"
    engine.dispose()
