import json

from harvester.corpus import parse_corpus_jsonl, record_from_corpus
from harvester.errors import ParseError
from harvester.europepmc.parser import html_to_sections, html_to_text


def test_europepmc_html_abstract_sections_and_no_text_lost() -> None:
    raw = ("<h4>Background</h4> Ketamine <i>rapidly</i> reduces MADRS "
           "(P&lt;0.001; 2 m<sup>2</sup>). <h4>Methods</h4> "
           "We randomised 10 patients; P<0.05 was significant.")
    secs = html_to_sections(raw)
    assert [s.label for s in secs] == ["Background", "Methods"]
    assert secs[0].text == "Ketamine rapidly reduces MADRS (P<0.001; 2 m2)."
    assert secs[1].text == "We randomised 10 patients; P<0.05 was significant."


def test_markup_cleaning_keeps_lookalike_text() -> None:
    assert html_to_text("a <b>bold</b> x<y and 3 <5 > 2") == "a bold x<y and 3 <5 > 2"
    assert html_to_text("&lt;img src=x onerror=alert(1)&gt;") == "<img src=x onerror=alert(1)>"


def test_real_corpus_line() -> None:
    line = (b'{"id": "pmid:31166571", "source": "medline", "pmid": "31166571", "pmcid": null,'
            b' "doi": "10.1001/JAMAPSYCHIATRY.2019.1189", "nct_ids": ["NCT02493868"],'
            b' "title": "Efficacy of Esketamine Nasal Spray", "abstract": "Importance ...",'
            b' "journal": "JAMA psychiatry", "year": 2019, "authors": ["Daly, E J"],'
            b' "mesh": [{"name": "Ketamine", "ui": "D007649", "major": false, "qualifiers": []},'
            b' "Humans"], "publication_types": ["Randomized Controlled Trial"], "keywords": [],'
            b' "origin": "test"}')
    rec = record_from_corpus(json.loads(line), raw=line)
    assert rec.key == "pmid:31166571"
    assert rec.pub_year == 2019
    assert rec.authors[0].last_name == "Daly" and rec.authors[0].initials == "E J"
    assert [m.name for m in rec.mesh] == ["Ketamine", "Humans"]
    assert rec.mesh[0].ui == "D007649"
    assert rec.nct_ids == ["NCT02493868"]
    assert rec.raw == line


def test_bad_lines_are_reported_not_fatal() -> None:
    lines = [b'{"id": "pmid:1", "title": "ok"}\n', b"{not json\n", b"\n", b'{"title": "no id"}\n',
             b'{"id": "pmid:2", "title": "ok", "year": "abc"}\n', b'[1, 2]\n']
    out = list(parse_corpus_jsonl(lines))
    assert [getattr(o, "key", None) for o in out] == ["pmid:1", None, None, None, None]
    errors = [str(o) for o in out if isinstance(o, ParseError)]
    assert errors[0].startswith("line 2:")
    assert "line 4: record has no 'id'" in errors
    assert any(e.startswith("line 5:") and "bad year" in e for e in errors)
    assert any(e.startswith("line 6:") for e in errors)


def test_preprint_and_src_ids() -> None:
    rec = record_from_corpus({"id": "doi:10.1101/2025.10.15.25337077", "source": "europepmc",
                              "doi": "10.1101/2025.10.15.25337077", "title": "T",
                              "publication_types": ["Preprint"]})
    assert rec.is_preprint and rec.key == "doi:10.1101/2025.10.15.25337077"
    src = record_from_corpus({"id": "src:ABC123", "source": "europepmc", "title": "T"})
    assert src.key == "src:europepmc:ABC123"
