"""``kb harvest SOURCE``: incremental, resumable harvests."""

from __future__ import annotations

from datetime import date

import click

from harvester.http import PoliteClient, RetryPolicy
from kb.cli import EXIT_FAILED, EXIT_PARTIAL
from kb.commands.output import emit, progress_bar
from kb.harvest import HarvestReport, harvest_pubmed

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


def finish(obj, reports: list[HarvestReport]) -> None:
    """Print reports and exit 1 if any failed, 3 if any is partial."""
    data = [r.as_dict() for r in reports]
    emit(obj, data if len(data) > 1 else data[0], "\n".join(r.summary() for r in reports))
    if any(r.status == "failed" for r in reports):
        raise SystemExit(EXIT_FAILED)
    if any(r.status == "partial" for r in reports):
        raise SystemExit(EXIT_PARTIAL)


def run_pubmed(obj, query, since, until, max_records, base_url) -> HarvestReport:
    from harvester.pubmed.eutils import EUtilsClient

    cfg = obj.config
    if base_url:
        cfg.values["pubmed.base_url"] = base_url
    rate = cfg["pubmed.rate"] or (10.0 if cfg.ncbi_api_key else 3.0)
    http = PoliteClient(rate=rate, retry=RetryPolicy(attempts=cfg["harvest.retries"]))
    client = EUtilsClient(http, base_url=cfg["pubmed.base_url"], api_key=cfg.ncbi_api_key,
                          email=cfg.ncbi_email, tool=cfg["pubmed.tool"],
                          batch_size=cfg["pubmed.batch_size"])
    engine = obj.engine()
    with progress_bar(obj, None, "pubmed") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            return harvest_pubmed(
                engine, client, query or cfg["pubmed.query"],
                since=since.date() if since else None, until=until.date() if until else None,
                max_records=max_records, overlap_days=cfg["pubmed.overlap_days"],
                start_date=date.fromisoformat(cfg["pubmed.start_date"]), progress=progress)
        finally:
            http.close()


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
    finish(obj, [run_pubmed(obj, query, since, until, max_records, base_url)])


def register(group: click.Group) -> None:
    group.add_command(harvest_group)
