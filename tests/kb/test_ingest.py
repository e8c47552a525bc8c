import zlib
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from harvester.records import CommentCorrection, Deletion, MeshHeading, Record
from kb import repository
from kb.ingest import ingest
from kb.models import RecordIdentifier, RecordMesh, RecordRow


def rec(pmid: str | None = "100", **kw: object) -> Record:
    base: dict[str, object] = {"source": "pubmed", "pmid": pmid, "title": f"Title {pmid}",
                               "abstract": "Ketamine abstract.", "raw_format": "pubmed-xml"}
    base.update(kw)
    if "raw" not in kw:  # a payload that changes with the content, as a real one does
        base["raw"] = repr(sorted(base.items(), key=str)).encode()
    return Record(**base)  # type: ignore[arg-type]


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_insert_then_rerun_is_idempotent(engine: Engine) -> None:
    items = [rec(str(i), doi=f"10.1000/X{i}", mesh=[MeshHeading("Ketamine", "D007649")])
             for i in range(1, 1201)]
    first = ingest(engine, items, batch_size=500)
    assert (first.inserted, first.updated, first.unchanged) == (1200, 0, 0)
    second = ingest(engine, items, batch_size=500)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 1200)
    assert count(engine, RecordRow) == 1200
    assert count(engine, RecordMesh) == 1200
    assert count(engine, RecordIdentifier) == 2400  # pmid + doi each


def test_date_revised_change_updates_in_place(engine: Engine) -> None:
    ingest(engine, [rec("7", date_revised=date(2020, 1, 1))])
    s = ingest(engine, [rec("7", date_revised=date(2024, 5, 6), title="Corrected title")])
    assert (s.inserted, s.updated) == (0, 1)
    row = repository.get_record(engine, "pmid:7")
    assert row is not None
    assert row["title"] == "Corrected title" and row["date_revised"] == date(2024, 5, 6)
    assert count(engine, RecordRow) == 1


def test_raw_payload_kept_compressed(engine: Engine) -> None:
    ingest(engine, [rec("8", raw=b"<PubmedArticle>original bytes</PubmedArticle>")])
    with engine.connect() as conn:
        raw = conn.execute(select(RecordRow.raw).where(RecordRow.pmid == "8")).scalar_one()
    assert zlib.decompress(raw) == b"<PubmedArticle>original bytes</PubmedArticle>"


def test_doi_only_record_is_upgraded_when_pmid_arrives(engine: Engine) -> None:
    ingest(engine, [rec(None, doi="https://doi.org/10.1000/ABC", source="europepmc")])
    assert repository.record_keys(engine) == ["doi:10.1000/abc"]
    s = ingest(engine, [rec("55", doi="10.1000/abc")])
    assert (s.inserted, s.updated) == (0, 1)
    assert repository.record_keys(engine) == ["pmid:55"]


def test_lower_ranked_source_only_fills_gaps(engine: Engine) -> None:
    ingest(engine, [rec("9", title="PubMed title", journal=None)])
    s = ingest(engine, [rec("9", source="europepmc", title="EPMC title", journal="J Psych")])
    assert s.updated == 1
    row = repository.get_record(engine, "9")
    assert row is not None
    assert (row["title"], row["journal"], row["source"]) == ("PubMed title", "J Psych", "pubmed")
    again = ingest(engine, [rec("9", source="europepmc", title="EPMC title", journal="J Psych")])
    assert again.unchanged == 1


def test_same_doi_different_pmids_are_two_records(engine: Engine) -> None:
    ingest(engine, [rec("1", doi="10.1000/same"), rec("2", doi="10.1000/same")])
    assert sorted(repository.record_keys(engine)) == ["pmid:1", "pmid:2"]


def test_deletion_flags_and_retraction_flags(engine: Engine) -> None:
    ingest(engine, [rec("11"), rec("12", comments_corrections=[
        CommentCorrection("RetractionIn", pmid="99")])])
    s = ingest(engine, [Deletion(pmids=["11"])])
    assert s.deleted == 1
    r11, r12 = repository.get_record(engine, "11"), repository.get_record(engine, "12")
    assert r11 is not None and r11["deleted"] is True
    assert r12 is not None and r12["is_retracted"] is True
    assert repository.stats(engine)["records"] == 1


def test_fulltext_search_finds_inserted_and_updated_text(engine: Engine) -> None:
    ingest(engine, [rec("21", title="Intranasal esketamine in TRD")])
    total, rows = repository.list_records(engine, search="esketamine")
    assert total == 1 and rows[0]["key"] == "pmid:21"
    ingest(engine, [rec("21", title="Oral arketamine", date_revised=date(2025, 1, 1))])
    assert repository.list_records(engine, search="esketamine")[0] == 0
    assert repository.list_records(engine, search="arketamine")[0] == 1
    assert repository.list_records(engine, search='"(( -')[0] == 0
