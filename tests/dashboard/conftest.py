from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from kb.db import make_engine
from tests.conftest import POSTGRES_URL
from tests.dashboard.fixture_db import build


@pytest.fixture(scope="session")
def sqlite_dashboard_db(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared SQLite fixture database (built once per session)."""
    return build(tmp_path_factory.mktemp("dash") / "kb.sqlite")


@pytest.fixture(scope="session")
def postgres_dashboard_db() -> Iterator[dict[str, Any]]:
    """The same fixture database in a fresh PostgreSQL schema (when KB_TEST_POSTGRES_URL)."""
    assert POSTGRES_URL
    schema = f"dash_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, create=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield build(None, f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"])
def dashboard_db(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The fixture database on every backend (read-only tests run on each)."""
    name = f"{request.param}_dashboard_db"
    return dict(request.getfixturevalue(name))


@pytest.fixture
def fresh_db(sqlite_dashboard_db: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A private copy of the SQLite fixture database, for tests that write."""
    target = tmp_path / "kb.sqlite"
    shutil.copyfile(sqlite_dashboard_db["path"], target)
    return {**sqlite_dashboard_db, "path": target, "url": f"sqlite:///{target}"}
