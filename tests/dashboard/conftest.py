from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.fixture_db import build


@pytest.fixture(scope="session")
def dashboard_db(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared fixture database (built once per session; tests that write use a copy)."""
    return build(tmp_path_factory.mktemp("dash") / "kb.sqlite")


@pytest.fixture
def fresh_db(dashboard_db: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A private copy of the fixture database, for tests that write."""
    target = tmp_path / "kb.sqlite"
    shutil.copyfile(dashboard_db["path"], target)
    return {**dashboard_db, "path": target, "url": f"sqlite:///{target}"}
