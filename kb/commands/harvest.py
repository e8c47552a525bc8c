"""``kb harvest SOURCE``: incremental, resumable harvests."""

from __future__ import annotations

from datetime import datetime

import click

from kb.cli import EXIT_FAILED, EXIT_PARTIAL
from kb.commands.output import emit, progress_bar
from kb.harvest import HarvestReport
from kb.linking import link_all
from kb.sources import SOURCES, UnknownSource, harvest_source

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _common(f):
    for opt in reversed([
        click.option("--query", default=None, help="Search query (default: from config.toml)."),
        click.option("--since", type=DATE, default=None,
                     help="Window start YYYY-MM-DD (default: last successful run minus "
                          "the overlap)."),
        click.option("--until", type=DATE, default=None, help="Window end (default: today)."),
        click.option("--max", "max_records", type=click.IntRange(min=1), default=None,
                     help="Fetch at most N records (the window is then not marked done)."),
        click.option("--base-url", default=None, help="Source API base URL (mirrors, tests)."),
    ]):
        f = opt(f)
    return f


def run_source(obj, name: str, query: str | None = None, since: datetime | None = None,
               until: datetime | None = None, max_records: int | None = None,
               base_url: str | None = None) -> HarvestReport:
    """One source with a progress bar (silent under --quiet/--json)."""
    with progress_bar(obj, max_records, name) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            return harvest_source(obj.config, obj.engine(), name, query=query,
                                  since=since.date() if since else None,
                                  until=until.date() if until else None,
                                  max_records=max_records, base_url=base_url,
                                  progress=progress)
        except UnknownSource as exc:
            raise click.UsageError(str(exc)) from exc


def finish(obj, reports: list[HarvestReport]) -> None:
    """Link what arrived, print reports, exit 1 if any source failed, 3 if any is partial."""
    links = link_all(obj.engine())
    data: dict[str, object] = {"sources": [r.as_dict() for r in reports],
                               "links": links.as_dict()}
    text = "\n".join(r.summary() for r in reports)
    if any(links.as_dict().values()):
        text += (f"\nlinked: {links.versions} preprint/published versions, "
                 f"{links.trial_links} trial publications, {links.notices} notices")
    emit(obj, data, text)
    if any(r.status == "failed" for r in reports):
        raise SystemExit(EXIT_FAILED)
    if any(r.status == "partial" for r in reports):
        raise SystemExit(EXIT_PARTIAL)


@click.group("harvest")
def harvest_group() -> None:
    """Harvest sources incrementally (each run resumes an interrupted one).

    Exit codes: 0 ok, 1 a source failed (state kept; rerun to resume), 3 finished with ids
    missing (quarantined and retried by the next run).
    """


@harvest_group.command("pubmed")
@_common
@click.pass_obj
def harvest_pubmed_cmd(obj, query, since, until, max_records, base_url) -> None:
    """PubMed via NCBI E-utilities (esearch + efetch).

    Uses NCBI_API_KEY (10 requests/s instead of 3) and NCBI_EMAIL from the environment.
    """
    finish(obj, [run_source(obj, "pubmed", query, since, until, max_records, base_url)])


@harvest_group.command("europepmc")
@_common
@click.pass_obj
def harvest_europepmc_cmd(obj, query, since, until, max_records, base_url) -> None:
    """Europe PMC REST search (journal articles, PMC and preprints), cursorMark paging."""
    finish(obj, [run_source(obj, "europepmc", query, since, until, max_records, base_url)])


@harvest_group.command("ctgov")
@_common
@click.pass_obj
def harvest_ctgov_cmd(obj, query, since, until, max_records, base_url) -> None:
    """ClinicalTrials.gov API v2 (registered trials), pageToken paging, ~1 request/s."""
    finish(obj, [run_source(obj, "ctgov", query, since, until, max_records, base_url)])


@harvest_group.command("all")
@click.option("--since", type=DATE, default=None, help="Window start for every source.")
@click.option("--until", type=DATE, default=None, help="Window end for every source.")
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None,
              help="At most N records per source.")
@click.pass_obj
def harvest_all_cmd(obj, since, until, max_records) -> None:
    """Every source in harvest.sources, incrementally; a failed source does not stop the
    others (the exit code says it failed)."""
    names = obj.config["harvest.sources"]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise click.UsageError(f"unknown source(s) in harvest.sources: {', '.join(unknown)}")
    finish(obj, [run_source(obj, n, since=since, until=until, max_records=max_records)
                 for n in names])


def register(group: click.Group) -> None:
    group.add_command(harvest_group)
