"""Schema migrations (Alembic) for SQLite and PostgreSQL: upgrade, current and head revision,
and a check that the models and the migrations agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

MIGRATIONS = Path(__file__).parent / "migrations"


# Full-text objects are created by dialect-specific DDL, not by the models.
FULLTEXT_OBJECTS = frozenset({"search_tsv", "ix_record_search_tsv"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """What autogenerate and drift checks compare: everything but the full-text objects."""
    if type_ == "table" and (name or "").startswith(("record_fts", "alembic")):
        return False
    return name not in FULLTEXT_OBJECTS


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False)
                        .replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_script_cfg()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def _script_cfg() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on the engine's database."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def stamp_head(engine: Engine) -> None:
    """Record the head revision (for a database just created from the models)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "head")


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the models and the database schema ([] when they agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_object})
        return list(compare_metadata(ctx, SQLModel.metadata))
