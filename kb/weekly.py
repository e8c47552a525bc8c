"""The scheduled run: harvest every source -> link -> tag -> digest -> one-line summary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from kb import repository
from kb.config import Config
from kb.digest import build_digest, write_digest
from kb.harvest import HarvestReport
from kb.linking import LinkReport, link_all
from kb.locking import run_lock
from kb.sources import harvest_source

log = logging.getLogger(__name__)

Tagger = Callable[[Engine], int]  # tags what is untagged or stale; returns records tagged


@dataclass(slots=True)
class WeeklyReport:
    started: datetime
    sources: list[HarvestReport] = field(default_factory=list)
    links: LinkReport | None = None
    tagged: int = 0
    tag_error: str | None = None
    digest: list[str] = field(default_factory=list)
    digest_since: datetime | None = None

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.sources) and self.tag_error is None

    @property
    def status(self) -> str:
        if any(r.status == "failed" for r in self.sources) or self.tag_error:
            return "failed"
        return "ok" if self.ok else "partial"

    def summary(self) -> str:
        parts = [f"{r.source} {r.status} +{r.inserted}/~{r.updated}" for r in self.sources]
        line = (f"kb run {self.status}: " + ", ".join(parts)
                + f"; tagged {self.tagged}; digest {len(self.digest)} files")
        failed = [f"{r.source}: {r.error}" for r in self.sources if r.error]
        if self.tag_error:
            failed.append(f"tagging: {self.tag_error}")
        return line + (f"; errors: {' | '.join(failed)}" if failed else "")

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "started": self.started.isoformat(),
                "sources": [r.as_dict() for r in self.sources],
                "links": self.links.as_dict() if self.links else None,
                "tagged": self.tagged, "tag_error": self.tag_error,
                "digest": self.digest,
                "digest_since": self.digest_since.isoformat() if self.digest_since else None}


def previous_run_start(engine: Engine) -> datetime | None:
    runs = [r for r in repository.recent_runs(engine, 200)
            if r["source"] == "weekly" and r["status"] in ("ok", "partial")]
    return runs[0]["started_at"] if runs else None


def run_weekly(config: Config, engine: Engine, *, tagger: Tagger | None,
               sources: list[str] | None = None, digest_dir: Path | None = None,
               now: datetime | None = None) -> WeeklyReport:
    """One scheduled run under the run lock; a failed source does not stop the others."""
    started = now or datetime.now(UTC)
    report = WeeklyReport(started=started)
    with run_lock(config.data_dir / "kb-run.lock", engine):
        since = previous_run_start(engine) or (started - timedelta(days=7))
        run_id = repository.start_run(engine, "weekly", "kb run", since.date().isoformat(),
                                      started.date().isoformat())
        for name in (config["harvest.sources"] if sources is None else sources):
            rep = harvest_source(config, engine, name)
            report.sources.append(rep)
            log.info(rep.summary())
        report.links = link_all(engine)
        if tagger is not None:
            try:
                report.tagged = tagger(engine)
            except (ValueError, OSError, RuntimeError) as exc:
                report.tag_error = f"{type(exc).__name__}: {exc}"
        digest = build_digest(engine, since, now=started)
        report.digest_since = digest.since
        out = digest_dir or (config.data_dir / "digests")
        report.digest = [str(p) for p in write_digest(digest, out)]
        repository.finish_run(engine, run_id, report.status,
                              None if report.ok else report.summary())
    return report
