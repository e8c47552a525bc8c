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
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine

from harvester.records import (
    CONCERN_TYPES,
    ERRATUM_TYPES,
    Deletion,
    Record,
)
from kb import repository
from kb.models import utcnow

DEFAULT_BATCH = 500
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


def record_to_row(rec: Record) -> dict[str, Any]:
    """The ``record`` table row for a parsed record (without ``id``)."""
    doi = normalize_doi(rec.doi)
    rec.doi = doi
    cc = [asdict(c) for c in rec.comments_corrections]
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
        "abstract_sections": [asdict(s) for s in rec.abstract_sections],
        "journal": rec.journal,
        "journal_iso": rec.journal_iso,
        "pub_year": rec.pub_year,
        "pub_date": rec.pub_date,
        "pub_date_raw": rec.pub_date_raw,
        "language": list(rec.language),
        "authors": [asdict(a) for a in rec.authors],
        "keywords": list(rec.keywords),
        "chemicals": [asdict(c) for c in rec.chemicals],
        "mesh": [asdict(m) for m in rec.mesh],
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
    row["content_hash"] = content_hash(row)
    row["raw"] = zlib.compress(rec.raw, 6) if rec.raw else None
    return row


def content_hash(row: dict[str, Any]) -> str:
    data = {k: v for k, v in row.items() if k not in _HASHED_EXCLUDE}
    blob = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


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
    earlier source supplied); a lower-ranked source (Europe PMC after PubMed, say) only fills
    fields the stored record lacks. Retraction/concern flags never switch back off.
    """
    content = {k: v for k, v in old.items() if k not in ("id", "raw")}
    if SOURCE_RANK.get(row["source"], 0) >= SOURCE_RANK.get(old["source"], 0):
        values = {k: v for k, v in row.items() if not _empty(v) or k in _IDENTITY}
        for flag in _STICKY_FLAGS:
            values[flag] = bool(row.get(flag)) or bool(old.get(flag))
        values["deleted"] = bool(row.get("deleted"))
    else:
        values = {k: v for k, v in row.items()
                  if k not in _IDENTITY and not _empty(v) and _empty(old.get(k))}
        for flag in _STICKY_FLAGS:
            if row.get(flag) and not old.get(flag):
                values[flag] = True
    merged = {**content, **{k: v for k, v in values.items() if k not in ("raw",)}}
    merged_hash = content_hash(merged)
    if merged_hash == old["content_hash"]:
        return None
    values["content_hash"] = merged_hash
    return values


def upsert_batch(conn: Connection, records: list[Record]) -> IngestStats:
    """Insert new records and update changed ones, in bulk, inside the caller's transaction."""
    stats = IngestStats()
    # Last one wins inside a batch (a file may hold the same PMID twice, e.g. a revision).
    by_key: dict[str, dict[str, Any]] = {}
    for rec in records:
        row = record_to_row(rec)
        by_key[row["key"]] = row
    items = list(by_key.values())
    existing = repository.find_existing(
        conn, [r["key"] for r in items], [r["pmid"] for r in items if r["pmid"]],
        [r["doi"] for r in items if r["doi"]])
    by_k = {e["key"]: e for e in existing}
    by_pmid = {e["pmid"]: e for e in existing if e["pmid"]}
    by_doi = {e["doi"]: e for e in existing if e["doi"]}
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    changed_full: list[tuple[int, dict[str, Any]]] = []  # (id, the record's full new row)
    now = utcnow()
    claimed: set[int] = set()
    for row in items:
        old = (by_k.get(row["key"]) or (by_pmid.get(row["pmid"]) if row["pmid"] else None)
               or (by_doi.get(row["doi"]) if row["doi"] else None))
        if old is not None and old["pmid"] and row["pmid"] and old["pmid"] != row["pmid"]:
            old = by_k.get(row["key"])  # same DOI, different PMIDs: two articles
        if old is None:
            new_rows.append({**row, "first_seen": now, "updated_at": now})
            continue
        if old["id"] in claimed:  # two incoming records resolve to one stored record
            stats.skipped += 1
            continue
        claimed.add(old["id"])
        values = _merge(row, old)
        if values is None:
            stats.unchanged += 1
            stats.record_ids.append(old["id"])
            continue
        if values.get("key") and values["key"] != old["key"] and values["key"] in by_k:
            values.pop("key")
        changed_rows.append({**values, "id": old["id"], "updated_at": now, "tagged_model": None})
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
    recs = [x for x in batch if isinstance(x, Record)]
    stats = upsert_batch(conn, recs) if recs else IngestStats()
    for d in (x for x in batch if isinstance(x, Deletion)):
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
