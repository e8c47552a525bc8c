import gzip
import shutil
from pathlib import Path

from sqlalchemy.engine import Engine

from kb import repository
from kb.importer import SAMPLE_DIR, import_files


def test_import_shipped_sample_then_reimport(engine: Engine) -> None:
    first = import_files(engine, [SAMPLE_DIR])
    assert first.errors == []
    assert first.files == 12
    n = repository.record_count(engine)
    assert n > 1300
    assert repository.get_record(engine, "pmid:31166571") is not None  # SUSTAIN-1
    again = import_files(engine, [SAMPLE_DIR])
    assert again.stats.inserted == 0 and again.stats.updated == 0
    assert repository.record_count(engine) == n


def test_gzip_and_plain_import_identically(sqlite_engine: Engine, tmp_path: Path) -> None:
    src = SAMPLE_DIR / "pubmed" / "esketamine_phase3_trials.xml"
    gz = tmp_path / "a.xml.gz"
    with src.open("rb") as fh, gzip.open(gz, "wb") as out:
        shutil.copyfileobj(fh, out)
    import_files(sqlite_engine, [gz])
    assert sorted(repository.record_keys(sqlite_engine)) == [
        "pmid:31166571", "pmid:31290965", "pmid:32316080"]
    rep = import_files(sqlite_engine, [src])
    assert rep.stats.unchanged == 3


def test_bad_lines_are_quarantined_and_good_ones_kept(sqlite_engine: Engine,
                                                      tmp_path: Path) -> None:
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(b'{"id": "pmid:1", "title": "Ketamine one"}\n{broken\n'
                  b'{"id": "pmid:2", "title": "Ketamine two"}\n')
    rep = import_files(sqlite_engine, [f])
    assert rep.records == 2 and len(rep.errors) == 1 and "line 2" in rep.errors[0]
    q = repository.open_quarantine(sqlite_engine)
    assert len(q) == 1 and q[0]["source"] == "import"


def test_truncated_xml_keeps_records_before_the_fault(sqlite_engine: Engine,
                                                       tmp_path: Path) -> None:
    data = (SAMPLE_DIR / "pubmed" / "esketamine_phase3_trials.xml").read_bytes()
    cut = data.index(b"</PubmedArticle>", data.index(b"</PubmedArticle>") + 1) + 30
    f = tmp_path / "cut.xml"
    f.write_bytes(data[:cut])
    rep = import_files(sqlite_engine, [f])
    assert len(rep.errors) == 1
    assert repository.record_count(sqlite_engine) == 2
