"""One study across sources: merge, preprint versions, trial links, late retraction notices."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from harvester.corpus import record_from_corpus
from harvester.ctgov.parser import parse_study
from harvester.records import CommentCorrection, Record
from kb import repository
from kb.harvest import trial_to_row
from kb.importer import SAMPLE_DIR, import_files
from kb.ingest import ingest
from kb.linking import link_all, title_key
from kb.models import RecordLink, RecordRow, TrialPublication

DATA = Path(__file__).resolve().parents[1] / "data"


def corpus_records(*keys: str) -> list[Record]:
    """Real records of the shipped Europe PMC sample, by key."""
    out = {}
    with gzip.open(SAMPLE_DIR / "ketamine_europepmc.jsonl.gz", "rb") as fh:
        for line in fh:
            obj = json.loads(line)
            if obj["id"] in keys:
                out[obj["id"]] = record_from_corpus(obj, raw=line)
    return [out[k] for k in keys]


def links(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        table = RecordRow.__table__  # type: ignore[attr-defined]
        a, b = table.alias("a"), table.alias("b")
        L = RecordLink.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(a.c.key, b.c.key, L.c.relation)
                            .join(a, a.c.id == L.c.from_id).join(b, b.c.id == L.c.to_id))
        return sorted((x, y, z) for x, y, z in rows)


def test_title_key_ignores_case_accents_punctuation() -> None:
    assert title_key("[Retracted] Ketamine—for TRD: a Méta-analysis.") == (
        "ketamine for trd a meta analysis")


def test_same_paper_from_pubmed_and_europepmc_plus_preprint_is_one_study(
        engine: Engine) -> None:
    # SUSTAIN-1 arrives from Europe PMC (corpus) and from PubMed (efetch XML): one record.
    ingest(engine, corpus_records("pmid:31166571"))
    import_files(engine, [SAMPLE_DIR / "pubmed" / "esketamine_phase3_trials.xml"])
    row = repository.get_record(engine, "pmid:31166571")
    assert row is not None and row["source"] == "pubmed"
    with engine.connect() as conn:
        n = conn.execute(select(RecordRow.id).where(RecordRow.pmid == "31166571")).all()
    assert len(n) == 1
    # RECOVER: the real preprint and its journal version, in either order.
    pre, pub = corpus_records("doi:10.1101/2025.10.15.25337077", "pmid:41529263")
    ingest(engine, [pre])
    assert link_all(engine).versions == 0
    ingest(engine, [pub])
    report = link_all(engine)
    assert report.versions == 1
    assert ("doi:10.1101/2025.10.15.25337077", "pmid:41529263", "version_of") in links(engine)
    pre_row = repository.get_record(engine, "doi:10.1101/2025.10.15.25337077")
    pub_row = repository.get_record(engine, "pmid:41529263")
    assert pre_row and pub_row and pre_row["duplicate_of"] == pub_row["id"]
    _, rows = repository.list_records(engine, search="vagus nerve stimulation RECOVER")
    assert [r["key"] for r in rows] == ["pmid:41529263"]  # the study appears once
    # Re-harvest and re-link: idempotent.
    again = ingest(engine, [pre, pub])
    assert again.inserted == 0 and again.updated == 0
    assert link_all(engine).versions == 0
    assert len(links(engine)) == 1


def test_explicit_source_link_beats_title_match(engine: Engine) -> None:
    published = Record(source="pubmed", pmid="123456", title="A study of ketamine",
                       doi="10.1000/journal.1")
    preprint = Record(source="europepmc", ppr_id="PPR999", is_preprint=True,
                      title="A completely different preprint title",
                      version_links={"published_pmid": "123456"})
    ingest(engine, [published, preprint])
    link_all(engine)
    assert links(engine) == [("ppr:PPR999", "pmid:123456", "version_of")]


def test_trials_link_to_publications_both_ways(engine: Engine) -> None:
    import_files(engine, [SAMPLE_DIR / "pubmed" / "esketamine_phase3_trials.xml"])
    # A real registry entry whose references list PMIDs; one of them is in the KB.
    trial = parse_study((DATA / "ctgov" / "NCT05013879.json").read_bytes())
    ingest(engine, [Record(source="pubmed", pmid="32459670", title="Referenced article")])
    with engine.begin() as conn:
        repository.upsert_trials(conn, [trial_to_row(trial)])
    link_all(engine)
    with engine.connect() as conn:
        pairs = set(conn.execute(select(TrialPublication.nct_id, RecordRow.pmid,
                                        TrialPublication.evidence)
                                 .join(RecordRow, RecordRow.id == TrialPublication.record_id)))
    assert ("NCT02493868", "31166571", "databank") in pairs  # SUSTAIN-1 -> its registration
    assert ("NCT02497287", "32316080", "databank") in pairs  # SUSTAIN-2
    assert ("NCT05013879", "32459670", "trial_reference") in pairs  # trial -> publication
    assert link_all(engine).trial_links == 0  # idempotent


def test_retraction_notice_arriving_later_flags_the_original(engine: Engine) -> None:
    original = Record(source="pubmed", pmid="30000001", title="Ketamine for depression")
    ingest(engine, [original])
    link_all(engine)
    assert repository.stats(engine)["retracted"] == 0
    # Shape of a PubMed retraction notice: its own PMID, the publication type, RetractionOf.
    notice = Record(source="pubmed", pmid="31000002",
                    title="Retraction Notice to: Ketamine for depression",
                    publication_types=["Journal Article", "Retraction of Publication"],
                    comments_corrections=[CommentCorrection("RetractionOf", pmid="30000001")])
    ingest(engine, [notice])
    assert link_all(engine).notices == 1
    row = repository.get_record(engine, "pmid:30000001")
    assert row is not None and row["is_retracted"] is True
    assert ("pmid:31000002", "pmid:30000001", "retraction_of") in links(engine)
    # A later PubMed revision of the original without the flag does not un-retract it.
    ingest(engine, [Record(source="pubmed", pmid="30000001", title="Ketamine for depression.")])
    row = repository.get_record(engine, "pmid:30000001")
    assert row is not None and row["is_retracted"] is True
    assert link_all(engine).notices == 0
