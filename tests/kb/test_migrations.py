"""Alembic migrations on SQLite and PostgreSQL: empty database, previous revision, drift."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from harvester.records import Record
from kb import migrate, repository
from kb.cli import cli
from kb.db import init_db, make_engine
from kb.ingest import ingest
from kb.maintenance import check


def previous_revision() -> str:
    script = ScriptDirectory.from_config(migrate._script_cfg())
    head = script.get_revision(migrate.head_revision())
    assert head is not None and isinstance(head.down_revision, str), "need >= 2 revisions"
    return head.down_revision


def test_upgrade_empty_database_matches_models(blank_engine: Engine) -> None:
    assert migrate.current_revision(blank_engine) is None
    migrate.upgrade(blank_engine)
    assert migrate.current_revision(blank_engine) == migrate.head_revision()
    assert migrate.schema_diff(blank_engine) == []
    ingest(blank_engine, [Record(source="pubmed", pmid="1", title="Esketamine nasal spray")])
    assert repository.list_records(blank_engine, search="esketamine")[0] == 1  # full-text index


def test_upgrade_from_previous_revision_keeps_data(blank_engine: Engine) -> None:
    migrate.upgrade(blank_engine, previous_revision())
    assert migrate.current_revision(blank_engine) == previous_revision()
    ingest(blank_engine, [Record(source="pubmed", pmid="7", title="Ketamine infusion for TRD")])
    init_db(blank_engine)  # what opening the database with a newer kb does
    assert migrate.current_revision(blank_engine) == migrate.head_revision()
    assert migrate.schema_diff(blank_engine) == []
    assert repository.record_keys(blank_engine) == ["pmid:7"]
    assert repository.list_records(blank_engine, search="infusion")[0] == 1


def test_models_and_migrations_agree_for_a_created_database(engine: Engine) -> None:
    # make_engine creates tables from the models and stamps head: the same schema.
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.schema_diff(engine) == []
    report = check(engine)
    assert report["ok"], report


def test_db_cli_upgrade_check_backup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    runner = CliRunner()
    up = runner.invoke(cli, ["--database-url", url, "db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert migrate.head_revision() in up.output
    ok = runner.invoke(cli, ["--database-url", url, "db", "check"])
    assert ok.exit_code == 0 and "OK" in ok.output
    backup = runner.invoke(cli, ["--database-url", url, "db", "backup",
                                 str(tmp_path / "b" / "copy.sqlite")])
    assert backup.exit_code == 0, backup.output
    copy_check = runner.invoke(cli, ["--database-url", f"sqlite:///{tmp_path / 'b/copy.sqlite'}",
                                     "db", "check"])
    assert copy_check.exit_code == 0, copy_check.output


def test_db_check_reports_problems(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    ingest(engine, [Record(source="pubmed", pmid="1", title="t")])
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("UPDATE record SET duplicate_of = 999 WHERE pmid = '1'")
    report = check(engine)
    assert not report["ok"]
    assert report["dangling"]["record.duplicate_of"] == 1
    result = CliRunner().invoke(cli, ["--database-url", f"sqlite:///{tmp_path / 'kb.sqlite'}",
                                      "db", "check"])
    assert result.exit_code == 1 and "PROBLEMS FOUND" in result.output
