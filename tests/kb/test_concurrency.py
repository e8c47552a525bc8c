"""A harvest writing while dashboard readers query; a backup taken during a harvest."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from harvester.records import MeshHeading, Record
from kb import repository
from kb.db import make_engine
from kb.ingest import ingest
from kb.maintenance import backup_sqlite

BATCHES = 20
PER_BATCH = 200


def batch(n: int) -> list[Record]:
    return [Record(source="pubmed", pmid=str(1_000_000 + n * PER_BATCH + i),
                   title=f"Ketamine infusion study {n}-{i}", abstract="Esketamine " * 50,
                   mesh=[MeshHeading("Ketamine", "D007649")],
                   publication_types=["Randomized Controlled Trial"])
            for i in range(PER_BATCH)]


def write_all(engine: Engine, errors: list[BaseException], done: threading.Event,
              progress: threading.Event | None = None) -> None:
    try:
        for n in range(BATCHES):
            ingest(engine, batch(n), batch_size=PER_BATCH)
            if progress is not None and n == BATCHES // 2:
                progress.set()
    except BaseException as exc:  # the test asserts there is none
        errors.append(exc)
    finally:
        done.set()


def test_readers_never_see_locks_while_a_harvest_writes(engine: Engine) -> None:
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0]

    def read() -> None:
        try:
            while not done.is_set():
                repository.list_records(engine, search="ketamine", limit=25)
                repository.list_records(engine, limit=25, offset=50)
                repository.stats(engine)
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    writer = threading.Thread(target=write_all, args=(engine, errors, done))
    for t in [*readers, writer]:
        t.start()
    for t in [writer, *readers]:
        t.join(120)
    assert errors == []
    assert reads[0] > 10
    assert repository.record_count(engine) == BATCHES * PER_BATCH


def test_backup_during_a_harvest_is_consistent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}")
    errors: list[BaseException] = []
    done, halfway = threading.Event(), threading.Event()
    writer = threading.Thread(target=write_all, args=(engine, errors, done, halfway))
    writer.start()
    halfway.wait(60)
    copy = backup_sqlite(engine, tmp_path / "backup" / "kb.sqlite", pages_per_step=16)
    writer.join(120)
    assert errors == []
    db = sqlite3.connect(copy)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    records = db.execute("SELECT count(*) FROM record").fetchone()[0]
    assert 0 < records <= BATCHES * PER_BATCH and records % PER_BATCH == 0  # whole batches
    # Every stored record has its identifier, MeSH and publication-type rows.
    for table in ("record_identifier", "record_mesh", "record_pubtype"):
        assert db.execute(f"SELECT count(DISTINCT record_id) FROM {table}").fetchone()[0] == (
            records)
    fts = db.execute("SELECT count(*) FROM record_fts WHERE record_fts MATCH 'ketamine'")
    assert fts.fetchone()[0] == records
    restored = make_engine(f"sqlite:///{copy}")
    with restored.connect() as conn:
        assert conn.execute(select(func.count()).select_from(
            repository.R)).scalar_one() == records
