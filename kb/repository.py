"""All SQL of the knowledge base, in one place. Values are always bound, never pasted.

Functions take an ``Engine`` and plain values / dicts, so the CLI, the dashboard and the tests
share them. Dialect differences (SQLite FTS5 vs PostgreSQL tsvector) stay in this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from kb.models import (
    HarvestRun,
    HarvestState,
    Quarantine,
    RecordIdentifier,
    RecordLink,
    RecordMesh,
    RecordPubType,
    RecordRow,
    TrialPublication,
    TrialRow,
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

# New rows are indexed in bulk by ``insert_records`` (a per-row insert trigger costs twice as
# much); updates and deletes keep the index in step through triggers.
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS record_fts USING fts5("
    "title, abstract, content='record', content_rowid='id', tokenize='porter unicode61')",
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
    cols = (R.c.id, R.c.key, R.c.pmid, R.c.doi, R.c.source, R.c.content_hash)
    found: dict[int, dict[str, Any]] = {}
    for column, values in ((R.c.key, keys), (R.c.pmid, pmids), (R.c.doi, dois)):
        vals = [v for v in values if v]
        for part in chunks(vals):
            for row in conn.execute(select(*cols).where(column.in_(part))):
                found[row.id] = dict(row._mapping)
    return list(found.values())


def records_for_merge(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Full stored rows (without the raw payload) by id, for merging an update into them."""
    cols = [c for c in R.c if c.name != "raw"]
    out: dict[int, dict[str, Any]] = {}
    for part in chunks(list(ids)):
        for row in conn.execute(select(*cols).where(R.c.id.in_(part))):
            out[row.id] = dict(row._mapping)
    return out


def insert_records(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Bulk-insert record rows; returns ``{key: id}`` of the inserted rows."""
    if not rows:
        return {}
    conn.execute(insert(R), list(rows))
    keys = [r["key"] for r in rows]
    ids: dict[str, int] = {}
    for part in chunks(keys):
        found = conn.execute(select(R.c.id, R.c.key).where(R.c.key.in_(part)))
        ids.update({str(k): int(i) for i, k in found})
    if conn.dialect.name == "sqlite":
        for part in chunks(list(ids.values())):
            conn.execute(text("INSERT INTO record_fts(rowid, title, abstract) SELECT id, title, "
                              "abstract FROM record WHERE id IN :ids")
                         .bindparams(bindparam("ids", expanding=True)), {"ids": list(part)})
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
        by_source: dict[Any, Any] = dict(conn.execute(select(R.c.source, func.count()).where(live)
                                      .group_by(R.c.source).order_by(R.c.source)).all())
        by_year: dict[Any, Any] = dict(conn.execute(select(R.c.pub_year, func.count()).where(live)
                                    .group_by(R.c.pub_year).order_by(R.c.pub_year)).all())
        by_type: dict[Any, Any] = dict(conn.execute(
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
    cols = (R.c.id, R.c.key, R.c.title, R.c.journal, R.c.pub_year, R.c.source,
            R.c.is_retracted, R.c.is_preprint, R.c.publication_types)
    live = and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))
    with engine.connect() as conn:
        stmt = select(*cols).where(live)
        count_stmt = select(func.count()).select_from(R).where(live)
        if search and search.strip():
            from kb.browse import fulltext_condition

            # A subquery on the full-text index, never a (possibly huge) list of ids.
            match = fulltext_condition(search, conn.dialect.name)
            if match is None:
                return 0, []
            stmt = stmt.where(match)
            count_stmt = count_stmt.where(match)
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
        key = res.inserted_primary_key
        assert key is not None
        return int(key[0])


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


# --- browse ---
# Queries of the dashboard's evidence browser, map, trends, record page and trials page. The
# statements are built by ``kb.browse`` (pure); these functions only run them.

_TABLES = R.metadata.tables
RLABEL = _TABLES["record_label"]
TAG = _TABLES["tag"]
LINK = _TABLES["record_link"]
TRIAL = _TABLES["trial"]
TRIALPUB = _TABLES["trial_publication"]


def data_version(engine: Engine) -> tuple[Any, ...]:
    """A cheap token that changes when records, tags or harvests change (cache invalidation)."""
    with engine.connect() as conn:
        row = conn.execute(select(
            select(func.max(R.c.id)).scalar_subquery(),
            select(func.count()).select_from(R).scalar_subquery(),
            select(func.max(RLABEL.c.id)).scalar_subquery(),
            select(func.max(TAG.c.id)).scalar_subquery(),
            select(func.max(RUN.c.id)).scalar_subquery(),
            select(func.max(RUN.c.finished_at)).scalar_subquery(),
        )).one()
    return tuple(str(v) for v in row)


def _labels_by_record(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    from kb.browse import order_chips, select_labels_of

    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for part in chunks(list(ids)):
        for row in conn.execute(select_labels_of(part)):
            out[row.record_id].append(dict(row._mapping))
    return {i: order_chips(rows) for i, rows in out.items()}


def browse_page(engine: Engine, filters: Any, *, limit: int = 25,
                offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """``(total, rows)`` of the browser; each row carries ``labels`` (ordered tag chips)."""
    from kb.browse import select_count, select_page

    dialect = engine.dialect.name
    with engine.connect() as conn:
        total = int(conn.execute(select_count(filters, dialect)).scalar_one())
        if not total or offset >= total:
            return total, []
        rows = [dict(r._mapping) for r in conn.execute(
            select_page(filters, dialect, limit=limit, offset=offset))]
        labels = _labels_by_record(conn, [r["id"] for r in rows])
    for r in rows:
        r["labels"] = labels.get(r["id"], [])
        r["design"] = next((lab["label"] for lab in r["labels"] if lab["facet"] == "design"),
                           None)
    return total, rows


def browse_counts(engine: Engine, filters: Any) -> dict[str, dict[str, int]]:
    """Live counts: ``{facet: {label: n}}`` for every facet, plus ``{"source": {...}}``."""
    from kb.browse import label_count_statements, select_source_counts
    from kb.taxonomy import FACET_NAMES

    dialect = engine.dialect.name
    out: dict[str, dict[str, int]] = {f: {} for f in FACET_NAMES}
    with engine.connect() as conn:
        for stmt in label_count_statements(filters, dialect):
            for facet_name, label, n in conn.execute(stmt):
                out.setdefault(facet_name, {})[label] = int(n)
        out["source"] = {str(s): int(n) for s, n in conn.execute(
            select_source_counts(filters, dialect))}
    return out


def browse_count(engine: Engine, filters: Any, also: tuple[str, str] | None = None) -> int:
    """How many records match (and carry the ``also=(facet, label)`` label, if given)."""
    from kb.browse import select_count

    with engine.connect() as conn:
        return int(conn.execute(select_count(filters, engine.dialect.name, also=also))
                   .scalar_one())


def newest_of_design(engine: Engine, filters: Any, design: str,
                     limit: int = 3) -> list[dict[str, Any]]:
    """The newest matched records of one design (summary strip)."""
    from kb.browse import select_newest

    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select_newest(filters, engine.dialect.name, design, limit))]


def evidence_matrix(engine: Engine, filters: Any, row_facet: str,
                    col_facet: str) -> list[dict[str, Any]]:
    """``[{row, col, design, n}]`` for a facet × facet matrix of the matched records."""
    from kb.browse import select_matrix

    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select_matrix(filters, engine.dialect.name, row_facet, col_facet))]


def year_counts(engine: Engine, filters: Any, facet_name: str) -> list[dict[str, Any]]:
    """``[{year, label, n}]``: matched records per publication year and label of a facet."""
    from kb.browse import select_year_counts

    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select_year_counts(filters, engine.dialect.name, facet_name))]


def browse_bounds(engine: Engine) -> dict[str, Any]:
    """Year range, sources, and how many live records are tagged (for the filter widgets)."""
    live = and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(R.c.pub_year), func.max(R.c.pub_year))
                              .where(live)).one()
        sources = list(conn.execute(select(R.c.source).where(live).distinct()
                                    .order_by(R.c.source)).scalars())
        total = int(conn.execute(select(func.count()).select_from(R).where(live)).scalar_one())
        tagged = int(conn.execute(
            select(func.count()).select_from(R)
            .where(live, R.c.id.in_(select(RLABEL.c.record_id)
                                    .where(RLABEL.c.facet == "relevance")))).scalar_one())
    return {"year_min": lo, "year_max": hi, "sources": sources, "records": total,
            "tagged": tagged}


def records_by_ids(engine: Engine, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Light rows (no abstract, no raw payload) of some records, in the order of ``ids``."""
    from kb.browse import ROW_COLUMNS

    cols = [R.c[name] for name in ROW_COLUMNS]
    found: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for part in chunks(list(ids)):
            for row in conn.execute(select(*cols).where(R.c.id.in_(part))):
                found[row.id] = dict(row._mapping)
        labels = _labels_by_record(conn, list(found))
    for rid, rec in found.items():
        rec["labels"] = labels.get(rid, [])
        rec["design"] = next((lab["label"] for lab in rec["labels"]
                              if lab["facet"] == "design"), None)
    return [found[i] for i in ids if i in found]


def record_labels(engine: Engine, record_id: int) -> list[dict[str, Any]]:
    """The effective labels of one record (``facet, label, origin, probability``)."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(RLABEL.c.facet, RLABEL.c.label, RLABEL.c.origin, RLABEL.c.probability)
            .where(RLABEL.c.record_id == record_id)
            .order_by(RLABEL.c.facet, RLABEL.c.label))]


def record_tag_history(engine: Engine, record_id: int) -> list[dict[str, Any]]:
    """Every tag row of one record, with provenance (metadata, model, human)."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(TAG.c.facet, TAG.c.label, TAG.c.origin, TAG.c.probability,
                   TAG.c.model_version, TAG.c.negative, TAG.c.user, TAG.c.created_at)
            .where(TAG.c.record_id == record_id)
            .order_by(TAG.c.facet, TAG.c.label, TAG.c.origin))]


def record_links(engine: Engine, record_id: int) -> list[dict[str, Any]]:
    """Typed links from and to a record, each with the other record's key, title and year.

    ``direction`` is ``out`` (this record → other) or ``in`` (other → this record).
    """
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for direction, mine, other in (("out", LINK.c.from_id, LINK.c.to_id),
                                       ("in", LINK.c.to_id, LINK.c.from_id)):
            stmt = (select(LINK.c.relation, LINK.c.evidence, R.c.id, R.c.key, R.c.title,
                           R.c.pub_year, R.c.is_preprint, R.c.is_retracted)
                    .join(R, R.c.id == other).where(mine == record_id)
                    .order_by(LINK.c.relation, R.c.id))
            out += [{"direction": direction, **dict(r._mapping)} for r in conn.execute(stmt)]
    return out


def records_by_pmids(engine: Engine, pmids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{pmid: {id, key, title, pub_year, is_retracted}}`` for the PMIDs stored here."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for part in chunks([p for p in pmids if p]):
            for r in conn.execute(select(R.c.id, R.c.key, R.c.pmid, R.c.title, R.c.pub_year,
                                         R.c.is_retracted).where(R.c.pmid.in_(part))):
                out[r.pmid] = dict(r._mapping)
    return out


_TRIAL_COLUMNS = ("id", "nct_id", "brief_title", "official_title", "acronym", "overall_status",
                  "why_stopped", "phases", "study_type", "conditions", "enrollment",
                  "start_date", "primary_completion_date", "completion_date",
                  "last_update_posted", "sponsor", "has_results", "record_id")


def record_trials(engine: Engine, record_id: int,
                  nct_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Registered trials linked to a record (``trial_publication``), or named by its NCT ids.

    Each row holds the trial's fields when the trial is stored (``stored``), and the link
    ``evidence`` (databank, abstract, trial_reference) when there is one.
    """
    cols = [TRIAL.c[c] for c in _TRIAL_COLUMNS if c != "record_id"]
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(TRIALPUB.c.nct_id, TRIALPUB.c.evidence)
                              .where(TRIALPUB.c.record_id == record_id)):
            found[r.nct_id] = {"nct_id": r.nct_id, "evidence": r.evidence}
        for nct in nct_ids:
            found.setdefault(nct, {"nct_id": nct, "evidence": "record"})
        if found:
            for r in conn.execute(select(*cols).where(TRIAL.c.nct_id.in_(list(found)))):
                found[r.nct_id].update(dict(r._mapping), stored=True)
    return sorted(found.values(), key=lambda t: t["nct_id"])


def list_trials(engine: Engine) -> list[dict[str, Any]]:
    """All registered trials (light columns) with the number of linked publications."""
    pubs = (select(TRIALPUB.c.nct_id, func.count().label("publications"))
            .group_by(TRIALPUB.c.nct_id).subquery())
    cols = [TRIAL.c[c] for c in _TRIAL_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols, func.coalesce(pubs.c.publications, 0)
                                   .label("publications"))
                            .outerjoin(pubs, pubs.c.nct_id == TRIAL.c.nct_id)
                            .order_by(TRIAL.c.last_update_posted.desc().nulls_last(),
                                      TRIAL.c.nct_id)).all()
    return [dict(r._mapping) for r in rows]


def trial_publications(engine: Engine,
                       nct_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """``{nct_id: [record rows]}``: the publications linked to some trials."""
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in nct_ids}
    with engine.connect() as conn:
        for part in chunks(list(nct_ids)):
            stmt = (select(TRIALPUB.c.nct_id, TRIALPUB.c.evidence, R.c.id, R.c.key, R.c.title,
                           R.c.journal, R.c.pub_year, R.c.is_retracted)
                    .join(R, R.c.id == TRIALPUB.c.record_id)
                    .where(TRIALPUB.c.nct_id.in_(part))
                    .order_by(TRIALPUB.c.nct_id, R.c.pub_year.desc().nulls_last()))
            for r in conn.execute(stmt):
                out.setdefault(r.nct_id, []).append(dict(r._mapping))
    return out


def facet_index_rows(engine: Engine) -> dict[str, Any]:
    """What :class:`kb.facet_index.FacetIndex` is built from, in one read.

    ``columns``: ``{name: [values]}`` of the live records in id order (``id``, ``year`` (-1
    when unknown), ``date`` ("" when unknown), ``source``, ``retracted``, ``first_seen``);
    ``labels``: ``{(facet, label): "id,id,..."}``; ``human``: the same for records with a
    human-verified label. Ids travel as one string per label (``group_concat`` /
    ``string_agg``): half a million rows read in a tenth of a second.
    """
    from sqlalchemy import String, type_coerce

    live = and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))
    first_seen = type_coerce(R.c.first_seen, String).label("first_seen")
    if engine.dialect.name == "sqlite":
        def concat(col: Any) -> Any:
            return func.group_concat(col)
    else:
        def concat(col: Any) -> Any:
            return func.string_agg(func.cast(col, String), ",")
    with engine.connect() as conn:
        rows = conn.execute(select(R.c.id, func.coalesce(R.c.pub_year, -1),
                                   func.coalesce(R.c.pub_date, ""), R.c.source,
                                   R.c.is_retracted, first_seen)
                            .where(live).order_by(R.c.id)).all()
        pairs = conn.execute(select(RLABEL.c.facet, RLABEL.c.label).distinct()).all()
        labels = {(facet, label): conn.execute(
            select(concat(RLABEL.c.record_id)).where(RLABEL.c.facet == facet,
                                                     RLABEL.c.label == label)).scalar() or ""
            for facet, label in pairs}
        human = conn.execute(select(concat(RLABEL.c.record_id))
                             .where(RLABEL.c.origin == "human")).scalar() or ""
    names = ("id", "year", "date", "source", "retracted", "first_seen")
    columns = dict(zip(names, (list(c) for c in zip(*rows, strict=True)), strict=True)) \
        if rows else {n: [] for n in names}
    return {"columns": columns, "labels": labels, "human": human}


def fulltext_scores(engine: Engine, text_query: str) -> tuple[list[int], list[float]] | None:
    """Ids and scores (lower is better) of the records matching what a person typed.

    ``None`` when nothing searchable was typed. SQLite: FTS5 bm25 with the title weighing four
    times the abstract (as the browser's relevance sort); PostgreSQL: minus ``ts_rank``.
    """
    from kb.search import to_fts_query

    q = to_fts_query(text_query, engine.dialect.name)
    if not q:
        return None
    if engine.dialect.name == "sqlite":
        sql = ("SELECT rowid, bm25(record_fts, 4.0, 1.0) FROM record_fts "
               "WHERE record_fts MATCH :q")
    else:
        sql = ("SELECT id, -ts_rank(search_tsv, websearch_to_tsquery('english', :q)) "
               "FROM record WHERE search_tsv @@ websearch_to_tsquery('english', :q)")
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"q": q}).all()
    return [int(r[0]) for r in rows], [float(r[1]) for r in rows]


def ids_by_key(engine: Engine, keys: Sequence[str]) -> dict[str, int]:
    """``{key: id}`` for the given record keys (those stored)."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for part in chunks(list(keys)):
            out.update({k: i for k, i in conn.execute(select(R.c.key, R.c.id)
                                                      .where(R.c.key.in_(part)))})
    return out




def copy_labels(engine: Engine, pairs: Sequence[tuple[int, int]]) -> int:
    """Give each target record the effective labels and tags of its source record.

    ``pairs``: ``(source_id, target_id)``. Used to tag replicated records (benchmarks).
    """
    by_source: dict[int, list[int]] = {}
    for src, dst in pairs:
        by_source.setdefault(src, []).append(dst)
    n = 0
    with engine.begin() as conn:
        for part in chunks(list(by_source)):
            labels = conn.execute(select(RLABEL.c.record_id, RLABEL.c.facet, RLABEL.c.label,
                                         RLABEL.c.origin, RLABEL.c.probability)
                                  .where(RLABEL.c.record_id.in_(part))).all()
            tags = conn.execute(select(TAG.c.record_id, TAG.c.facet, TAG.c.label,
                                       TAG.c.origin, TAG.c.probability, TAG.c.model_version,
                                       TAG.c.negative, TAG.c.user, TAG.c.created_at)
                                .where(TAG.c.record_id.in_(part))).all()
            new_labels = [{**dict(r._mapping), "record_id": dst} for r in labels
                          for dst in by_source[r.record_id]]
            new_tags = [{**dict(r._mapping), "record_id": dst} for r in tags
                        for dst in by_source[r.record_id]]
            if new_labels:
                conn.execute(insert(RLABEL), new_labels)
            if new_tags:
                conn.execute(insert(TAG), new_tags)
            n += len(new_labels)
    return n


# --- reading lists ---
# Lists an educator builds and exports (kb/exports.py); they persist in the database.

RLIST = _TABLES["reading_list"]
RITEM = _TABLES["reading_list_item"]

# Record fields an export needs (everything bibliographic; no raw payload).
EXPORT_COLUMNS = ("id", "key", "source", "pmid", "doi", "pmcid", "ppr_id", "title", "abstract",
                  "journal", "journal_iso", "pub_year", "pub_date", "language", "authors",
                  "keywords", "publication_types", "nct_ids", "is_preprint", "is_retracted",
                  "has_concern", "has_erratum")


class ReadingListError(ValueError):
    """A reading list that does not exist, or a name that is not acceptable."""


def create_reading_list(engine: Engine, name: str, description: str = "",
                        owner: str | None = None) -> int:
    """A new, empty list; returns its id."""
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ReadingListError("a reading list needs a name")
    now = utcnow()
    with engine.begin() as conn:
        res = conn.execute(insert(RLIST).values(name=name, description=description or "",
                                                owner=owner, created_at=now, updated_at=now))
        pk = res.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def reading_lists(engine: Engine) -> list[dict[str, Any]]:
    """Every list with its number of items, most recently changed first."""
    counts = (select(RITEM.c.list_id, func.count().label("n_items"))
              .group_by(RITEM.c.list_id).subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(RLIST, func.coalesce(counts.c["n_items"], 0).label("items"))
                            .outerjoin(counts, counts.c.list_id == RLIST.c.id)
                            .order_by(RLIST.c.updated_at.desc(), RLIST.c.id.desc())).all()
    return [dict(r._mapping) for r in rows]


def get_reading_list(engine: Engine, list_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(RLIST).where(RLIST.c.id == list_id)).first()
    return dict(row._mapping) if row else None


def _touch_list(conn: Connection, list_id: int) -> None:
    res = conn.execute(update(RLIST).where(RLIST.c.id == list_id).values(updated_at=utcnow()))
    if not res.rowcount:
        raise ReadingListError(f"no reading list with id {list_id}")


def update_reading_list(engine: Engine, list_id: int, *, name: str | None = None,
                        description: str | None = None) -> None:
    values: dict[str, Any] = {}
    if name is not None:
        name = " ".join(name.split())[:200]
        if not name:
            raise ReadingListError("a reading list needs a name")
        values["name"] = name
    if description is not None:
        values["description"] = description
    with engine.begin() as conn:
        _touch_list(conn, list_id)
        if values:
            conn.execute(update(RLIST).where(RLIST.c.id == list_id).values(**values))


def delete_reading_list(engine: Engine, list_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(RITEM).where(RITEM.c.list_id == list_id))
        conn.execute(delete(RLIST).where(RLIST.c.id == list_id))


def add_to_reading_list(engine: Engine, list_id: int, record_ids: Sequence[int],
                        added_by: str | None = None) -> int:
    """Append records (those already on the list are left where they are); returns how many."""
    with engine.begin() as conn:
        _touch_list(conn, list_id)
        have = set(conn.execute(select(RITEM.c.record_id)
                                .where(RITEM.c.list_id == list_id)).scalars())
        last = conn.execute(select(func.max(RITEM.c.position))
                            .where(RITEM.c.list_id == list_id)).scalar_one()
        position = -1 if last is None else int(last)
        wanted = [int(r) for r in dict.fromkeys(record_ids) if int(r) not in have]
        known: set[int] = set()
        for part in chunks(wanted):
            known |= set(conn.execute(select(R.c.id).where(R.c.id.in_(part))).scalars())
        rows = []
        for rid in (r for r in wanted if r in known):
            position += 1
            rows.append({"list_id": list_id, "record_id": rid, "position": position,
                         "note": "", "added_by": added_by, "added_at": utcnow()})
        if rows:
            conn.execute(insert(RITEM), rows)
    return len(rows)


def remove_from_reading_list(engine: Engine, list_id: int, record_id: int) -> None:
    with engine.begin() as conn:
        _touch_list(conn, list_id)
        conn.execute(delete(RITEM).where(RITEM.c.list_id == list_id,
                                         RITEM.c.record_id == record_id))


def reorder_reading_list(engine: Engine, list_id: int, record_ids: Sequence[int]) -> None:
    """Put the items in the given order (items not named keep their order, after these)."""
    with engine.begin() as conn:
        _touch_list(conn, list_id)
        current = list(conn.execute(select(RITEM.c.record_id).where(RITEM.c.list_id == list_id)
                                    .order_by(RITEM.c.position, RITEM.c.id)).scalars())
        first = [r for r in dict.fromkeys(record_ids) if r in set(current)]
        order = first + [r for r in current if r not in set(first)]
        for pos, rid in enumerate(order):
            conn.execute(update(RITEM).where(RITEM.c.list_id == list_id,
                                             RITEM.c.record_id == rid).values(position=pos))


def move_reading_list_item(engine: Engine, list_id: int, record_id: int, offset: int) -> None:
    """Move one item up (negative ``offset``) or down the list."""
    with engine.connect() as conn:
        order = list(conn.execute(select(RITEM.c.record_id).where(RITEM.c.list_id == list_id)
                                  .order_by(RITEM.c.position, RITEM.c.id)).scalars())
    if record_id not in order:
        return
    i = order.index(record_id)
    j = max(0, min(len(order) - 1, i + offset))
    order.insert(j, order.pop(i))
    reorder_reading_list(engine, list_id, order)


def set_reading_list_note(engine: Engine, list_id: int, record_id: int, note: str) -> None:
    with engine.begin() as conn:
        _touch_list(conn, list_id)
        conn.execute(update(RITEM).where(RITEM.c.list_id == list_id,
                                         RITEM.c.record_id == record_id)
                     .values(note=note or ""))


def reading_list_items(engine: Engine, list_id: int) -> list[dict[str, Any]]:
    """The items in order, each with ``position``, ``note`` and the record's export fields."""
    cols = [R.c[c] for c in EXPORT_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(RITEM.c.position, RITEM.c.note, RITEM.c.added_at, *cols)
                            .join(R, R.c.id == RITEM.c.record_id)
                            .where(RITEM.c.list_id == list_id)
                            .order_by(RITEM.c.position, RITEM.c.id)).all()
        items = [dict(r._mapping) for r in rows]
        labels = _labels_by_record(conn, [i["id"] for i in items])
    for item in items:
        item["labels"] = labels.get(item["id"], [])
        item["design"] = next((lab["label"] for lab in item["labels"]
                               if lab["facet"] == "design"), None)
    return items


def lists_containing(engine: Engine, record_id: int) -> list[int]:
    """Ids of the lists a record is on."""
    with engine.connect() as conn:
        return list(conn.execute(select(RITEM.c.list_id)
                                 .where(RITEM.c.record_id == record_id)).scalars())


# --- linking (one study across sources) ---

LINK = RecordLink.__table__  # type: ignore[attr-defined]
TRIAL = TrialRow.__table__  # type: ignore[attr-defined]
TPUB = TrialPublication.__table__  # type: ignore[attr-defined]


def preprints(engine: Engine) -> list[dict[str, Any]]:
    """Preprints not yet linked to a published version."""
    with engine.connect() as conn:
        rows = conn.execute(select(R.c.id, R.c.doi, R.c.title, R.c.authors, R.c.version_links)
                            .where(R.c.is_preprint.is_(True), R.c.duplicate_of.is_(None))
                            .order_by(R.c.id))
        return [dict(r._mapping) for r in rows]


def version_candidates(engine: Engine) -> list[dict[str, Any]]:
    """Articles and preprints that a preprint may be a version or a duplicate of."""
    with engine.connect() as conn:
        rows = conn.execute(select(R.c.id, R.c.pmid, R.c.doi, R.c.pmcid, R.c.title, R.c.authors,
                                   R.c.is_preprint)
                            .where(R.c.duplicate_of.is_(None),
                                   R.c.source.not_in(["ctgov", "ctgov-text"])))
        return [dict(r._mapping) for r in rows]


def add_version_links(engine: Engine, links: Sequence[tuple[int, int, str, str]]) -> int:
    """(from, to, relation, evidence) links: ``version_of`` (preprint -> published) or
    ``duplicate_of`` (the same preprint twice); ``from`` becomes ``duplicate_of`` ``to``."""
    new = 0
    with engine.begin() as conn:
        for pre, pub, relation, evidence in links:
            exists = conn.execute(select(LINK.c.id).where(
                LINK.c.from_id == pre, LINK.c.to_id == pub, LINK.c.relation == relation)
            ).first()
            if exists is None:
                conn.execute(insert(LINK).values(from_id=pre, to_id=pub, relation=relation,
                                                 evidence=evidence, created_at=utcnow()))
                new += 1
            conn.execute(update(R).where(R.c.id == pre).values(duplicate_of=pub))
    return new


def records_with_trial_ids(engine: Engine) -> Iterator[dict[str, Any]]:
    """Records whose databank list or abstract may name an NCT id."""
    with engine.connect() as conn:
        with_ids = select(IDENT.c.record_id).where(IDENT.c.kind == "nct")
        stmt = select(R.c.id, R.c.source, R.c.nct_ids, R.c.abstract).where(
            or_(R.c.id.in_(with_ids), R.c.abstract.like("%NCT%")))
        for row in conn.execute(stmt):
            yield dict(row._mapping)


def trial_reference_pmids(engine: Engine) -> list[tuple[str, str]]:
    """(NCT id, PMID) for every PMID in a stored trial's references."""
    with engine.connect() as conn:
        rows = conn.execute(select(TRIAL.c.nct_id, TRIAL.c.reference_pmids))
        return [(nct, str(p)) for nct, pmids in rows for p in (pmids or [])]


def record_id_by_pmid(engine: Engine | Connection, pmid: str) -> int | None:
    stmt = (select(R.c.id).where(R.c.pmid == pmid).order_by(R.c.duplicate_of.is_not(None), R.c.id)
            .limit(1))
    if isinstance(engine, Connection):
        return engine.execute(stmt).scalar_one_or_none()
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one_or_none()


def add_trial_links(engine: Engine, links: Sequence[tuple[str, int, str]]) -> int:
    """Insert (NCT id, record id, evidence) links that are not stored yet."""
    if not links:
        return 0
    with engine.begin() as conn:
        have = {(n, r) for n, r in conn.execute(select(TPUB.c.nct_id, TPUB.c.record_id))}
        rows = [{"nct_id": n, "record_id": r, "evidence": e} for n, r, e in links
                if (n, r) not in have]
        if rows:
            conn.execute(insert(TPUB), rows)
        return len(rows)


def notices(engine: Engine, pubtypes: Sequence[str]) -> list[dict[str, Any]]:
    """Records that are retraction / erratum / concern notices."""
    with engine.connect() as conn:
        ids = select(PUBTYPE.c.record_id).where(PUBTYPE.c.name.in_(list(pubtypes)))
        rows = conn.execute(select(R.c.id, R.c.publication_types, R.c.comments_corrections)
                            .where(R.c.id.in_(ids)))
        return [dict(r._mapping) for r in rows]


def add_notice_links(engine: Engine, links: Sequence[tuple[int, int, str]],
                     flags: Sequence[tuple[int, str]]) -> int:
    """Store notice -> target links and set the target's flag (retracted, erratum, concern)."""
    new = 0
    with engine.begin() as conn:
        for notice, target, relation in links:
            exists = conn.execute(select(LINK.c.id).where(
                LINK.c.from_id == notice, LINK.c.to_id == target, LINK.c.relation == relation)
            ).first()
            if exists is None:
                conn.execute(insert(LINK).values(from_id=notice, to_id=target,
                                                 relation=relation, evidence="notice",
                                                 created_at=utcnow()))
                new += 1
        for target, flag in flags:
            conn.execute(update(R).where(R.c.id == target, getattr(R.c, flag).is_(False))
                         .values({flag: True, "updated_at": utcnow()}))
    return new


# --- trials ---


def upsert_trials(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[int, int, int]:
    """Insert or update trial rows by NCT id; returns (inserted, updated, unchanged)."""
    if not rows:
        return 0, 0, 0
    existing: dict[str, tuple[int, str]] = {}
    for part in chunks([r["nct_id"] for r in rows]):
        for i, n, h in conn.execute(select(TRIAL.c.id, TRIAL.c.nct_id, TRIAL.c.content_hash)
                                    .where(TRIAL.c.nct_id.in_(part))):
            existing[n] = (i, h)
    new = [r for r in rows if r["nct_id"] not in existing]
    changed = [{**r, "id": existing[r["nct_id"]][0]} for r in rows
               if r["nct_id"] in existing and existing[r["nct_id"]][1] != r["content_hash"]]
    if new:
        conn.execute(insert(TRIAL), new)
    if changed:

        cols = [k for k in changed[0] if k not in ("id", "first_seen")]
        stmt = (update(TRIAL).where(TRIAL.c.id == bindparam("b_id"))
                .values({k: bindparam(f"v_{k}") for k in cols}))
        conn.execute(stmt, [{"b_id": r["id"], **{f"v_{k}": r[k] for k in cols}}
                            for r in changed])
    return len(new), len(changed), len(rows) - len(new) - len(changed)


def attach_trial_records(conn: Connection, nct_ids: Sequence[str]) -> None:
    """Point each trial at its registry record (``record.key = 'nct:NCT...'``)."""
    for nct in nct_ids:
        rid = conn.execute(select(R.c.id).where(R.c.key == f"nct:{nct}")).scalar_one_or_none()
        if rid is not None:
            conn.execute(update(TRIAL).where(TRIAL.c.nct_id == nct).values(record_id=rid))


# --- digest ---


def new_records_since(engine: Engine, since: datetime) -> list[dict[str, Any]]:
    """Live records first seen at or after ``since``, newest first, with their tag chips."""
    cols = (R.c.id, R.c.key, R.c.title, R.c.journal, R.c.pub_year, R.c.doi, R.c.pmid,
            R.c.first_seen, R.c.is_retracted, R.c.is_preprint, R.c.source)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(*cols).where(R.c.first_seen >= since, R.c.duplicate_of.is_(None),
                                R.c.deleted.is_(False))
            .order_by(R.c.first_seen.desc(), R.c.id.desc()))]
        labels = _labels_by_record(conn, [r["id"] for r in rows])
    for r in rows:
        r["labels"] = labels.get(r["id"], [])
    return rows


def retracted_since(engine: Engine, since: datetime) -> list[dict[str, Any]]:
    """Records seen before ``since`` whose retraction was recorded at or after it."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(R.c.id, R.c.key, R.c.title, R.c.journal, R.c.pub_year, R.c.doi, R.c.pmid,
                   R.c.first_seen, R.c.updated_at)
            .where(R.c.is_retracted.is_(True), R.c.first_seen < since, R.c.updated_at >= since)
            .order_by(R.c.updated_at.desc()))
        return [dict(r._mapping) for r in rows]


# --- tag review ---
# A reviewer's correction from the dashboard: stored as ``human`` tags (``negative`` for "this
# label does not apply") and applied at once to the effective tags in ``record_label``. Human
# tags win over metadata and model tags and survive re-tagging; training reads them.


def review_queue(engine: Engine, filters: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Matched records nobody has reviewed, the least certain design prediction first."""
    from kb.browse import ROW_COLUMNS, conditions

    design_p = (select(RLABEL.c.probability)
                .where(RLABEL.c.record_id == R.c.id, RLABEL.c.facet == "design")
                .limit(1).scalar_subquery())
    reviewed = select(RLABEL.c.record_id).where(RLABEL.c.origin == "human")
    cols = [R.c[name] for name in ROW_COLUMNS]
    stmt = (select(*cols, design_p.label("design_probability"))
            .where(*conditions(filters, engine.dialect.name), R.c.id.not_in(reviewed),
                   design_p.is_not(None))
            .order_by(func.abs(design_p - 0.5).asc(), R.c.id.desc()).limit(limit))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
        labels = _labels_by_record(conn, [r["id"] for r in rows])
    for row in rows:
        row["labels"] = labels.get(row["id"], [])
        row["design"] = next((x["label"] for x in row["labels"] if x["facet"] == "design"),
                             None)
    return rows


def save_review(engine: Engine, record_id: int, labels: Mapping[str, Sequence[str]],
                user: str | None = None) -> None:
    """Store a reviewer's labels for the given facets (others are left as they are).

    Each facet goes through :func:`set_human_tags` (the tagging section's correction): a
    chosen set becomes the facet's human tags (labels removed get "does not apply"); an empty
    choice for a multi-label facet marks every label in effect as not applying.
    """
    from kb.taxonomy import FACET_BY_NAME, check_label

    for facet_name, chosen in labels.items():
        for lab in chosen:
            check_label(facet_name, lab)
        if not FACET_BY_NAME[facet_name].multi and len(chosen) != 1:
            raise ValueError(f"{facet_name}: exactly one label expected, got {list(chosen)}")
    with engine.connect() as conn:
        if conn.execute(select(R.c.id).where(R.c.id == record_id)).first() is None:
            raise ValueError(f"no record with id {record_id}")
    for facet_name, chosen in labels.items():
        wanted = list(dict.fromkeys(chosen))
        if wanted:
            set_human_tags(engine, record_id, facet_name, wanted, user=user)
            continue
        before = [x["label"] for x in record_labels(engine, record_id)
                  if x["facet"] == facet_name]
        if before:
            set_human_tags(engine, record_id, facet_name, before, negative=True, user=user)


# --- maintenance ---


def storage_check(engine: Engine) -> list[str]:
    """``["ok"]`` or the problems the database engine reports about its own storage."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            problems = [str(r[0]) for r in conn.execute(text("PRAGMA integrity_check"))]
            fks = conn.execute(text("PRAGMA foreign_key_check")).all()
            problems += [f"foreign key: {tuple(r)}" for r in fks]
            return problems if problems != ["ok"] or fks else ["ok"]
        conn.execute(text("SELECT count(*) FROM record"))
        return ["ok"]


def dangling_references(engine: Engine) -> dict[str, int]:
    """Rows pointing at records that do not exist (should all be 0)."""
    from kb.models import ReadingListItem, RecordTagSummary, Tag

    out: dict[str, int] = {}
    with engine.connect() as conn:
        ids = select(R.c.id)
        for name, table, col in (
                ("record_identifier", IDENT, "record_id"), ("record_mesh", MESH, "record_id"),
                ("record_pubtype", PUBTYPE, "record_id"),
                ("tag", Tag.__table__, "record_id"),  # type: ignore[attr-defined]
                ("record_label", RecordTagSummary.__table__, "record_id"),  # type: ignore[attr-defined]
                ("reading_list_item", ReadingListItem.__table__,  # type: ignore[attr-defined]
                 "record_id"),
                ("record.duplicate_of", R, "duplicate_of")):
            column = table.c[col]
            out[name] = int(conn.execute(select(func.count()).select_from(table).where(
                column.is_not(None), column.not_in(ids))).scalar_one())
    return out


# --- tags ---
# The tagger's reads and writes (kb/tagging/service.py): records still to tag, bulk
# replacement of a record's ``metadata`` / ``model`` tags (``human`` tags are never touched
# there), effective labels rebuilt from all tags, human corrections, and training input.

_TAG_COLUMNS = ("id", "key", "title", "abstract", "keywords", "mesh", "publication_types")
_TRIAL_FIELDS = ("allocation", "study_type", "phases", "conditions", "interventions")


def records_to_tag(engine: Engine, model_version: str, *, batch_size: int = 1000,
                   retag: bool = False, limit: int | None = None,
                   ) -> Iterator[list[dict[str, Any]]]:
    """Batches of records that are untagged or were tagged by another model version.

    Each row has ``id, key, title, abstract, keywords, mesh, publication_types`` and, for a
    record that is a registered trial, the trial's ``allocation, study_type, phases,
    conditions, interventions``. ``retag`` returns every record. Deleted records are skipped.
    Batches are read by ascending id, so tagging while reading is safe.
    """
    last = 0
    seen = 0
    cols = [R.c[c] for c in _TAG_COLUMNS] + [TRIAL.c[c] for c in _TRIAL_FIELDS]
    while limit is None or seen < limit:
        size = batch_size if limit is None else min(batch_size, limit - seen)
        stmt = (select(*cols).select_from(R.outerjoin(TRIAL, TRIAL.c.record_id == R.c.id))
                .where(R.c.id > last, R.c.deleted.is_(False)))
        if not retag:
            stmt = stmt.where(or_(R.c.tagged_model.is_(None), R.c.tagged_model != model_version))
        with engine.connect() as conn:
            rows = conn.execute(stmt.order_by(R.c.id).limit(size)).all()
        if not rows:
            return
        batch: dict[int, dict[str, Any]] = {}
        for row in rows:
            batch.setdefault(row.id, dict(row._mapping))
        last = rows[-1].id
        seen += len(batch)
        yield list(batch.values())


def count_to_tag(engine: Engine, model_version: str) -> int:
    """How many records are untagged or tagged by another model version."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(R).where(
            R.c.deleted.is_(False),
            or_(R.c.tagged_model.is_(None), R.c.tagged_model != model_version))).scalar_one())


def _rebuild_labels(conn: Connection, record_ids: Sequence[int]) -> int:
    """Recompute ``record_label`` of the given records from all their tags."""
    from kb.tagging.combine import effective_tags

    n = 0
    for part in chunks(list(record_ids)):
        by_record: dict[int, list[dict[str, Any]]] = {i: [] for i in part}
        for row in conn.execute(select(TAG.c.record_id, TAG.c.facet, TAG.c.label,
                                       TAG.c.origin, TAG.c.probability, TAG.c.negative)
                                .where(TAG.c.record_id.in_(part))):
            by_record[row.record_id].append(dict(row._mapping))
        conn.execute(delete(RLABEL).where(RLABEL.c.record_id.in_(part)))
        rows = [{"record_id": rid, "facet": e.facet, "label": e.label, "origin": e.origin,
                 "probability": e.probability}
                for rid, tags in by_record.items() if tags for e in effective_tags(tags)]
        if rows:
            conn.execute(insert(RLABEL), rows)
        n += len(rows)
    return n


def rebuild_labels(engine: Engine, record_ids: Sequence[int]) -> int:
    """Recompute the effective labels of the given records; returns rows written."""
    with engine.begin() as conn:
        return _rebuild_labels(conn, record_ids)


def replace_tags(engine: Engine, record_ids: Sequence[int], tags: Sequence[Mapping[str, Any]],
                 model_version: str, origins: Sequence[str] = ("metadata", "model")) -> None:
    """Replace the ``origins`` tags of ``record_ids`` by ``tags`` and mark them tagged.

    ``tags``: ``record_id, facet, label, origin, probability``. Human tags are kept (never
    pass ``human`` in ``origins``); the effective labels are rebuilt in the same transaction.
    """
    if "human" in origins:
        raise ValueError("replace_tags never replaces human tags")
    now = utcnow()
    rows = [{"record_id": t["record_id"], "facet": t["facet"], "label": t["label"],
             "origin": t["origin"], "probability": t.get("probability"),
             "model_version": model_version if t["origin"] == "model" else None,
             "negative": False, "user": None, "created_at": now} for t in tags]
    with engine.begin() as conn:
        for part in chunks(list(record_ids)):
            conn.execute(delete(TAG).where(TAG.c.record_id.in_(part),
                                           TAG.c.origin.in_(list(origins))))
            conn.execute(update(R).where(R.c.id.in_(part)).values(tagged_model=model_version))
        for rows_part in chunks(rows, 2000):
            conn.execute(insert(TAG), list(rows_part))
        _rebuild_labels(conn, record_ids)


def set_human_tags(engine: Engine, record_id: int, facet: str, labels: Sequence[str], *,
                   negative: bool = False, user: str | None = None) -> None:
    """A person's correction of one facet of one record.

    ``negative=False``: the facet's labels become exactly ``labels`` (earlier human tags of the
    facet are replaced; labels in effect before but not chosen get a negative human tag).
    ``negative=True``: each of ``labels`` is marked "does not apply" (other human tags stay).
    The effective labels are rebuilt at once.
    """
    now = utcnow()
    with engine.begin() as conn:
        if conn.execute(select(R.c.id).where(R.c.id == record_id)).first() is None:
            raise ValueError(f"no record with id {record_id}")
        human = (TAG.c.record_id == record_id) & (TAG.c.facet == facet) & (TAG.c.origin == "human")
        wanted = list(dict.fromkeys(labels))
        if negative:
            conn.execute(delete(TAG).where(human, TAG.c.label.in_(wanted)))
            rows = [{"record_id": record_id, "facet": facet, "label": lab, "origin": "human",
                     "probability": 0.0, "negative": True, "user": user, "created_at": now}
                    for lab in wanted]
        else:
            before = set(conn.execute(select(RLABEL.c.label).where(
                RLABEL.c.record_id == record_id, RLABEL.c.facet == facet)).scalars())
            conn.execute(delete(TAG).where(human))
            rows = [{"record_id": record_id, "facet": facet, "label": lab, "origin": "human",
                     "probability": 1.0, "negative": False, "user": user, "created_at": now}
                    for lab in wanted]
            rows += [{"record_id": record_id, "facet": facet, "label": lab, "origin": "human",
                      "probability": 0.0, "negative": True, "user": user, "created_at": now}
                     for lab in sorted(before - set(wanted))]
        if rows:
            conn.execute(insert(TAG), rows)
        _rebuild_labels(conn, [record_id])


def human_corrections(engine: Engine) -> list[dict[str, Any]]:
    """Records a person has corrected, with the effective labels of each corrected facet.

    Rows: ``id, key, title, abstract, keywords, mesh, publication_types, labels`` where
    ``labels`` is ``{facet: [labels]}`` for the facets with human tags.
    """
    with engine.connect() as conn:
        facets: dict[int, set[str]] = {}
        for rid, facet in conn.execute(select(TAG.c.record_id, TAG.c.facet)
                                       .where(TAG.c.origin == "human").distinct()):
            facets.setdefault(rid, set()).add(facet)
        out: list[dict[str, Any]] = []
        for part in chunks(sorted(facets)):
            records = {r.id: dict(r._mapping) for r in conn.execute(
                select(*[R.c[c] for c in _TAG_COLUMNS]).where(R.c.id.in_(part)))}
            labels: dict[int, dict[str, list[str]]] = {i: {} for i in part}
            for row in conn.execute(select(RLABEL.c.record_id, RLABEL.c.facet, RLABEL.c.label)
                                    .where(RLABEL.c.record_id.in_(part))):
                if row.facet in facets[row.record_id]:
                    labels[row.record_id].setdefault(row.facet, []).append(row.label)
            for rid in part:
                if rid in records:
                    chosen = {f: labels[rid].get(f, []) for f in sorted(facets[rid])}
                    out.append({**records[rid], "labels": chosen})
        return out


def tag_status(engine: Engine) -> dict[str, Any]:
    """Records per tagging model version (``null``: untagged) and human tag counts."""
    with engine.connect() as conn:
        versions = {str(v): int(n) for v, n in conn.execute(
            select(R.c.tagged_model, func.count()).where(R.c.deleted.is_(False))
            .group_by(R.c.tagged_model))}
        human = int(conn.execute(select(func.count()).select_from(TAG)
                                 .where(TAG.c.origin == "human")).scalar_one())
    return {"by_model_version": versions, "human_tags": human}
