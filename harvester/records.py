"""Record types every source parser returns: plain dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(slots=True)
class Author:
    """One author (person or collective) with affiliations."""

    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    collective_name: str | None = None
    affiliations: list[str] = field(default_factory=list)
    orcid: str | None = None

    @property
    def display(self) -> str:
        """``"Last, Initials"`` as in citations, or the collective name."""
        if self.collective_name:
            return self.collective_name
        if self.last_name and (self.initials or self.fore_name):
            return f"{self.last_name}, {self.initials or self.fore_name}"
        return self.last_name or self.fore_name or ""


@dataclass(slots=True)
class MeshQualifier:
    name: str
    ui: str | None = None
    major: bool = False


@dataclass(slots=True)
class MeshHeading:
    """A MeSH descriptor with its qualifiers."""

    name: str
    ui: str | None = None
    major: bool = False
    qualifiers: list[MeshQualifier] = field(default_factory=list)


@dataclass(slots=True)
class Chemical:
    name: str
    ui: str | None = None
    registry_number: str | None = None


@dataclass(slots=True)
class AbstractSection:
    """One part of a (possibly structured) abstract."""

    text: str
    label: str | None = None
    category: str | None = None


@dataclass(slots=True)
class CommentCorrection:
    """A PubMed CommentsCorrections link (retraction, erratum, update, comment ...)."""

    ref_type: str
    pmid: str | None = None
    ref_source: str | None = None


# Comment/correction types that mean "this record has been retracted / corrected / flagged".
RETRACTION_TYPES = frozenset({"RetractionIn", "RetractedandRepublishedIn"})
CONCERN_TYPES = frozenset({"ExpressionOfConcernIn"})
ERRATUM_TYPES = frozenset({"ErratumIn", "CorrectedandRepublishedIn"})
NOTICE_OF_TYPES = frozenset(
    {"RetractionOf", "ErratumFor", "ExpressionOfConcernFor", "CorrectedandRepublishedFrom",
     "RetractedandRepublishedFrom"}
)


@dataclass(slots=True)
class Record:
    """A bibliographic record (article, preprint, book chapter) from any source.

    ``abstract`` is plain text: section labels become ``"LABEL: text"`` paragraphs joined by a
    blank line, inline markup is kept as text.  ``raw`` is the source payload the record was
    parsed from, so it can be re-parsed after a parser fix.
    """

    source: str
    title: str = ""
    abstract: str = ""
    abstract_sections: list[AbstractSection] = field(default_factory=list)
    pmid: str | None = None
    pmid_version: int | None = None
    doi: str | None = None
    pmcid: str | None = None
    ppr_id: str | None = None
    other_ids: dict[str, str] = field(default_factory=dict)
    language: list[str] = field(default_factory=list)
    journal: str | None = None
    journal_iso: str | None = None
    pub_year: int | None = None
    pub_date: str | None = None  # ISO-like, as precise as the source: "2019", "2019-06-01"
    pub_date_raw: str | None = None  # e.g. MedlineDate "1998 Dec-1999 Jan"
    authors: list[Author] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    mesh: list[MeshHeading] = field(default_factory=list)
    chemicals: list[Chemical] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    nct_ids: list[str] = field(default_factory=list)
    databanks: dict[str, list[str]] = field(default_factory=dict)
    comments_corrections: list[CommentCorrection] = field(default_factory=list)
    date_revised: date | None = None
    first_published: date | None = None
    is_preprint: bool = False
    is_book: bool = False
    retracted: bool = False  # source says this record is retracted
    withdrawn: bool = False
    version_links: dict[str, str] = field(default_factory=dict)  # e.g. {"published_doi": ...}
    origin: str | None = None
    raw: bytes | None = None
    raw_format: str | None = None

    @property
    def key(self) -> str:
        """The identity key: ``pmid:N``, else ``doi:...``, ``ppr:...`` or ``src:...``."""
        if self.pmid:
            return f"pmid:{self.pmid}"
        if self.doi:
            return f"doi:{self.doi.lower()}"
        if self.ppr_id:
            return f"ppr:{self.ppr_id}"
        if self.pmcid:
            return f"pmcid:{self.pmcid}"
        if self.nct_ids and self.source.startswith("ctgov"):
            return f"nct:{self.nct_ids[0]}"
        return f"src:{self.source}:{self.other_ids.get('source_id', self.title[:80])}"

    @property
    def is_retraction_notice(self) -> bool:
        return "Retraction of Publication" in self.publication_types or any(
            c.ref_type == "RetractionOf" for c in self.comments_corrections
        )

    @property
    def is_retracted(self) -> bool:
        """True if the source marks the record itself as retracted."""
        return (
            self.retracted
            or "Retracted Publication" in self.publication_types
            or any(c.ref_type in RETRACTION_TYPES for c in self.comments_corrections)
        )


@dataclass(slots=True)
class Deletion:
    """A ``DeleteCitation`` instruction: these PMIDs were removed from PubMed."""

    pmids: list[str]
    source: str = "pubmed"


@dataclass(slots=True)
class Intervention:
    name: str
    type: str | None = None
    description: str | None = None
    other_names: list[str] = field(default_factory=list)
    arm_group_labels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Arm:
    label: str
    type: str | None = None
    description: str | None = None
    interventions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TrialOutcome:
    measure: str
    kind: str  # "primary" | "secondary" | "other"
    time_frame: str | None = None
    description: str | None = None


@dataclass(slots=True)
class Trial:
    """A registered clinical trial (ClinicalTrials.gov API v2 study)."""

    nct_id: str
    brief_title: str = ""
    official_title: str | None = None
    acronym: str | None = None
    brief_summary: str = ""
    detailed_description: str = ""
    overall_status: str | None = None
    why_stopped: str | None = None
    phases: list[str] = field(default_factory=list)
    study_type: str | None = None
    conditions: list[str] = field(default_factory=list)
    condition_mesh: list[MeshHeading] = field(default_factory=list)
    intervention_mesh: list[MeshHeading] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    arms: list[Arm] = field(default_factory=list)
    enrollment: int | None = None
    enrollment_type: str | None = None
    allocation: str | None = None
    masking: str | None = None
    primary_purpose: str | None = None
    outcomes: list[TrialOutcome] = field(default_factory=list)
    start_date: str | None = None
    primary_completion_date: str | None = None
    completion_date: str | None = None
    first_posted: str | None = None
    last_update_posted: str | None = None
    sponsor: str | None = None
    collaborators: list[str] = field(default_factory=list)
    has_results: bool = False
    reference_pmids: list[str] = field(default_factory=list)
    secondary_ids: list[str] = field(default_factory=list)
    raw: bytes | None = None

    @property
    def title(self) -> str:
        return self.official_title or self.brief_title

    @property
    def text(self) -> str:
        """Summary and description, for classification and search."""
        return "\n\n".join(p for p in (self.brief_summary, self.detailed_description) if p)
