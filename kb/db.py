"""Engine creation and dialect specifics (SQLite pragmas, full-text index set-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from kb import models  # noqa: F401  (registers the tables)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _json_dumps(value: Any) -> str:
    """JSON columns: orjson (several times faster than json; dates as ISO strings)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, *, create: bool = True, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its directory created."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps,
                              "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False,
                                  "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        init_db(engine)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def init_db(engine: Engine) -> None:
    """Bring the database to the current schema.

    An empty database gets every table and the full-text index and is stamped with the head
    revision; a database at an older revision is migrated (``kb db upgrade`` does the same
    explicitly); one already at head is left alone.
    """
    from kb import migrate, repository

    head = migrate.head_revision()
    current = migrate.current_revision(engine)
    if current == head:
        return
    if current is None and not inspect(engine).has_table("record"):
        SQLModel.metadata.create_all(engine)
        repository.ensure_fulltext(engine)
        migrate.stamp_head(engine)
        return
    if current is None:
        raise RuntimeError("this database has kb tables but no schema revision; "
                           "run `kb db upgrade` after checking it, or use a new database")
    migrate.upgrade(engine)
