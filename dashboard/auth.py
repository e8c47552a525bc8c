"""Who may curate: browsing is public; writing needs a signed-in user when ``[auth]`` is set.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (Streamlit's built-in OpenID Connect
login, ``st.login``), reading lists and tag corrections require a signed-in user, whose e-mail
is recorded on every correction and list. Without it (a single-user, local install) the
operating-system user is recorded instead. See docs/access-control.md.
"""

from __future__ import annotations

import getpass
import os

import streamlit as st

ANONYMOUS_WRITE = "Sign in to create reading lists or correct tags."


class NotSignedIn(PermissionError):
    """A write was attempted by an anonymous session while sign-in is required."""


def auth_configured() -> bool:
    """True when the deployment configures OIDC sign-in (``[auth]`` in Streamlit secrets)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


def current_user() -> str | None:
    """The user to record on writes, or ``None`` for an anonymous session under sign-in."""
    if not auth_configured():
        try:
            local = getpass.getuser()
        except (KeyError, OSError):
            local = "local"
        return os.environ.get("KB_LOCAL_USER") or local
    if not st.user.get("is_logged_in", False):
        return None
    email = st.user.get("email") or st.user.get("sub")
    return str(email) if email else None


def require_user() -> str:
    """The current user; raises :class:`NotSignedIn` for an anonymous session."""
    user = current_user()
    if user is None:
        raise NotSignedIn(ANONYMOUS_WRITE)
    return user


def sign_in_prompt(key: str) -> str | None:
    """Show who is curating (or a sign-in button); returns the user or ``None``."""
    user = current_user()
    if user is None:
        st.info(ANONYMOUS_WRITE)
        st.button("Sign in", key=f"login-{key}", on_click=st.login)
    elif auth_configured():
        st.caption(f"Signed in as {user}")
        st.button("Sign out", key=f"logout-{key}", on_click=st.logout)
    return user
