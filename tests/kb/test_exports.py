"""Reading-list exports: RIS round-trips through rispy, BibTeX, CSV formula neutralisation,
Markdown escaping, identifier links, and ``kb export`` / ``kb lists``."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import rispy
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kb import repository
from kb.cli import cli
from kb.commands.serve import serve_env, streamlit_command
from kb.exports import (
    FORMATS,
    csv_safe,
    doi_url,
    export,
    filename,
    identifier_links,
    md_escape,
    to_bibtex,
    to_csv,
    to_markdown,
    to_ris,
)
from kb.importer import SAMPLE_DIR, import_files

XSS = "<img src=x onerror=alert(1)> [x](javascript:alert(2)) $y$ :red[z]"

SUSTAIN1: dict[str, Any] = {
    "id": 1, "key": "pmid:31166571", "source": "pubmed", "pmid": "31166571",
    "doi": "10.1001/jamapsychiatry.2019.1189", "pmcid": "PMC6551577",
    "title": "Efficacy of Esketamine Nasal Spray Plus Oral Antidepressant Treatment for Relapse "
             "Prevention in Patients With Treatment-Resistant Depression: A Randomized "
             "Clinical Trial.",
    "abstract": "IMPORTANCE: Controlled studies ...\n\nRESULTS: Among the 297 adults ...",
    "journal": "JAMA psychiatry", "journal_iso": "JAMA Psychiatry", "pub_year": 2019,
    "pub_date": "2019-09-01", "language": ["eng"],
    "authors": [{"last_name": "Daly", "fore_name": "Ella J", "initials": "EJ"},
                {"last_name": "Trivedi", "fore_name": "Madhukar H", "initials": "MH"},
                {"collective_name": "SUSTAIN-1 investigators"}],
    "keywords": ["esketamine"], "publication_types": ["Randomized Controlled Trial"],
    "nct_ids": ["NCT02493868"], "is_preprint": False, "is_retracted": False,
    "has_concern": False, "design": "rct",
    "labels": [{"facet": "design", "label": "rct"}, {"facet": "condition", "label": "trd"}],
    "note": "Read first.\nThen discuss relapse.",
}
RETRACTED: dict[str, Any] = {
    "id": 2, "key": "pmid:1", "source": "pubmed", "pmid": "1", "title": XSS,
    "authors": [], "pub_year": 2020, "is_retracted": True, "has_concern": True,
    "journal": "=cmd|' /C calc'!A0", "note": "@SUM(1+1)", "labels": []}


def test_ris_round_trips_through_rispy() -> None:
    entries = rispy.loads(to_ris([SUSTAIN1, RETRACTED]))
    assert len(entries) == 2
    e = entries[0]
    assert e["type_of_reference"] == "JOUR"
    assert e["title"] == SUSTAIN1["title"]
    assert e["authors"] == ["Daly, EJ", "Trivedi, MH", "SUSTAIN-1 investigators"]
    assert e["year"] == "2019" and e["doi"] == SUSTAIN1["doi"]
    assert e["secondary_title"] == "JAMA psychiatry"
    assert e["accession_number"] == "31166571"
    assert e["urls"] == ["https://pubmed.ncbi.nlm.nih.gov/31166571/"]
    assert e["notes"] == ["Read first. Then discuss relapse."]  # one line: no tag injection
    assert "\n" not in e["abstract"]
    r = entries[1]
    assert r["title"] == XSS
    assert "RETRACTED: this publication has been retracted." in r["notes"]
    assert "Retracted Publication" in r["keywords"]


def test_ris_has_no_counter_lines_and_no_injected_tags() -> None:
    text = to_ris([{**SUSTAIN1, "title": "A\nER  - \nTY  - BOOK"}])
    lines = text.splitlines()
    assert lines[0] == "TY  - JOUR"
    assert sum(line.startswith("TY  -") for line in lines) == 1
    assert all(re.match(r"^[A-Z][A-Z0-9]  - ", line) for line in lines if line)


@given(st.text(), st.text())
def test_ris_round_trips_any_title_and_note(title: str, note: str) -> None:
    (entry,) = rispy.loads(to_ris([{"title": title, "note": note}]))
    assert entry["title"] == (" ".join(title.split()) or "(untitled)")


def test_bibtex() -> None:
    text = to_bibtex([SUSTAIN1, RETRACTED, {**SUSTAIN1, "id": 3}])
    assert text.count("@article{") == 3
    assert "@article{daly2019efficacy," in text and "@article{daly2019efficacya," in text
    assert "author = {Daly, EJ and Trivedi, MH and SUSTAIN-1 investigators}" in text
    assert "doi = {10.1001/jamapsychiatry.2019.1189}" in text
    assert "RETRACTED" in text
    assert r"\$y\$" in text  # TeX specials escaped


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx",
                                   "=HYPERLINK(\"http://x\")"])
def test_csv_neutralises_formulas(value: str) -> None:
    assert csv_safe(value) == "'" + value
    assert csv_safe("ketamine = good") == "ketamine = good"


def test_csv_export() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv([SUSTAIN1, RETRACTED]))))
    assert rows[0]["title"] == SUSTAIN1["title"]
    assert rows[0]["tags"] == "design:rct; condition:trd"
    assert rows[0]["retracted"] == "no" and rows[1]["retracted"] == "yes"
    assert rows[1]["journal"] == "'=cmd|' /C calc'!A0"
    assert rows[1]["note"] == "'@SUM(1+1)"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_markdown_escapes_untrusted_text() -> None:
    text = to_markdown([SUSTAIN1, RETRACTED], title="My <list>", description="*bold*")
    assert "# My \\<list\\>" in text and "\\*bold\\*" in text
    assert r"\<img src=x onerror=alert(1)\>" in text
    assert "<img" not in text.replace(r"\<img", "")
    assert r"\[x\](javascript\:alert(2))" in text
    assert "**RETRACTED**" in text
    assert "[PubMed 31166571](<https://pubmed.ncbi.nlm.nih.gov/31166571/>)" in text


@pytest.mark.parametrize(("raw", "shown"), [
    ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
    ("1. Not a list", r"1\. Not a list"),
    ("# Not a heading", r"\# Not a heading"),
    ("- not an item", r"\- not an item"),
    ("a_b*c*", r"a\_b\*c\*"),
    ("`code`", r"\`code\`"),
    ("$\\frac{1}{2}$", r"\$\\frac\{1\}\{2\}\$"),
    (":material/home: :red[x]", r"\:material/home\: \:red\[x\]"),
    ("&lt;b&gt;", r"\&lt;b\&gt;"),
])
def test_md_escape(raw: str, shown: str) -> None:
    assert md_escape(raw) == shown


def test_identifier_links_are_validated() -> None:
    kinds = [k for k, _, _ in identifier_links(SUSTAIN1)]
    assert kinds == ["PubMed", "DOI", "PMC", "ClinicalTrials.gov"]
    assert identifier_links({"pmid": "1 OR 1", "pmcid": "javascript:x", "nct_ids": ["x"]}) == []
    assert doi_url("10.1000/a(b)c d") is None  # whitespace: not a DOI
    assert doi_url("10.1000/a(b)<c>") == "https://doi.org/10.1000/a%28b%29%3Cc%3E"


def test_every_format_flags_retraction() -> None:
    for fmt in FORMATS:
        body = export([RETRACTED], fmt) if fmt != "md" else to_markdown([RETRACTED])
        assert re.search("retracted", body, re.IGNORECASE), fmt
        assert filename("Esketamine & TRD: teaching", fmt).startswith("esketamine-trd-teaching.")
    with pytest.raises(ValueError):
        export([], "docx")


def test_cli_lists_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    from kb.db import make_engine

    engine = make_engine(url)
    import_files(engine, [SAMPLE_DIR / "pubmed" / "esketamine_phase3_trials.xml"])
    list_id = repository.create_reading_list(engine, "Esketamine phase 3")
    ids = [r["id"] for r in (repository.get_record(engine, p)
                             for p in ("31166571", "31290965")) if r]
    repository.add_to_reading_list(engine, list_id, ids)
    engine.dispose()
    runner = CliRunner()
    out = runner.invoke(cli, ["--database-url", url, "lists"])
    assert out.exit_code == 0 and "Esketamine phase 3" in out.output
    target = tmp_path / "list.ris"
    out = runner.invoke(cli, ["--database-url", url, "export", str(list_id), "--format", "ris",
                              "-o", str(target)])
    assert out.exit_code == 0, out.output
    entries = rispy.loads(target.read_text(encoding="utf-8"))
    assert [e["accession_number"] for e in entries] == ["31166571", "31290965"]
    out = runner.invoke(cli, ["--database-url", url, "export", str(list_id), "--format", "md"])
    assert out.exit_code == 0 and out.output.startswith("# Esketamine phase 3")
    out = runner.invoke(cli, ["--database-url", url, "export", "999"])
    assert out.exit_code != 0 and "no reading list" in out.output


def test_serve_command_line() -> None:
    cmd = streamlit_command(Path("/x/app.py"), 8600, "127.0.0.1")
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    joined = " ".join(cmd)
    assert "--server.port 8600" in joined and "--server.headless true" in joined
    assert "--browser.gatherUsageStats false" in joined
    assert "--server.address 127.0.0.1" in joined
    env = serve_env("sqlite:///x.sqlite", None, base={"PATH": "/bin"})
    assert env["KB_DATABASE_URL"] == "sqlite:///x.sqlite" and env["PATH"] == "/bin"
