"""Operations: ``kb run`` (the scheduled weekly job), ``kb digest`` and ``kb db``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from kb.cli import EXIT_FAILED, EXIT_LOCKED, EXIT_PARTIAL
from kb.commands.output import emit
from kb.digest import build_digest, write_digest
from kb.locking import AlreadyRunning


def default_tagger(model_dir: str) -> Callable[[Engine], int]:
    """Tag new and changed records with the configured (or shipped) model."""
    def tag(engine: Engine) -> int:
        from kb.tagging.service import tag_pending

        return tag_pending(engine, model_dir=model_dir or None).tagged
    return tag


@click.command("run")
@click.option("--source", "sources", multiple=True,
              help="Only these sources (default: harvest.sources). Repeatable.")
@click.option("--no-tag", is_flag=True, help="Skip tagging.")
@click.option("--digest-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the digest (default: <data_dir>/digests).")
@click.pass_obj
def run_cmd(obj, sources: tuple[str, ...], no_tag: bool, digest_dir: Path | None) -> None:
    """The weekly job: harvest every source incrementally, link, tag, write the digest.

    Prints one summary line (or --json). A lock prevents overlapping runs (exit 4 when one is
    running); a failed source does not stop the others and makes the exit code 1; the next run
    resumes and catches up.
    """
    from kb.weekly import run_weekly

    tagger = None if no_tag else default_tagger(obj.config["paths.model_dir"])
    try:
        report = run_weekly(obj.config, obj.engine(), tagger=tagger,
                            sources=list(sources) or None, digest_dir=digest_dir)
    except AlreadyRunning as exc:
        click.echo(f"kb run: {exc}", err=True)
        raise SystemExit(EXIT_LOCKED) from exc
    if obj.json:
        emit(obj, report.as_dict())
    else:
        click.echo(report.summary())  # the one line cron mails / monitors read
    if report.status == "failed":
        raise SystemExit(EXIT_FAILED)
    if report.status == "partial":
        raise SystemExit(EXIT_PARTIAL)


@click.command("digest")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Records first seen since this date (default: 7 days ago).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Directory (default: <data_dir>/digests).")
@click.pass_obj
def digest_cmd(obj, since: datetime | None, output: Path | None) -> None:
    """Write what is new (by condition and design, retractions called out) as Markdown, HTML
    and an Atom feed."""
    start = since.replace(tzinfo=UTC) if since else datetime.now(UTC) - timedelta(days=7)
    digest = build_digest(obj.engine(), start)
    paths = write_digest(digest, output or obj.config.data_dir / "digests")
    emit(obj, {"since": start.isoformat(), "records": len(digest.records),
               "retracted": len(digest.retracted), "files": [str(p) for p in paths]},
         f"{len(digest.records)} new records, {len(digest.retracted)} newly retracted since "
         f"{start:%Y-%m-%d}: " + ", ".join(str(p) for p in paths))


@click.group("db")
def db_group() -> None:
    """Schema migrations, integrity checks and backups."""


@db_group.command("upgrade")
@click.option("--revision", default="head", help="Target revision (default: head).")
@click.pass_obj
def db_upgrade_cmd(obj, revision: str) -> None:
    """Apply Alembic migrations (SQLite and PostgreSQL)."""
    from kb.db import make_engine
    from kb.migrate import current_revision, upgrade

    engine = make_engine(obj.config.database_url, create=False)
    before = current_revision(engine)
    upgrade(engine, revision)
    emit(obj, {"from": before, "to": current_revision(engine)},
         f"database at revision {current_revision(engine)} (was {before})")


@db_group.command("check")
@click.pass_obj
def db_check_cmd(obj) -> None:
    """Integrity check: storage, schema revision, model/schema drift, dangling references."""
    from kb.maintenance import check

    result = check(obj.engine())
    text = "\n".join([
        f"storage: {', '.join(result['storage'])}",
        f"revision: {result['revision']} (head {result['head']})",
        f"schema drift: {len(result['schema_diff'])} differences",
        "dangling references: " + (", ".join(f"{k} {v}" for k, v in result["dangling"].items()
                                             if v) or "none"),
        "OK" if result["ok"] else "PROBLEMS FOUND"])
    emit(obj, result, text)
    if not result["ok"]:
        raise SystemExit(EXIT_FAILED)


@db_group.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def db_backup_cmd(obj, path: Path) -> None:
    """Consistent online copy of the SQLite database to PATH (safe during a harvest).

    For PostgreSQL use pg_dump (see docs/deployment.md).
    """
    from kb.maintenance import BackupError, backup_sqlite

    try:
        out = backup_sqlite(obj.engine(), path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    emit(obj, {"backup": str(out), "bytes": out.stat().st_size},
         f"backup written to {out} ({out.stat().st_size:,} bytes)")


def register(group: click.Group) -> None:
    group.add_command(run_cmd)
    group.add_command(digest_cmd)
    group.add_command(db_group)
