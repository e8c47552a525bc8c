"""``kb import`` and ``kb stats``."""

from __future__ import annotations

from pathlib import Path

import click

from harvester.errors import ParseError
from kb import repository
from kb.cli import EXIT_PARTIAL
from kb.commands.output import emit, progress_bar
from kb.importer import SAMPLE_DIR, import_files
from kb.linking import link_all


@click.command("import")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--sample", is_flag=True,
              help="Import the real records shipped with the package (kb/sample/).")
@click.pass_obj
def import_cmd(obj, paths: tuple[Path, ...], sample: bool) -> None:
    """Load PubMed XML (efetch or MEDLINE baseline), or corpus JSONL files; plain or .gz.

    Directories are searched for *.xml, *.jsonl (and .gz). Re-importing is idempotent:
    records are upserted by PMID (or DOI), changed ones updated, none duplicated. Lines or
    files that cannot be parsed are quarantined (see `kb stats`) and the rest is kept.
    """
    targets = list(paths) + ([SAMPLE_DIR] if sample else [])
    if not targets:
        raise click.UsageError("give PATH... or --sample")
    engine = obj.engine()
    with progress_bar(obj, None, "import") as bar:
        try:
            report = import_files(engine, targets, progress=bar.update)
        except (FileNotFoundError, ParseError) as exc:
            raise click.ClickException(str(exc)) from exc
    links = link_all(engine)
    s = report.stats
    emit(obj, {**report.as_dict(), "links": links.as_dict()},
         f"imported {report.records} records from {report.files} files: {s.inserted} new, "
         f"{s.updated} updated, {s.unchanged} unchanged"
         + (f", {s.deleted} deleted" if s.deleted else "")
         + (f"; {len(report.errors)} problems quarantined" if report.errors else ""))
    for err in report.errors:
        click.echo(f"warning: {err}", err=True)
    if report.errors:
        raise SystemExit(EXIT_PARTIAL)


@click.command("stats")
@click.pass_obj
def stats_cmd(obj) -> None:
    """Counts by source, publication year and publication type."""
    data = repository.stats(obj.engine())
    lines = [f"records: {data['records']} (retracted {data['retracted']}, preprints "
             f"{data['preprints']}, duplicates merged {data['duplicates']}, deleted "
             f"{data['deleted']}, quarantined {data['quarantined']})", "by source:"]
    lines += [f"  {k:<14} {v:>7}" for k, v in data["by_source"].items()]
    lines.append("by year (last 15):")
    years = list(data["by_year"].items())
    lines += [f"  {k:<14} {v:>7}" for k, v in years[-15:]]
    lines.append("by publication type (top 15):")
    lines += [f"  {k[:40]:<40} {v:>7}" for k, v in list(data["by_publication_type"].items())[:15]]
    emit(obj, data, "\n".join(lines))


def register(group: click.Group) -> None:
    group.add_command(import_cmd)
    group.add_command(stats_cmd)
