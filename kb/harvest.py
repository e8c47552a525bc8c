"""Incremental, resumable harvests: windows, per-batch checkpoints, quarantine.

A run for (source, query) covers a date window. For PubMed it first lists every id added or
revised in the window, stores that list as the checkpoint, then fetches and stores batch after
batch, advancing the checkpoint in the same transaction as the records. A run killed at any point
leaves a checkpoint the next run resumes from: no duplicates, nothing lost. Ids PubMed did not
return are quarantined and retried at the start of the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from harvester.ctgov.client import CTGovClient
from harvester.ctgov.parser import trial_to_record
from harvester.errors import HarvestError
from harvester.europepmc.client import EuropePMCClient
from harvester.records import Deletion, Record, Trial
from kb import repository
from kb.ingest import ingest_batch
from kb.models import utcnow

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


class PubMedFetcher(Protocol):
    """What the harvest needs from an E-utilities client."""

    batch_size: int

    def search_window(self, query: str, since: date, until: date) -> list[str]: ...

    def efetch(self, ids: list[str]) -> Any: ...  # FetchResult(records, deletions, missing)


@dataclass(slots=True)
class HarvestReport:
    """The outcome of one harvest, for the CLI (text and ``--json``) and the weekly run."""

    source: str
    query: str
    window_from: str | None = None
    window_to: str | None = None
    run_id: int | None = None
    status: str = "ok"  # ok | partial | failed
    found: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    missing: list[str] = field(default_factory=list)
    resumed: bool = False
    error: str | None = None
    record_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "source", "query", "window_from", "window_to", "run_id", "status", "found",
            "fetched", "inserted", "updated", "unchanged", "deleted", "missing", "resumed",
            "error")}

    def summary(self) -> str:
        line = (f"{self.source}: {self.status}; window {self.window_from}..{self.window_to}; "
                f"{self.found} found, {self.inserted} new, {self.updated} updated, "
                f"{self.unchanged} unchanged")
        if self.deleted:
            line += f", {self.deleted} deleted"
        if self.missing:
            line += f"; {len(self.missing)} missing (quarantined): {', '.join(self.missing[:10])}"
        if self.error:
            line += f"; error: {self.error}"
        return line


# What a harvest reports as a failed run (state kept for the next run); anything else is a bug.
HARVEST_FAILURES = (HarvestError, httpx.HTTPError, OSError, SQLAlchemyError)


def _failed(engine: Engine, report: HarvestReport, exc: BaseException) -> None:
    report.status = "failed"
    report.error = f"{type(exc).__name__}: {exc}"
    log.error("%s harvest failed: %s (the next run resumes from the checkpoint)",
              report.source, report.error)
    if report.run_id is not None:
        repository.finish_run(engine, report.run_id, "failed", report.error)


def plan_window(state: dict[str, Any] | None, since: date | None, until: date | None, *,
                today: date, overlap_days: int, start_date: date) -> tuple[date, date]:
    """The window to harvest: explicit dates win; otherwise from the last success minus overlap."""
    end = until or today
    if since is not None:
        return since, end
    last = (state or {}).get("last_until")
    begin = date.fromisoformat(last) - timedelta(days=overlap_days) if last else start_date
    return min(begin, end), end


def harvest_pubmed(engine: Engine, client: PubMedFetcher, query: str, *,
                   since: date | None = None, until: date | None = None,
                   max_records: int | None = None, overlap_days: int = 1,
                   start_date: date = date(1960, 1, 1), today: date | None = None,
                   progress: Callable[[int, int], None] | None = None) -> HarvestReport:
    """Harvest PubMed for ``query`` incrementally (see module docstring)."""
    source = "pubmed"
    state = repository.get_state(engine, source, query)
    checkpoint = dict((state or {}).get("checkpoint") or {})
    report = HarvestReport(source=source, query=query)
    if checkpoint.get("ids") is not None and since is None and until is None:
        # An interrupted run: resume exactly where it stopped.
        report.resumed = True
        w_from, w_to = checkpoint["window_from"], checkpoint["window_to"]
        ids: list[str] = list(checkpoint["ids"])
        done = int(checkpoint.get("done", 0))
        complete_window = bool(checkpoint.get("complete_window", True))
        log.info("resuming %s run at %d/%d ids", source, done, len(ids))
    else:
        begin, end = plan_window(state, since, until, today=today or date.today(),
                                 overlap_days=overlap_days, start_date=start_date)
        w_from, w_to = begin.isoformat(), end.isoformat()
        ids = []
        done = 0
        complete_window = True
    report.window_from, report.window_to = w_from, w_to
    run_id = repository.start_run(engine, source, query, w_from, w_to)
    report.run_id = run_id
    try:
        if not report.resumed:
            ids = client.search_window(query, date.fromisoformat(w_from),
                                       date.fromisoformat(w_to))
            # Retry what earlier runs could not fetch.
            retry = [q["item"] for q in repository.open_quarantine(engine, source)
                     if q["item"].isdigit()]
            ids = list(dict.fromkeys(ids + retry))
            if max_records is not None and len(ids) > max_records:
                ids = ids[:max_records]
                complete_window = False
            with engine.begin() as conn:
                repository.save_state(conn, source, query, checkpoint={
                    "window_from": w_from, "window_to": w_to, "ids": ids, "done": 0,
                    "complete_window": complete_window})
                repository.update_run(conn, run_id, found=len(ids))
        else:
            repository.update_run(engine, run_id, found=len(ids))
        report.found = len(ids)
        step = max(1, min(int(getattr(client, "batch_size", 200)), 500))
        while done < len(ids):
            batch = ids[done:done + step]
            result = client.efetch(batch)
            items: list[Record | Deletion] = [*result.records, *result.deletions]
            missing = list(result.missing)
            with engine.begin() as conn:
                stats = ingest_batch(conn, items)
                got = [r.pmid for r in result.records if r.pmid]
                repository.resolve_quarantine(conn, source, got)
                for pmid in missing:
                    repository.quarantine(conn, source, pmid,
                                          "PMID requested from efetch but not returned",
                                          run_id=run_id)
                done += len(batch)
                repository.save_state(conn, source, query, checkpoint={
                    "window_from": w_from, "window_to": w_to, "ids": ids, "done": done,
                    "complete_window": complete_window})
                repository.add_run_counts(conn, run_id, {
                    "fetched": len(result.records), "inserted": stats.inserted,
                    "updated": stats.updated, "unchanged": stats.unchanged,
                    "quarantined": len(missing)})
            report.fetched += len(result.records)
            report.inserted += stats.inserted
            report.updated += stats.updated
            report.unchanged += stats.unchanged
            report.deleted += stats.deleted
            report.missing += missing
            report.record_ids += stats.record_ids
            if progress:
                progress(done, len(ids))
        with engine.begin() as conn:
            repository.save_state(conn, source, query, checkpoint={},
                                  last_until=w_to if complete_window else None)
        report.status = "partial" if report.missing else "ok"
        repository.finish_run(engine, run_id, report.status)
    except HARVEST_FAILURES as exc:
        _failed(engine, report, exc)
    return report


# --- paged sources (Europe PMC cursorMark, ClinicalTrials.gov pageToken) ---

Page = tuple[list[Record], list[Trial], str | None]  # records, trials, cursor of the next page
PageSource = Callable[[date, date, str | None, int | None], Iterator[Page]]


def harvest_paged(engine: Engine, source: str, query: str, pages: PageSource, *,
                  since: date | None = None, until: date | None = None,
                  max_records: int | None = None, overlap_days: int = 1,
                  start_date: date = date(1960, 1, 1), today: date | None = None,
                  progress: Callable[[int, int], None] | None = None) -> HarvestReport:
    """Harvest a cursor-paged source; the cursor is checkpointed after every stored page.

    ``pages(since, until, cursor, max_records)`` yields (records, trials, next cursor); a run
    killed mid-way resumes from the last stored cursor of the same window.
    """
    state = repository.get_state(engine, source, query)
    checkpoint = dict((state or {}).get("checkpoint") or {})
    report = HarvestReport(source=source, query=query)
    cursor: str | None = None
    if "cursor" in checkpoint and since is None and until is None:
        report.resumed = True
        w_from, w_to = checkpoint["window_from"], checkpoint["window_to"]
        cursor = checkpoint["cursor"]
    else:
        begin, end = plan_window(state, since, until, today=today or date.today(),
                                 overlap_days=overlap_days, start_date=start_date)
        w_from, w_to = begin.isoformat(), end.isoformat()
    report.window_from, report.window_to = w_from, w_to
    run_id = repository.start_run(engine, source, query, w_from, w_to)
    report.run_id = run_id
    complete = True
    try:
        for records, trials, next_cursor in pages(date.fromisoformat(w_from),
                                                  date.fromisoformat(w_to), cursor, max_records):
            with engine.begin() as conn:
                stats = ingest_batch(conn, list(records)) if records else None
                t_new = t_changed = t_same = 0
                if trials:
                    t_new, t_changed, t_same = repository.upsert_trials(
                        conn, [trial_to_row(t) for t in trials])
                    repository.attach_trial_records(conn, [t.nct_id for t in trials])
                repository.save_state(conn, source, query, checkpoint={
                    "window_from": w_from, "window_to": w_to, "cursor": next_cursor})
                counts = {"fetched": len(records) or len(trials),
                          "inserted": (stats.inserted if stats else 0) or t_new,
                          "updated": (stats.updated if stats else 0) or t_changed,
                          "unchanged": (stats.unchanged if stats else 0) or t_same}
                repository.add_run_counts(conn, run_id, counts)
            report.fetched += counts["fetched"]
            report.found += counts["fetched"]
            report.inserted += counts["inserted"]
            report.updated += counts["updated"]
            report.unchanged += counts["unchanged"]
            if stats:
                report.record_ids += stats.record_ids
            if progress:
                progress(report.fetched, max(report.fetched, max_records or 0))
            if max_records is not None and report.fetched >= max_records:
                complete = False
        with engine.begin() as conn:
            repository.save_state(conn, source, query, checkpoint={},
                                  last_until=w_to if complete else None)
        report.status = "ok"
        repository.finish_run(engine, run_id, report.status)
    except HARVEST_FAILURES as exc:
        _failed(engine, report, exc)
    return report


def europepmc_pages(client: EuropePMCClient, query: str) -> PageSource:
    """Europe PMC pages for a window: first published or updated inside it."""
    def pages(since: date, until: date, cursor: str | None,
              max_records: int | None) -> Iterator[Page]:
        window = (f"({query}) AND (FIRST_PDATE:[{since} TO {until}] OR "
                  f"UPDATE_DATE:[{since} TO {until}])")
        for page in client.search(window, max_records=max_records, cursor_mark=cursor or "*"):
            yield page.records, [], page.next_cursor_mark
    return pages


def ctgov_pages(client: CTGovClient, query: str) -> PageSource:
    """ClinicalTrials.gov pages for a window of last-update dates; each trial is also stored
    as a registry record (``nct:NCT...``) so it is searched and tagged like an article."""
    def pages(since: date, until: date, cursor: str | None,
              max_records: int | None) -> Iterator[Page]:
        for page in client.search(query, updated_since=since, updated_until=until,
                                  max_studies=max_records, page_token=cursor):
            yield [trial_to_record(t) for t in page.studies], page.studies, page.next_page_token
    return pages


def trial_to_row(trial: Trial) -> dict[str, Any]:
    """The ``trial`` table row of a parsed trial."""
    row: dict[str, Any] = {
        k: getattr(trial, k) for k in (
            "nct_id", "brief_title", "official_title", "acronym", "brief_summary",
            "detailed_description", "overall_status", "why_stopped", "phases", "study_type",
            "conditions", "keywords", "enrollment", "enrollment_type", "allocation", "masking",
            "primary_purpose", "start_date", "primary_completion_date", "completion_date",
            "first_posted", "last_update_posted", "sponsor", "collaborators", "has_results",
            "reference_pmids")}
    for k in ("condition_mesh", "intervention_mesh", "interventions", "arms", "outcomes"):
        row[k] = [asdict(x) for x in getattr(trial, k)]
    row["content_hash"] = hashlib.sha256(
        json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    row["raw"] = zlib.compress(trial.raw) if trial.raw else None
    now = utcnow()
    row["first_seen"] = now
    row["updated_at"] = now
    return row
