"""``kb import``: load files (PubMed XML, MEDLINE baseline, corpus JSONL; plain or gzip)."""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, BinaryIO, cast

from sqlalchemy.engine import Engine

from harvester.corpus import parse_corpus_jsonl
from harvester.errors import ParseError
from harvester.pubmed.parser import parse_pubmed_xml
from harvester.records import Deletion, Record
from kb import repository
from kb.ingest import DEFAULT_BATCH, IngestStats, Prepared, batched, ingest_prepared, prepare

log = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).parent / "sample"
SUFFIXES = (".xml", ".xml.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz")


@dataclass(slots=True)
class ImportReport:
    files: int = 0
    records: int = 0
    stats: IngestStats = field(default_factory=IngestStats)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "records": self.records, **self.stats.as_dict(),
                "errors": self.errors}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to import: given files, and the importable files under given directories."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    return out


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def _kind(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".xml"):
        return "xml"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    raise ParseError(f"{path}: unknown file type (expected .xml, .jsonl, optionally .gz)")


def _items(path: Path, fh: BinaryIO, errors: list[str]) -> Iterator[Record | Deletion]:
    if _kind(path) == "xml":
        try:
            yield from parse_pubmed_xml(fh)
        except ParseError as exc:  # records before the fault were yielded and are kept
            errors.append(f"{path}: {exc}")
        return
    for item in parse_corpus_jsonl(fh):
        if isinstance(item, ParseError):
            errors.append(f"{path}: {item}")
        else:
            yield item


def import_files(engine: Engine, paths: list[Path], *, batch_size: int = DEFAULT_BATCH,
                 progress: Callable[[int], object] | None = None) -> ImportReport:
    """Parse and upsert every file; unreadable parts are quarantined, the rest is kept.

    Parsing and row preparation run in a background thread while the database writes the
    previous batch (lxml, zlib and SQLite release the GIL, so the two overlap on 2 cores).
    """
    report = ImportReport()
    for path in expand_paths(paths):
        report.files += 1
        errors: list[str] = []
        with _open(path) as fh:
            for prepared in _prepared_batches(_items(path, fh, errors), batch_size):
                with engine.begin() as conn:
                    report.stats.add(ingest_prepared(conn, prepared))
                report.records += prepared.size
                if progress:
                    progress(prepared.size)
        if errors:
            with engine.begin() as conn:
                for err in errors:
                    repository.quarantine(conn, "import", str(path), err)
            report.errors += errors
            for err in errors:
                log.warning("quarantined: %s", err)
    return report


_DONE = object()


def _prepared_batches(items: Iterator[Record | Deletion], size: int) -> Iterator[Prepared]:
    """:func:`kb.ingest.prepare` d batches, produced one batch ahead in a worker thread."""
    queue: Queue[Any] = Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batched(items, size):
                if stop.is_set():
                    return
                queue.put(prepare(batch))
        except BaseException as exc:  # re-raised in the consumer, never lost
            queue.put(exc)
        else:
            queue.put(_DONE)

    worker = threading.Thread(target=produce, name="kb-import-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        worker.join()
