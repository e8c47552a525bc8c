"""Query building for the evidence browser: a :class:`Filters` value → SQLAlchemy statements.

Pure: nothing here touches a database, so the generated SQL and its bound parameters are
tested by compiling statements (as datasette tests its filters). ``kb.repository`` runs them.

Facet filters read ``record_label`` (the effective tags): labels of one facet are OR-ed, facets
are AND-ed. By default only records where ketamine is ``primary`` or ``secondary`` are shown,
retracted records are hidden, and duplicates / deleted records never appear.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    select,
    table,
)

from kb.models import RecordRow, RecordTagSummary
from kb.search import to_fts_query
from kb.taxonomy import FACET_BY_NAME, FACET_NAMES

R = RecordRow.__table__  # type: ignore[attr-defined]
RL = RecordTagSummary.__table__  # type: ignore[attr-defined]
# The SQLite FTS5 table (created by ``repository.ensure_fulltext``), as a lightweight table.
FTS = table("record_fts", column("rowid"))

# Evidence levels, strongest first: the order of the "evidence level" sort and of the pyramid.
EVIDENCE_ORDER: tuple[str, ...] = (
    "systematic_review_meta_analysis",
    "rct",
    "nonrandomized_trial",
    "observational",
    "case_report_series",
    "guideline_consensus",
    "narrative_review",
    "preclinical",
    "protocol",
    "other",
)
EVIDENCE_RANK: dict[str, int] = {label: i for i, label in enumerate(EVIDENCE_ORDER)}
SORTS: tuple[str, ...] = ("newest", "evidence", "relevance")
KETAMINE_RELEVANT: tuple[str, ...] = ("primary", "secondary")

# Columns a result row carries (no abstract or raw payload: pages stay light).
ROW_COLUMNS = ("id", "key", "title", "journal", "journal_iso", "pub_year", "pub_date", "source",
               "pmid", "doi", "is_retracted", "has_concern", "is_preprint", "first_seen")


@dataclass(frozen=True, slots=True)
class Filters:
    """What the browser shows. Every field has a harmless default; values are never trusted.

    ``labels`` maps a facet to the labels wanted (any of them). Without a ``relevance``
    label, only records where ketamine is ``primary`` or ``secondary`` are shown unless
    ``include_incidental`` is set (which then shows every record, tagged or not).
    """

    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    year_from: int | None = None
    year_to: int | None = None
    sources: tuple[str, ...] = ()
    show_retracted: bool = False
    human_verified: bool = False
    include_incidental: bool = False
    search: str = ""
    sort: str = "newest"
    added_since: datetime | None = None

    def __post_init__(self) -> None:
        clean: dict[str, tuple[str, ...]] = {}
        for facet_name, wanted in dict(self.labels).items():
            f = FACET_BY_NAME.get(facet_name)
            if f is None:
                continue
            values = (wanted,) if isinstance(wanted, str) else tuple(wanted)
            keep = tuple(lab for lab in f.label_names if lab in set(values))
            if keep:
                clean[facet_name] = keep
        object.__setattr__(self, "labels", clean)
        object.__setattr__(self, "sources", tuple(sorted(set(self.sources))))
        if self.sort not in SORTS:
            object.__setattr__(self, "sort", "newest")
        if (self.year_from is not None and self.year_to is not None
                and self.year_from > self.year_to):
            low, high = self.year_to, self.year_from
            object.__setattr__(self, "year_from", low)
            object.__setattr__(self, "year_to", high)

    def __hash__(self) -> int:
        return hash(self.cache_key())

    def cache_key(self) -> tuple[Any, ...]:
        """A hashable, canonical form (for caches)."""
        return (tuple(sorted(self.labels.items())), self.year_from, self.year_to, self.sources,
                self.show_retracted, self.human_verified, self.include_incidental,
                self.search.strip(), self.sort, self.added_since)

    def with_labels(self, facet_name: str, labels: Iterable[str]) -> Filters:
        """A copy with the labels of one facet replaced."""
        new = dict(self.labels)
        new[facet_name] = tuple(labels)
        return replace(self, labels=new)

    @property
    def effective_sort(self) -> str:
        """``relevance`` needs a search; without one it falls back to ``newest``."""
        if self.sort == "relevance" and not self.search.strip():
            return "newest"
        return self.sort

    # --- URL round trip (the evidence map opens the browser with its cell as filters) ---

    def to_query_params(self) -> dict[str, str]:
        """The filters as flat URL parameters; defaults are left out."""
        out: dict[str, str] = {f: ",".join(labs) for f, labs in self.labels.items()}
        if self.year_from is not None:
            out["year_from"] = str(self.year_from)
        if self.year_to is not None:
            out["year_to"] = str(self.year_to)
        if self.sources:
            out["source"] = ",".join(self.sources)
        for name in ("show_retracted", "human_verified", "include_incidental"):
            if getattr(self, name):
                out[name] = "1"
        if self.search.strip():
            out["q"] = self.search.strip()
        if self.sort != "newest":
            out["sort"] = self.sort
        if self.added_since is not None:
            out["since"] = self.added_since.isoformat(timespec="seconds")
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, Any]) -> Filters:
        """Filters from URL parameters; unknown names and unreadable values are ignored."""

        def one(name: str) -> str:
            value = params.get(name, "")
            if isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            return str(value)

        def year(name: str) -> int | None:
            value = one(name).strip()
            return int(value) if value.isdigit() and len(value) == 4 else None

        def since() -> datetime | None:
            try:
                value = datetime.fromisoformat(one("since").strip().replace(" ", "+"))
            except ValueError:
                return None
            return value if value.tzinfo else value.replace(tzinfo=UTC)

        labels = {f: tuple(v for v in one(f).split(",") if v) for f in FACET_NAMES if one(f)}
        return cls(labels=labels, year_from=year("year_from"), year_to=year("year_to"),
                   sources=tuple(s for s in one("source").split(",") if s),
                   show_retracted=one("show_retracted") == "1",
                   human_verified=one("human_verified") == "1",
                   include_incidental=one("include_incidental") == "1",
                   search=one("q")[:500], sort=one("sort") or "newest",
                   added_since=since())


def live() -> ColumnElement[bool]:
    """Records that are neither merged duplicates nor deleted upstream."""
    return and_(R.c.duplicate_of.is_(None), R.c.deleted.is_(False))


def has_label(facet_name: str, labels: Sequence[str]) -> ColumnElement[bool]:
    """``record.id`` carries any of ``labels`` on ``facet_name`` (an indexed IN-subquery)."""
    sub = select(RL.c.record_id).where(RL.c.facet == facet_name, RL.c.label.in_(list(labels)))
    return R.c.id.in_(sub)


def _match(query: str, dialect: str) -> ColumnElement[bool]:
    """The full-text match of a *safe* query (see :func:`kb.search.to_fts_query`)."""
    if dialect == "sqlite":
        return literal_column("record_fts").op("MATCH")(bindparam("fts_q", query))
    tsq = func.websearch_to_tsquery("english", bindparam("fts_q", query))
    return literal_column("record.search_tsv").op("@@")(tsq)


def fulltext_condition(query: str, dialect: str) -> ColumnElement[bool] | None:
    """Records matching what a person typed; ``None`` when nothing searchable was typed.

    The text goes through :func:`kb.search.to_fts_query`, so no input raises a syntax error.
    SQLite: an IN-subquery on the FTS5 table (never a long list of ids); PostgreSQL: the
    ``search_tsv`` column.
    """
    q = to_fts_query(query, dialect)
    if not q:
        return None
    if dialect == "sqlite":
        return R.c.id.in_(select(FTS.c.rowid).where(_match(q, dialect)))
    return _match(q, dialect)


def conditions(filters: Filters, dialect: str, *, skip_facet: str | None = None,
               skip_source: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``filters``; ``skip_facet`` leaves one facet's filter out.

    (Leaving a facet out is how the live count of each of its labels is computed: the
    counts answer "how many would I get if I picked this label instead".)
    An impossible search (only punctuation, say) yields a condition that matches nothing.
    """
    conds: list[ColumnElement[bool]] = [live()]
    for facet_name, labels in filters.labels.items():
        if facet_name in ("relevance", skip_facet):
            continue
        conds.append(has_label(facet_name, labels))
    if skip_facet != "relevance":
        rel = filters.labels.get("relevance", ())
        if rel:
            conds.append(has_label("relevance", rel))
        elif not filters.include_incidental:
            conds.append(has_label("relevance", KETAMINE_RELEVANT))
    if filters.year_from is not None:
        conds.append(R.c.pub_year >= filters.year_from)
    if filters.year_to is not None:
        conds.append(R.c.pub_year <= filters.year_to)
    if filters.sources and not skip_source:
        conds.append(R.c.source.in_(list(filters.sources)))
    if not filters.show_retracted:
        conds.append(R.c.is_retracted.is_(False))
    if filters.human_verified:
        conds.append(R.c.id.in_(select(RL.c.record_id).where(RL.c.origin == "human")))
    if filters.added_since is not None:
        conds.append(R.c.first_seen >= filters.added_since)
    if filters.search.strip():
        fts = fulltext_condition(filters.search, dialect)
        conds.append(fts if fts is not None else R.c.id.is_(None))
    return conds


def design_rank() -> ColumnElement[int]:
    """The record's evidence rank (0 = systematic review) from its ``design`` label."""
    design = (select(RL.c.label).where(RL.c.record_id == R.c.id, RL.c.facet == "design")
              .limit(1).scalar_subquery())
    return case(EVIDENCE_RANK, value=design, else_=len(EVIDENCE_ORDER))


def _relevance_order(query: str, dialect: str) -> list[Any]:
    """Best match first: FTS5 bm25 (title weighs 4× the abstract) or PostgreSQL ts_rank."""
    if dialect == "sqlite":
        return [func.bm25(literal_column("record_fts"), 4.0, 1.0).asc()]
    tsq = func.websearch_to_tsquery("english", bindparam("fts_rank_q", query))
    return [func.ts_rank(literal_column("record.search_tsv"), tsq).desc()]


NEWEST = (R.c.pub_year.desc().nulls_last(), R.c.pub_date.desc().nulls_last(), R.c.id.desc())


def select_page(filters: Filters, dialect: str, *, limit: int = 25,
                offset: int = 0) -> Select[Any]:
    """One page of result rows (``ROW_COLUMNS``), sorted as the filters ask.

    Ties are broken newest first, then by id. Relevance on SQLite joins the FTS5 table (so
    bm25 is computed once per match, not per row).
    """
    cols = [R.c[name] for name in ROW_COLUMNS]
    sort = filters.effective_sort
    q = to_fts_query(filters.search, dialect) if sort == "relevance" else ""
    if sort == "relevance" and not q:
        sort = "newest"
    if sort == "relevance" and dialect == "sqlite":
        plain = replace(filters, search="")
        stmt = (select(*cols).select_from(R.join(FTS, FTS.c.rowid == R.c.id))
                .where(_match(q, dialect), *conditions(plain, dialect))
                .order_by(*_relevance_order(q, dialect), *NEWEST))
    else:
        order: list[Any] = list(NEWEST)
        if sort == "evidence":
            order = [design_rank().asc(), *NEWEST]
        elif sort == "relevance":
            order = [*_relevance_order(q, dialect), *NEWEST]
        stmt = select(*cols).where(*conditions(filters, dialect)).order_by(*order)
    return stmt.limit(max(1, limit)).offset(max(0, offset))


def select_count(filters: Filters, dialect: str, *,
                 also: tuple[str, str] | None = None) -> Select[Any]:
    """How many records the filters match (and, with ``also=(facet, label)``, carry a label)."""
    conds = conditions(filters, dialect)
    if also is not None:
        conds.append(has_label(also[0], [also[1]]))
    return select(func.count()).select_from(R).where(*conds)


def select_ids(filters: Filters, dialect: str, **skip: Any) -> Select[Any]:
    """The ids the filters match (a subquery for counts and matrices)."""
    return select(R.c.id).where(*conditions(filters, dialect, **skip))


def select_label_counts(filters: Filters, dialect: str, facets: Sequence[str],
                        *, skip_facet: str | None = None) -> Select[Any]:
    """``(facet, label, n)`` over the matched records, for the given facets."""
    ids = select_ids(filters, dialect, skip_facet=skip_facet)
    return (select(RL.c.facet, RL.c.label, func.count().label("n"))
            .where(RL.c.facet.in_(list(facets)), RL.c.record_id.in_(ids))
            .group_by(RL.c.facet, RL.c.label))


def label_count_statements(filters: Filters, dialect: str) -> list[Select[Any]]:
    """Statements giving live counts for every facet.

    Facets without an active filter share one statement; each filtered facet gets its own,
    computed without that facet's filter (so picking a second label shows what it adds).
    """
    active = [f for f in FACET_NAMES if f in filters.labels or f == "relevance"]
    rest = [f for f in FACET_NAMES if f not in active]
    stmts = [select_label_counts(filters, dialect, rest)] if rest else []
    stmts += [select_label_counts(filters, dialect, [f], skip_facet=f) for f in active]
    return stmts


def select_source_counts(filters: Filters, dialect: str) -> Select[Any]:
    """``(source, n)`` without the source filter itself."""
    return (select(R.c.source, func.count().label("n"))
            .where(*conditions(filters, dialect, skip_source=True)).group_by(R.c.source))


def select_newest(filters: Filters, dialect: str, design: str, limit: int = 3) -> Select[Any]:
    """The newest matched records of one design (the summary strip's SRs and RCTs)."""
    narrowed = filters.with_labels("design", [design])
    return select_page(replace(narrowed, sort="newest"), dialect, limit=limit)


def select_matrix(filters: Filters, dialect: str, row_facet: str,
                  col_facet: str) -> Select[Any]:
    """``(row, col, design, n)``: records per cell of a facet × facet matrix, by design."""
    a, b, d = RL.alias("a"), RL.alias("b"), RL.alias("d")
    ids = select_ids(filters, dialect)
    return (select(a.c.label.label("row"), b.c.label.label("col"),
                   d.c.label.label("design"), func.count().label("n"))
            .select_from(a.join(b, and_(b.c.record_id == a.c.record_id,
                                        b.c.facet == col_facet))
                         .join(d, and_(d.c.record_id == a.c.record_id, d.c.facet == "design")))
            .where(a.c.facet == row_facet, a.c.record_id.in_(ids))
            .group_by(a.c.label, b.c.label, d.c.label))


def select_year_counts(filters: Filters, dialect: str, facet_name: str) -> Select[Any]:
    """``(year, label, n)``: matched records per publication year and label of a facet."""
    return (select(R.c.pub_year.label("year"), RL.c.label, func.count().label("n"))
            .select_from(R.join(RL, and_(RL.c.record_id == R.c.id, RL.c.facet == facet_name)))
            .where(*conditions(filters, dialect), R.c.pub_year.is_not(None))
            .group_by(R.c.pub_year, RL.c.label))


def select_labels_of(record_ids: Sequence[int]) -> Select[Any]:
    """The effective labels of some records (tag chips of a result page)."""
    return (select(RL.c.record_id, RL.c.facet, RL.c.label, RL.c.origin, RL.c.probability)
            .where(RL.c.record_id.in_(list(record_ids)))
            .order_by(RL.c.record_id, RL.c.facet, RL.c.label))


def order_chips(labels: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Label rows in taxonomy order (facet order, then label order); relevance left out."""
    def key(row: Mapping[str, Any]) -> tuple[int, int]:
        f = FACET_BY_NAME.get(str(row["facet"]))
        if f is None:
            return (99, 99)
        names = f.label_names
        return (FACET_NAMES.index(f.name),
                names.index(row["label"]) if row["label"] in names else 99)

    return [dict(r) for r in sorted(labels, key=key) if r["facet"] != "relevance"]
