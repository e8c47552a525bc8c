"""All SQL of the knowledge base, in one place. Values are always bound, never pasted.

Functions take an ``Engine`` and plain values / dicts, so the CLI, the dashboard and the tests
share them. Dialect differences (SQLite FTS5 vs PostgreSQL tsvector) stay in this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from kb.models import (
    HarvestRun,
    HarvestState,
    Quarantine,
    RecordIdentifier,
    RecordMesh,
    RecordPubType,
    RecordRow,
    utcnow,
)

R = RecordRow.__table__  # type: ignore[attr-defined]
IDENT = RecordIdentifier.__table__  # type: ignore[attr-defined]
MESH = RecordMesh.__table__  # type: ignore[attr-defined]
PUBTYPE = RecordPubType.__table__  # type: ignore[attr-defined]
RUN = HarvestRun.__table__  # type: ignore[attr-defined]
STATE = HarvestState.__table__  # type: ignore[attr-defined]
QUAR = Quarantine.__table__  # type: ignore[attr-defined]

# SQLite allows 32,766 bound parameters per statement; stay well below for IN lists.
IN_CHUNK = 900


def chunks(seq: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


# --- full-text index ---

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS record_fts USING fts5("
    "title, abstract, content='record', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS record_fts_ai AFTER INSERT ON record BEGIN "
    "INSERT INTO record_fts(rowid, title, abstract) VALUES (new.id, new.title, new.abstract); END",
    "CREATE TRIGGER IF NOT EXISTS record_fts_ad AFTER DELETE ON record BEGIN "
    "INSERT INTO record_fts(record_fts, rowid, title, abstract) "
    "VALUES ('delete', old.id, old.title, old.abstract); END",
    "CREATE TRIGGER IF NOT EXISTS record_fts_au AFTER UPDATE OF title, abstract ON record BEGIN "
    "INSERT INTO record_fts(record_fts, rowid, title, abstract) "
    "VALUES ('delete', old.id, old.title, old.abstract); "
    "INSERT INTO record_fts(rowid, title, abstract) VALUES (new.id, new.title, new.abstract); END",
)
_PG_FTS = (
    "ALTER TABLE record ADD COLUMN IF NOT EXISTS search_tsv tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(abstract, '')), 'B')) STORED",
    "CREATE INDEX IF NOT EXISTS ix_record_search_tsv ON record USING gin (search_tsv)",
)


def ensure_fulltext(engine: Engine) -> None:
    """Create the full-text index for the engine's dialect (idempotent)."""
    statements = _SQLITE_FTS if engine.dialect.name == "sqlite" else _PG_FTS
    if engine.dialect.name not in {"sqlite", "postgresql"}:
        return
    with engine.begin() as conn:
        for stmt in statements:
            conn.execute(text(stmt))


# --- records ---


def find_existing(conn: Connection, keys: Sequence[str], pmids: Sequence[str],
                  dois: Sequence[str]) -> list[dict[str, Any]]:
    """Rows matching any of the keys, PMIDs or DOIs (for upsert and cross-source merge)."""
    cols = [c for c in R.c if c.name != "raw"]
    found: dict[int, dict[str, Any]] = {}
    for column, values in ((R.c.key, keys), (R.c.pmid, pmids), (R.c.doi, dois)):
        vals = [v for v in values if v]
        for part in chunks(vals):
            for row in conn.execute(select(*cols).where(column.in_(part))):
                found[row.id] = dict(row._mapping)
    return list(found.values())


def insert_records(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Bulk-insert record rows; returns ``{key: id}`` of the inserted rows."""
    if not rows:
        return {}
    conn.execute(insert(R), list(rows))
    keys = [r["key"] for r in rows]
    ids: dict[str, int] = {}
    for part in chunks(keys):
        ids.update({k: i for i, k in conn.execute(select(R.c.id, R.c.key).where(R.c.key.in_(part)))})
    return ids


def update_records(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk-update record rows by ``id`` (each mapping holds ``id`` and the new values)."""
    if not rows:
        return
    # Group by column set so every executemany has a uniform statement.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        cols = tuple(sorted(k for k in row if k != "id"))
        groups.setdefault(cols, []).append({**{f"v_{k}": row[k] for k in cols}, "b_id": row["id"]})
    from sqlalchemy import bindparam

    for cols, params in groups.items():
        stmt = (update(R).where(R.c.id == bindparam("b_id"))
                .values({k: bindparam(f"v_{k}") for k in cols}))
        conn.execute(stmt, params)


def replace_record_parts(conn: Connection, record_ids: Sequence[int],
                         identifiers: Sequence[Mapping[str, Any]],
                         mesh: Sequence[Mapping[str, Any]],
                         pubtypes: Sequence[Mapping[str, Any]]) -> None:
    """Replace the identifier, MeSH and publication-type rows of the given records."""
    for part in chunks(list(record_ids)):
        for table in (IDENT, MESH, PUBTYPE):
            conn.execute(delete(table).where(table.c.record_id.in_(part)))
    for table, rows in ((IDENT, identifiers), (MESH, mesh), (PUBTYPE, pubtypes)):
        if rows:
            conn.execute(insert(table), list(rows))


def mark_deleted(conn: Connection, pmids: Sequence[str]) -> int:
    """Flag records whose PMIDs PubMed deleted (kept, never dropped)."""
    n = 0
    for part in chunks(list(pmids)):
        res = conn.execute(update(R).where(R.c.pmid.in_(part)).values(deleted=True,
                                                                      updated_at=utcnow()))
        n += res.rowcount or 0
    return n


def record_count(engine: Engine, *, include_duplicates: bool = False) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(R)
        if not include_duplicates:
            stmt = stmt.where(R.c.duplicate_of.is_(None))
        return int(conn.execute(stmt).scalar_one())


def record_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(R.c.key).order_by(R.c.id)).scalars())


def get_record(engine: Engine, ref: str | int) -> dict[str, Any] | None:
    """One record by numeric id, key (``pmid:N``) or bare PMID / DOI."""
    with engine.connect() as conn:
        return _get_record(conn, ref)


def _get_record(conn: Connection, ref: str | int) -> dict[str, Any] | None:
    if isinstance(ref, int):
        cond = R.c.id == ref
    else:
        s = ref.strip()
        if s.lower().startswith("id:") and s[3:].isdigit():
            cond = R.c.id == int(s[3:])
        elif s.isdigit():
            cond = R.c.pmid == s
        elif s.lower().startswith("doi:") or s.startswith("10."):
            cond = R.c.doi == s.lower().removeprefix("doi:")
        else:
            cond = R.c.key == s
    row = conn.execute(select(R).where(cond).order_by(R.c.id).limit(1)).first()
    return dict(row._mapping) if row else None


def stats(engine: Engine) -> dict[str, Any]:
    """Counts by source, publication year and publication type, plus totals."""
    live = and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(R).where(live)).scalar_one()
        by_source = dict(conn.execute(select(R.c.source, func.count()).where(live)
                                      .group_by(R.c.source).order_by(R.c.source)).all())
        by_year = dict(conn.execute(select(R.c.pub_year, func.count()).where(live)
                                    .group_by(R.c.pub_year).order_by(R.c.pub_year)).all())
        by_type = dict(conn.execute(
            select(PUBTYPE.c.name, func.count(func.distinct(PUBTYPE.c.record_id)))
            .join(R, R.c.id == PUBTYPE.c.record_id).where(live)
            .group_by(PUBTYPE.c.name).order_by(func.count(func.distinct(PUBTYPE.c.record_id))
                                               .desc())).all())
        retracted = conn.execute(select(func.count()).select_from(R)
                                 .where(live, R.c.is_retracted.is_(True))).scalar_one()
        preprints = conn.execute(select(func.count()).select_from(R)
                                 .where(live, R.c.is_preprint.is_(True))).scalar_one()
        duplicates = conn.execute(select(func.count()).select_from(R)
                                  .where(R.c.duplicate_of.is_not(None))).scalar_one()
        deleted = conn.execute(select(func.count()).select_from(R)
                               .where(R.c.deleted.is_(True))).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(QUAR)
                                   .where(QUAR.c.resolved.is_(False))).scalar_one()
    return {
        "records": int(total),
        "by_source": {str(k): int(v) for k, v in by_source.items()},
        "by_year": {("unknown" if k is None else str(k)): int(v) for k, v in by_year.items()},
        "by_publication_type": {str(k): int(v) for k, v in by_type.items()},
        "retracted": int(retracted),
        "preprints": int(preprints),
        "duplicates": int(duplicates),
        "deleted": int(deleted),
        "quarantined": int(quarantined),
    }


def fulltext_ids(conn: Connection, query: str, limit: int | None = None) -> list[int]:
    """Record ids matching a *safe* full-text query (see ``kb.search.to_fts_query``)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT rowid FROM record_fts WHERE record_fts MATCH :q ORDER BY rank"
    else:
        sql = ("SELECT id FROM record WHERE search_tsv @@ websearch_to_tsquery('english', :q) "
               "ORDER BY ts_rank(search_tsv, websearch_to_tsquery('english', :q)) DESC")
    if limit:
        sql += " LIMIT :limit"
    return list(conn.execute(text(sql), {"q": query, "limit": limit}).scalars())


def list_records(engine: Engine, *, search: str | None = None, limit: int = 25,
                 offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """A page of records (newest first), optionally filtered by a full-text query."""
    from kb.search import to_fts_query

    cols = (R.c.id, R.c.key, R.c.title, R.c.journal, R.c.pub_year, R.c.source,
            R.c.is_retracted, R.c.is_preprint, R.c.publication_types)
    live = and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))
    with engine.connect() as conn:
        stmt = select(*cols).where(live)
        count_stmt = select(func.count()).select_from(R).where(live)
        if search and search.strip():
            q = to_fts_query(search, conn.dialect.name)
            if not q:
                return 0, []
            ids = fulltext_ids(conn, q)
            if not ids:
                return 0, []
            stmt = stmt.where(R.c.id.in_(ids))
            count_stmt = count_stmt.where(R.c.id.in_(ids))
        total = int(conn.execute(count_stmt).scalar_one())
        rows = conn.execute(stmt.order_by(R.c.pub_year.desc().nulls_last(), R.c.id.desc())
                            .limit(limit).offset(offset)).all()
    return total, [dict(r._mapping) for r in rows]


# --- harvest bookkeeping ---


def query_hash(source: str, query: str) -> str:
    return hashlib.sha256(f"{source}\x00{query}".encode()).hexdigest()


def get_state(engine: Engine, source: str, query: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(STATE).where(STATE.c.source == source,
                                               STATE.c.query_hash == query_hash(source, query))
                           ).first()
    return dict(row._mapping) if row else None


def save_state(conn: Connection, source: str, query: str, *, last_until: str | None = None,
               checkpoint: Mapping[str, Any] | None = None) -> None:
    """Insert or update the (source, query) state; ``None`` arguments leave a value as is."""
    qh = query_hash(source, query)
    row = conn.execute(select(STATE.c.id).where(STATE.c.source == source,
                                                STATE.c.query_hash == qh)).first()
    values: dict[str, Any] = {"updated_at": utcnow()}
    if last_until is not None:
        values["last_until"] = last_until
    if checkpoint is not None:
        values["checkpoint"] = dict(checkpoint)
    if row is None:
        conn.execute(insert(STATE).values(source=source, query_hash=qh, query=query,
                                          **{"checkpoint": {}, **values}))
    else:
        conn.execute(update(STATE).where(STATE.c.id == row.id).values(**values))


def start_run(engine: Engine, source: str, query: str, window_from: str | None,
              window_to: str | None) -> int:
    with engine.begin() as conn:
        res = conn.execute(insert(RUN).values(source=source, query=query, window_from=window_from,
                                              window_to=window_to, status="running",
                                              started_at=utcnow()))
        return int(res.inserted_primary_key[0])


def update_run(conn: Connection | Engine, run_id: int, **values: Any) -> None:
    stmt = update(RUN).where(RUN.c.id == run_id).values(**values)
    if isinstance(conn, Engine):
        with conn.begin() as c:
            c.execute(stmt)
    else:
        conn.execute(stmt)


def add_run_counts(conn: Connection, run_id: int, counts: Mapping[str, int]) -> None:
    conn.execute(update(RUN).where(RUN.c.id == run_id)
                 .values({k: getattr(RUN.c, k) + v for k, v in counts.items()}))


def finish_run(engine: Engine, run_id: int, status: str, error: str | None = None) -> None:
    update_run(engine, run_id, status=status, error=error, finished_at=utcnow())


def recent_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(RUN).order_by(RUN.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def quarantine(conn: Connection, source: str, item: str, reason: str,
               payload: bytes | None = None, run_id: int | None = None) -> None:
    """Keep something that could not be parsed or fetched, for inspection and retry."""
    conn.execute(insert(QUAR).values(source=source, item=item[:300], reason=reason,
                                     payload=payload, run_id=run_id, created_at=utcnow()))


def resolve_quarantine(conn: Connection, source: str, items: Iterable[str]) -> None:
    """Mark quarantined items as resolved once they were fetched after all."""
    for part in chunks(list(items)):
        conn.execute(update(QUAR).where(QUAR.c.source == source, QUAR.c.item.in_(part),
                                        QUAR.c.resolved.is_(False)).values(resolved=True))


def open_quarantine(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        stmt = select(QUAR.c.id, QUAR.c.source, QUAR.c.item, QUAR.c.reason,
                      QUAR.c.created_at).where(QUAR.c.resolved.is_(False))
        if source:
            stmt = stmt.where(QUAR.c.source == source)
        return [dict(r._mapping) for r in conn.execute(stmt.order_by(QUAR.c.id))]


def last_harvest_time(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(RUN.c.finished_at))
                            .where(RUN.c.status.in_(["ok", "partial"]))).scalar_one()
