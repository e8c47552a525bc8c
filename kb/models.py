"""SQLModel tables of the knowledge base.

One row per record (article, preprint, book chapter) in ``record``; its parts that are queried
(identifiers, MeSH, publication types, tags, links) in child tables; the rest as JSON columns.
Registered trials live in ``trial``. Harvest bookkeeping in ``harvest_run``,
``harvest_state`` and ``quarantine``. Curation in ``reading_list`` / ``reading_list_item``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware UTC (stored as UTC on every dialect)."""
    return datetime.now(UTC)


class RecordRow(SQLModel, table=True):
    """A bibliographic record. ``key`` is the identity (``pmid:N``, ``doi:...``, ``ppr:...``)."""

    __tablename__ = "record"
    # The browser's default listing: live records, newest first (revision 0002). Writes are
    # bulk: low-cardinality flags carry no index of their own (every index slows each insert).
    __table_args__ = (Index("ix_record_live_year", "duplicate_of", "deleted", "pub_year"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=300)
    source: str = Field(max_length=40)
    pmid: str | None = Field(default=None, index=True, max_length=20)
    pmid_version: int | None = None
    doi: str | None = Field(default=None, index=True, max_length=300)
    pmcid: str | None = Field(default=None, index=True, max_length=30)
    ppr_id: str | None = Field(default=None, index=True, max_length=30)
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    abstract: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    abstract_sections: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    journal: str | None = Field(default=None, sa_column=Column(Text))
    journal_iso: str | None = Field(default=None, max_length=300)
    pub_year: int | None = Field(default=None, index=True)
    pub_date: str | None = Field(default=None, max_length=40)
    pub_date_raw: str | None = Field(default=None, max_length=100)
    language: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    authors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    chemicals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    mesh: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    publication_types: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    nct_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    databanks: dict[str, list[str]] = Field(default_factory=dict, sa_column=Column(JSON))
    comments_corrections: list[dict[str, Any]] = Field(default_factory=list,
                                                       sa_column=Column(JSON))
    version_links: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    date_revised: date | None = None
    first_published: date | None = None
    is_preprint: bool = False
    is_book: bool = False
    is_retracted: bool = False
    has_concern: bool = False
    has_erratum: bool = False
    deleted: bool = False  # DeleteCitation received
    duplicate_of: int | None = Field(default=None, foreign_key="record.id")
    origin: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(default="", max_length=64)
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # zlib-compressed
    raw_format: str | None = Field(default=None, max_length=40)
    tagged_model: str | None = Field(default=None, max_length=80)
    first_seen: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class RecordIdentifier(SQLModel, table=True):
    """Every normalised identifier a record carries (for dedup and lookup)."""

    __tablename__ = "record_identifier"
    __table_args__ = (UniqueConstraint("kind", "value", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    kind: str = Field(max_length=10)  # pmid | doi | pmcid | ppr | nct
    value: str = Field(max_length=300)


class RecordMesh(SQLModel, table=True):
    __tablename__ = "record_mesh"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    ui: str | None = Field(default=None, max_length=20, index=True)
    name: str = Field(max_length=300, index=True)
    major: bool = False


class RecordPubType(SQLModel, table=True):
    __tablename__ = "record_pubtype"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    name: str = Field(max_length=200, index=True)


class RecordLink(SQLModel, table=True):
    """A typed link between two records, or a record and a trial.

    ``relation`` is one of ``duplicate_of``, ``version_of`` (preprint -> published),
    ``retraction_of``, ``erratum_for``, ``concern_for``, ``update_of``.
    """

    __tablename__ = "record_link"
    __table_args__ = (UniqueConstraint("from_id", "to_id", "relation"),)

    id: int | None = Field(default=None, primary_key=True)
    from_id: int = Field(foreign_key="record.id", index=True)
    to_id: int = Field(foreign_key="record.id", index=True)
    relation: str = Field(max_length=30)
    evidence: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Tag(SQLModel, table=True):
    """One label on one facet of a record, with provenance.

    ``origin`` is ``metadata``, ``model`` or ``human``; a ``human`` tag wins over the others and
    survives re-tagging. ``negative`` marks a human's "this label does not apply".
    """

    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("record_id", "facet", "label", "origin"),
                      Index("ix_tag_facet_label", "facet", "label"))

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    facet: str = Field(max_length=20)
    label: str = Field(max_length=60)
    origin: str = Field(max_length=10)
    probability: float | None = None
    model_version: str | None = Field(default=None, max_length=80)
    negative: bool = False
    user: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class RecordTagSummary(SQLModel, table=True):
    """The effective (combined) tags of a record, one row per (record, facet, label).

    Rebuilt from ``tag`` whenever a record is tagged or corrected; the dashboard filters on it.
    """

    __tablename__ = "record_label"
    __table_args__ = (UniqueConstraint("record_id", "facet", "label"),
                      Index("ix_record_label_fl", "facet", "label", "record_id"),
                      # "human-verified only" and the facet index build (revision 0002)
                      Index("ix_record_label_origin", "origin", "record_id"))

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    facet: str = Field(max_length=20)
    label: str = Field(max_length=60)
    origin: str = Field(max_length=10)
    probability: float | None = None


class TrialRow(SQLModel, table=True):
    """A registered trial (ClinicalTrials.gov)."""

    __tablename__ = "trial"

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(unique=True, index=True, max_length=20)
    brief_title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    official_title: str | None = Field(default=None, sa_column=Column(Text))
    acronym: str | None = Field(default=None, max_length=100)
    brief_summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detailed_description: str = Field(default="", sa_column=Column(Text, nullable=False,
                                                                   default=""))
    overall_status: str | None = Field(default=None, max_length=40, index=True)
    why_stopped: str | None = Field(default=None, sa_column=Column(Text))
    phases: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    study_type: str | None = Field(default=None, max_length=40)
    conditions: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    condition_mesh: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    intervention_mesh: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    interventions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    arms: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    enrollment: int | None = None
    enrollment_type: str | None = Field(default=None, max_length=20)
    allocation: str | None = Field(default=None, max_length=40)
    masking: str | None = Field(default=None, max_length=40)
    primary_purpose: str | None = Field(default=None, max_length=40)
    outcomes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    start_date: str | None = Field(default=None, max_length=20)
    primary_completion_date: str | None = Field(default=None, max_length=20)
    completion_date: str | None = Field(default=None, max_length=20)
    first_posted: str | None = Field(default=None, max_length=20)
    last_update_posted: str | None = Field(default=None, max_length=20, index=True)
    sponsor: str | None = Field(default=None, sa_column=Column(Text))
    collaborators: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    has_results: bool = False
    reference_pmids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    record_id: int | None = Field(default=None, foreign_key="record.id", index=True)
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    content_hash: str = Field(default="", max_length=64)
    first_seen: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TrialPublication(SQLModel, table=True):
    """A trial <-> publication link (both directions are read from this one table)."""

    __tablename__ = "trial_publication"
    __table_args__ = (UniqueConstraint("nct_id", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(max_length=20, index=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    evidence: str = Field(max_length=40)  # databank | abstract | trial_reference


class HarvestRun(SQLModel, table=True):
    """One harvest of one source and query."""

    __tablename__ = "harvest_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40, index=True)
    query: str = Field(sa_column=Column(Text, nullable=False))
    window_from: str | None = Field(default=None, max_length=20)
    window_to: str | None = Field(default=None, max_length=20)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=20)  # running|ok|partial|failed
    found: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))


class HarvestState(SQLModel, table=True):
    """Per (source, query) state: the last fully harvested window and the batch checkpoint."""

    __tablename__ = "harvest_state"
    __table_args__ = (UniqueConstraint("source", "query_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    query_hash: str = Field(max_length=64)
    query: str = Field(sa_column=Column(Text, nullable=False))
    last_until: str | None = Field(default=None, max_length=20)  # last successful window end
    checkpoint: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)


class Quarantine(SQLModel, table=True):
    """A payload or id that could not be parsed or fetched; kept for inspection and retry."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    item: str = Field(max_length=300, index=True)  # an id, or a file name
    reason: str = Field(sa_column=Column(Text, nullable=False))
    payload: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    run_id: int | None = Field(default=None, foreign_key="harvest_run.id")
    resolved: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ReadingList(SQLModel, table=True):
    __tablename__ = "reading_list"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    owner: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReadingListItem(SQLModel, table=True):
    __tablename__ = "reading_list_item"
    __table_args__ = (UniqueConstraint("list_id", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="reading_list.id", index=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    position: int = 0
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    added_by: str | None = Field(default=None, max_length=200)
    added_at: datetime = Field(default_factory=utcnow)
