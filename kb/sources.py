"""Build each source's client from the configuration and run its harvest (no CLI here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.engine import Engine

from harvester.ctgov.client import CTGovClient
from harvester.europepmc.client import EuropePMCClient
from harvester.http import DEFAULT_TIMEOUT, PoliteClient, RetryPolicy
from harvester.pubmed.eutils import EUtilsClient
from kb.config import Config
from kb.harvest import HarvestReport, ctgov_pages, europepmc_pages, harvest_paged, harvest_pubmed

SOURCES = ("pubmed", "europepmc", "ctgov")
Progress = Callable[[int, int], None]


class UnknownSource(ValueError):
    """A source name that is not one of ``SOURCES``."""


def _http(config: Config, rate: float) -> PoliteClient:
    import httpx

    timeout = httpx.Timeout(config["harvest.timeout"], connect=DEFAULT_TIMEOUT.connect)
    return PoliteClient(rate=rate, retry=RetryPolicy(attempts=config["harvest.retries"]),
                        timeout=timeout)


def harvest_source(config: Config, engine: Engine, name: str, *, query: str | None = None,
                   since: date | None = None, until: date | None = None,
                   max_records: int | None = None, base_url: str | None = None,
                   progress: Progress | None = None) -> HarvestReport:
    """Harvest one source incrementally with the configured query, base URL and rate."""
    if name not in SOURCES:
        raise UnknownSource(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    q = query or config[f"{name}.query"]
    url = base_url or config[f"{name}.base_url"]
    window = {"since": since, "until": until, "max_records": max_records,
              "overlap_days": config["pubmed.overlap_days"],
              "start_date": date.fromisoformat(config["pubmed.start_date"]),
              "progress": progress}
    if name == "pubmed":
        rate = config["pubmed.rate"] or (10.0 if config.ncbi_api_key else 3.0)
        http = _http(config, rate)
        client = EUtilsClient(http, base_url=url, api_key=config.ncbi_api_key,
                              email=config.ncbi_email, tool=config["pubmed.tool"],
                              batch_size=config["pubmed.batch_size"])
        try:
            return harvest_pubmed(engine, client, q, **window)
        finally:
            http.close()
    http = _http(config, config[f"{name}.rate"])
    try:
        if name == "europepmc":
            pages = europepmc_pages(EuropePMCClient(http, url, config["europepmc.page_size"]), q)
        else:
            pages = ctgov_pages(CTGovClient(http, url, config["ctgov.page_size"]), q)
        return harvest_paged(engine, name, q, pages, **window)
    finally:
        http.close()
