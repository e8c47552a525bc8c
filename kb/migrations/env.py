"""Alembic environment: the models' metadata, any SQLAlchemy URL (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

from kb import models  # noqa: F401  (registers the tables)
from kb.migrate import include_object

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        from kb.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "", create=False)
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connectable)


def _run(conn: Any) -> None:
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
