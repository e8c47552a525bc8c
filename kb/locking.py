"""A run lock so two weekly runs never overlap: a file lock, plus a PostgreSQL advisory lock
when several hosts share one database."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

ADVISORY_KEY = 0x6B62_7275_6E  # "kbrun"


class AlreadyRunning(RuntimeError):
    """Another run holds the lock."""


@contextlib.contextmanager
def run_lock(path: Path, engine: Engine | None = None) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock for the duration of the block.

    The lock file records the holder's PID; the OS releases the lock if the process dies, so a
    killed run never blocks the next one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = Path(path).read_text().strip() or "?"
            raise AlreadyRunning(f"another run holds {path} (pid {holder})") from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        if engine is not None and engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": ADVISORY_KEY}).scalar_one()
                if not got:
                    raise AlreadyRunning("another host holds the database's run lock")
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
        else:
            yield
    finally:
        os.close(fd)
