"""Upsert parsed records into the knowledge base in bulk, idempotently.

Identity: PMID first, then DOI (normalised), then the source's own id. A record already stored
is updated only when its content changed (new ``DateRevised``, a parser fix, more fields); the
raw payload is kept zlib-compressed so records can be re-parsed later.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine

from harvester.records import (
    CONCERN_TYPES,
    ERRATUM_TYPES,
    Deletion,
    MeshHeading,
    Record,
)
from kb import repository
from kb.models import utcnow

DEFAULT_BATCH = 500
HASH_VERSION = 1
# When the same article arrives from several sources, the higher rank provides the fields.
SOURCE_RANK = {"pubmed": 40, "medline": 35, "europepmc": 30, "ctgov": 20, "ctgov-text": 15}
_HASHED_EXCLUDE = {"raw", "first_seen", "updated_at", "tagged_model", "content_hash",
                   "duplicate_of"}


@dataclass(slots=True)
class IngestStats:
    """What an ingest did; ``add`` merges another batch's counts."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    record_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestStats) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.skipped += other.skipped
        self.record_ids.extend(other.record_ids)

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted, "skipped": self.skipped}


def normalize_doi(doi: str | None) -> str | None:
    if not doi:
        return None
    try:
        from harvester.ids import normalize_doi as _norm
    except ImportError:  # pragma: no cover - harvester.ids ships with the package
        return doi.strip().lower() or None
    return _norm(doi)


def _plain(obj: Any) -> dict[str, Any]:
    """A flat slotted dataclass as a dict (much faster than ``dataclasses.asdict``)."""
    return {name: getattr(obj, name) for name in obj.__slots__}


def _mesh(m: MeshHeading) -> dict[str, Any]:
    return {"name": m.name, "ui": m.ui, "major": m.major,
            "qualifiers": [_plain(q) for q in m.qualifiers]}


def record_to_row(rec: Record) -> dict[str, Any]:
    """The ``record`` table row for a parsed record (without ``id``)."""
    doi = normalize_doi(rec.doi)
    rec.doi = doi
    cc = [_plain(c) for c in rec.comments_corrections]
    row: dict[str, Any] = {
        "key": rec.key,
        "source": rec.source,
        "pmid": rec.pmid,
        "pmid_version": rec.pmid_version,
        "doi": doi,
        "pmcid": rec.pmcid,
        "ppr_id": rec.ppr_id,
        "title": rec.title or "",
        "abstract": rec.abstract or "",
        "abstract_sections": [_plain(s) for s in rec.abstract_sections],
        "journal": rec.journal,
        "journal_iso": rec.journal_iso,
        "pub_year": rec.pub_year,
        "pub_date": rec.pub_date,
        "pub_date_raw": rec.pub_date_raw,
        "language": list(rec.language),
        "authors": [_plain(a) for a in rec.authors],
        "keywords": list(rec.keywords),
        "chemicals": [_plain(c) for c in rec.chemicals],
        "mesh": [_mesh(m) for m in rec.mesh],
        "publication_types": list(rec.publication_types),
        "nct_ids": list(dict.fromkeys(rec.nct_ids)),
        "databanks": dict(rec.databanks),
        "comments_corrections": cc,
        "version_links": dict(rec.version_links),
        "date_revised": rec.date_revised,
        "first_published": rec.first_published,
        "is_preprint": rec.is_preprint,
        "is_book": rec.is_book,
        "is_retracted": rec.is_retracted,
        "has_concern": any(c.ref_type in CONCERN_TYPES for c in rec.comments_corrections)
        or "Expression of Concern" in rec.publication_types,
        "has_erratum": any(c.ref_type in ERRATUM_TYPES for c in rec.comments_corrections),
        "deleted": False,
        "origin": rec.origin,
        "raw_format": rec.raw_format,
    }
    row["content_hash"] = content_hash(row, rec.raw)
    row["raw"] = rec.raw  # compressed only if the row is written (see _stored)
    return row


def content_hash(row: dict[str, Any], raw: bytes | None = None) -> str:
    """What identifies a version of a record: the source payload (fast) when there is one,
    else the row's content. ``HASH_VERSION`` changes when the mapping does."""
    h = hashlib.sha256(f"{HASH_VERSION}|{row['source']}|{row['raw_format']}|".encode())
    if raw:
        h.update(raw)
    else:
        data = {k: v for k, v in row.items() if k not in _HASHED_EXCLUDE}
        h.update(json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode())
    return h.hexdigest()


def _parts(record_id: int, row: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                        list[dict[str, Any]],
                                                        list[dict[str, Any]]]:
    """Identifier, MeSH and publication-type rows of a record row."""
    idents = [{"record_id": record_id, "kind": kind, "value": row[col]}
              for kind, col in (("pmid", "pmid"), ("doi", "doi"), ("pmcid", "pmcid"),
                                ("ppr", "ppr_id")) if row.get(col)]
    idents += [{"record_id": record_id, "kind": "nct", "value": nct}
               for nct in dict.fromkeys(row.get("nct_ids") or [])]
    mesh = [{"record_id": record_id, "ui": m.get("ui"), "name": m["name"][:300],
             "major": bool(m.get("major"))} for m in row.get("mesh") or [] if m.get("name")]
    pts = [{"record_id": record_id, "name": p[:200]}
           for p in dict.fromkeys(row.get("publication_types") or [])]
    return idents, mesh, pts


_STICKY_FLAGS = ("is_retracted", "has_concern", "has_erratum", "is_preprint")
_IDENTITY = ("key", "source", "content_hash", "raw", "raw_format")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _merge(row: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
    """Values to update ``old`` with, or ``None`` when nothing changes.

    A source of equal or higher rank provides every field it has (fields it lacks keep what an
    earlier source supplied) and its payload hash becomes the record's; a lower-ranked source
    (Europe PMC after PubMed, say) only fills fields the stored record lacks and leaves the
    hash alone. Retraction/concern flags never switch back off.
    """
    if SOURCE_RANK.get(row["source"], 0) >= SOURCE_RANK.get(old["source"], 0):
        values = {k: v for k, v in row.items() if not _empty(v) or k in _IDENTITY}
        for flag in _STICKY_FLAGS:
            values[flag] = bool(row.get(flag)) or bool(old.get(flag))
        values["deleted"] = bool(row.get("deleted"))
        return values
    values = {k: v for k, v in row.items()
              if k not in _IDENTITY and not _empty(v) and _empty(old.get(k))}
    for flag in _STICKY_FLAGS:
        if row.get(flag) and not old.get(flag):
            values[flag] = True
    return values or None


class _Index:
    """Stored rows by key, PMID and DOI."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        self.key = {e["key"]: e for e in existing}
        self.pmid = {e["pmid"]: e for e in existing if e["pmid"]}
        self.doi = {e["doi"]: e for e in existing if e["doi"]}


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """The row as written: the raw payload zlib-compressed (done here, for written rows
    only, so an unchanged re-import never pays for compression)."""
    if row.get("raw"):
        return {**row, "raw": zlib.compress(row["raw"], 1)}
    return row


def _match(row: dict[str, Any], index: _Index) -> dict[str, Any] | None:
    """The stored record an incoming row is: same key, else same PMID, else same DOI."""
    hit = index.key.get(row["key"])
    if hit is not None:
        return hit
    if row["pmid"] and row["pmid"] in index.pmid:
        return index.pmid[row["pmid"]]
    if row["doi"]:
        hit = index.doi.get(row["doi"])
        # Same DOI but two different PMIDs: two articles (e.g. an erratum sharing the DOI).
        if hit is not None and not (hit["pmid"] and row["pmid"] and hit["pmid"] != row["pmid"]):
            return hit
    return None


@dataclass(slots=True)
class Prepared:
    """A batch turned into table rows (CPU work that needs no database connection)."""

    rows: list[dict[str, Any]]
    deletions: list[Deletion]
    size: int


def prepare(batch: list[Record | Deletion]) -> Prepared:
    """Rows for a batch; the last of several versions of one record wins (a file may hold a
    PMID twice, e.g. a revision)."""
    by_key: dict[str, dict[str, Any]] = {}
    deletions: list[Deletion] = []
    for item in batch:
        if isinstance(item, Deletion):
            deletions.append(item)
        else:
            row = record_to_row(item)
            by_key[row["key"]] = row
    return Prepared(list(by_key.values()), deletions, len(batch))


def upsert_batch(conn: Connection, records: list[Record]) -> IngestStats:
    """Insert new records and update changed ones, in bulk, inside the caller's transaction."""
    return upsert_rows(conn, prepare(list(records)).rows)


def upsert_rows(conn: Connection, items: list[dict[str, Any]]) -> IngestStats:
    """Insert new and update changed record rows (from :func:`prepare`), in bulk."""
    stats = IngestStats()
    existing = repository.find_existing(
        conn, [r["key"] for r in items], [r["pmid"] for r in items if r["pmid"]],
        [r["doi"] for r in items if r["doi"]])
    # Full stored rows only for records that may change (the hash differs): the common re-run
    # case, the same source sending the same record, never loads stored content.
    index = _Index(existing)
    matches = {row["key"]: _match(row, index) for row in items}
    need_full = [m["id"] for row in items if (m := matches[row["key"]]) is not None
                 and m["content_hash"] != row["content_hash"]]
    stored = repository.records_for_merge(conn, need_full)
    by_k = index.key
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    changed_full: list[tuple[int, dict[str, Any]]] = []  # (id, the record's full new row)
    now = utcnow()
    claimed: set[int] = set()
    for row in items:
        old = matches[row["key"]]
        if old is None:
            new_rows.append({**_stored(row), "first_seen": now, "updated_at": now})
            continue
        if old["id"] in claimed:  # two incoming records resolve to one stored record
            stats.skipped += 1
            continue
        claimed.add(old["id"])
        if old["content_hash"] == row["content_hash"]:
            stats.unchanged += 1
            stats.record_ids.append(old["id"])
            continue
        old = stored[old["id"]]
        values = _merge(row, old)
        if values is None:
            stats.unchanged += 1
            stats.record_ids.append(old["id"])
            continue
        if values.get("key") and values["key"] != old["key"] and values["key"] in by_k:
            values.pop("key")
        changed_rows.append({**_stored(values), "id": old["id"], "updated_at": now,
                             "tagged_model": None})
        changed_full.append((old["id"], {**old, **values}))
    ids = repository.insert_records(conn, new_rows)
    repository.update_records(conn, changed_rows)
    idents: list[dict[str, Any]] = []
    mesh: list[dict[str, Any]] = []
    pts: list[dict[str, Any]] = []
    for rid, full in [(ids[r["key"]], r) for r in new_rows] + changed_full:
        a, b, c = _parts(rid, full)
        idents += a
        mesh += b
        pts += c
    touched = [ids[r["key"]] for r in new_rows] + [rid for rid, _ in changed_full]
    repository.replace_record_parts(conn, touched, idents, mesh, pts)
    stats.inserted += len(new_rows)
    stats.updated += len(changed_rows)
    stats.record_ids.extend(touched)
    return stats


def ingest(engine: Engine, items: Iterable[Record | Deletion], *,
           batch_size: int = DEFAULT_BATCH) -> IngestStats:
    """Upsert records (and apply deletions) in transactions of ``batch_size``."""
    total = IngestStats()
    for batch in batched(items, batch_size):
        with engine.begin() as conn:
            total.add(ingest_batch(conn, batch))
    return total


def ingest_batch(conn: Connection, batch: list[Record | Deletion]) -> IngestStats:
    """Upsert a batch of records and apply its deletions, in the caller's transaction."""
    return ingest_prepared(conn, prepare(batch))


def ingest_prepared(conn: Connection, prepared: Prepared) -> IngestStats:
    stats = upsert_rows(conn, prepared.rows) if prepared.rows else IngestStats()
    for d in prepared.deletions:
        stats.deleted += repository.mark_deleted(conn, d.pmids)
    return stats


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
