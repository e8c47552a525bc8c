"""``kb harvest SOURCE``: incremental, resumable harvests."""

from __future__ import annotations

from datetime import date

import click

from harvester.http import PoliteClient, RetryPolicy
from kb.cli import EXIT_FAILED, EXIT_PARTIAL
from kb.commands.output import emit, progress_bar
from kb.harvest import (
    HarvestReport,
    PageSource,
    ctgov_pages,
    europepmc_pages,
    harvest_paged,
    harvest_pubmed,
)
from kb.linking import link_all

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


def _paged(obj, source: str, pages_for, query, since, until, max_records,
           base_url) -> HarvestReport:
    cfg = obj.config
    http = PoliteClient(rate=cfg[f"{source}.rate"],
                        retry=RetryPolicy(attempts=cfg["harvest.retries"]))
    q = query or cfg[f"{source}.query"]
    pages: PageSource = pages_for(http, base_url or cfg[f"{source}.base_url"],
                                  cfg[f"{source}.page_size"], q)
    with progress_bar(obj, max_records, source) as bar:
        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        try:
            return harvest_paged(
                obj.engine(), source, q, pages, since=since.date() if since else None,
                until=until.date() if until else None, max_records=max_records,
                overlap_days=cfg["pubmed.overlap_days"],
                start_date=date.fromisoformat(cfg["pubmed.start_date"]), progress=progress)
        finally:
            http.close()


def _epmc_pages(http: PoliteClient, base_url: str, page_size: int, query: str) -> PageSource:
    from harvester.europepmc.client import EuropePMCClient

    return europepmc_pages(EuropePMCClient(http, base_url, page_size), query)


def _ctgov_pages(http: PoliteClient, base_url: str, page_size: int, query: str) -> PageSource:
    from harvester.ctgov.client import CTGovClient

    return ctgov_pages(CTGovClient(http, base_url, page_size), query)


RUNNERS = {
    "pubmed": run_pubmed,
    "europepmc": lambda obj, *a: _paged(obj, "europepmc", _epmc_pages, *a),
    "ctgov": lambda obj, *a: _paged(obj, "ctgov", _ctgov_pages, *a),
}


@harvest_group.command("europepmc")
@_common
@click.pass_obj
def harvest_europepmc_cmd(obj, query, since, until, max_records, base_url) -> None:
    """Europe PMC REST search (journal articles, PMC and preprints), cursorMark paging."""
    finish(obj, [RUNNERS["europepmc"](obj, query, since, until, max_records, base_url)])


@harvest_group.command("ctgov")
@_common
@click.pass_obj
def harvest_ctgov_cmd(obj, query, since, until, max_records, base_url) -> None:
    """ClinicalTrials.gov API v2 (registered trials), pageToken paging, ~1 request/s."""
    finish(obj, [RUNNERS["ctgov"](obj, query, since, until, max_records, base_url)])


@harvest_group.command("all")
@click.option("--since", type=DATE, default=None, help="Window start for every source.")
@click.option("--until", type=DATE, default=None, help="Window end for every source.")
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None,
              help="At most N records per source.")
@click.pass_obj
def harvest_all_cmd(obj, since, until, max_records) -> None:
    """Every source in harvest.sources, incrementally; a failed source does not stop the
    others (the exit code says it failed)."""
    reports = [harvest_source(obj, name, since=since, until=until, max_records=max_records)
               for name in obj.config["harvest.sources"]]
    finish(obj, reports)


def harvest_source(obj, name: str, **kw) -> HarvestReport:
    """One configured source with the configured query and base URL."""
    if name not in RUNNERS:
        raise click.UsageError(f"unknown source {name!r} in harvest.sources "
                               f"(known: {', '.join(RUNNERS)})")
    return RUNNERS[name](obj, None, kw.get("since"), kw.get("until"), kw.get("max_records"),
                         None)


def register(group: click.Group) -> None:
    group.add_command(harvest_group)
