"""Database maintenance: online backup (SQLite) and integrity checks (both dialects)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from kb import repository
from kb.migrate import current_revision, head_revision, schema_diff

PG_DUMP_HINT = ("PostgreSQL: use pg_dump, e.g. `pg_dump --format=custom --file=kb.dump "
                "\"$DATABASE\"` and restore with `pg_restore --clean --dbname=...` "
                "(docs/deployment.md)")


class BackupError(RuntimeError):
    """The backup could not be taken."""


def backup_sqlite(engine: Engine, target: Path, *, pages_per_step: int = 1024) -> Path:
    """A consistent copy of a live SQLite database, taken with the online backup API while
    writers keep working (WAL); the copy is written to a temporary file and renamed."""
    if engine.dialect.name != "sqlite":
        raise BackupError(PG_DUMP_HINT)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    tmp.unlink(missing_ok=True)
    raw = engine.raw_connection()
    try:
        src = raw.driver_connection
        assert isinstance(src, sqlite3.Connection)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=pages_per_step)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        raw.close()
    tmp.replace(target)
    return target


def check(engine: Engine) -> dict[str, Any]:
    """Integrity report: storage check, schema revision, model/schema drift, dangling links."""
    result: dict[str, Any] = {"dialect": engine.dialect.name}
    result["storage"] = repository.storage_check(engine)
    result["revision"] = current_revision(engine)
    result["head"] = head_revision()
    result["schema_diff"] = [str(d) for d in schema_diff(engine)]
    result["dangling"] = repository.dangling_references(engine)
    result["ok"] = (result["storage"] == ["ok"] and result["revision"] == result["head"]
                    and not result["schema_diff"] and not any(result["dangling"].values()))
    return result
