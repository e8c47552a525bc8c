"""Shared fixtures: a clean environment, and a knowledge-base engine per backend.

The ``engine`` fixture runs on SQLite always, and also on PostgreSQL when
``KB_TEST_POSTGRES_URL`` is set (CI sets it): each test gets its own schema there.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from kb.db import make_engine

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get("KB_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's KB_* settings or NCBI secrets."""
    for name in list(os.environ):
        if (name.startswith("KB_") and name != "KB_TEST_POSTGRES_URL") or name in {
            "NCBI_API_KEY", "NCBI_EMAIL"}:
            monkeypatch.delenv(name, raising=False)


_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the internet: name lookups of non-local hosts fail loudly
    (except in tests marked ``network``)."""
    if request.node.get_closest_marker("network"):
        return
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name not in _LOCAL and not name.startswith("127."):
            raise OSError(f"test tried to reach the network ({name}); mark it 'network'")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=_backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, initialised knowledge base (SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
        yield eng
        eng.dispose()
        return
    yield from _postgres_engine()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    yield eng
    eng.dispose()


def _postgres_engine(create: bool = True) -> Iterator[Engine]:
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, create=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    eng = make_engine(f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", create=create)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_backends())
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database with no tables (for migration tests)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'blank.sqlite'}", create=False)
        yield eng
        eng.dispose()
        return
    yield from _postgres_engine(create=False)
