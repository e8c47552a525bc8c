"""Europe PMC core JSON parser: a real response, real abstracts from the corpus, edge cases."""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.errors import ParseError, SourceError
from harvester.europepmc.parser import (
    RAW_FORMAT,
    html_to_sections,
    html_to_text,
    map_comment_type,
    parse_result,
    parse_search_response,
    render_abstract,
)
from harvester.ids import find_nct_ids

from .corpus_pages import DOCUMENTED, NEJM_FIXTURE, core_response, core_result, corpus_records


def nejm() -> bytes:
    return NEJM_FIXTURE.read_bytes()


def documented() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENTED.read_text(encoding="utf-8"))
    return data


# ------------------------------------------------------------------ the real NEJM response


def test_real_response_page_fields() -> None:
    page = parse_search_response(nejm())
    assert page.hit_count == 1
    assert page.next_cursor_mark is None  # single page: no nextCursorMark in the response
    assert page.cursor_mark == "*"
    assert len(page.records) == 1


def test_real_response_identifiers_and_bibliographic_fields() -> None:
    rec = parse_search_response(nejm()).records[0]
    assert rec.source == "europepmc"
    assert rec.pmid == "26378978"
    assert rec.doi == "10.1056/nejmoa1504720"
    assert rec.pmcid is None and rec.ppr_id is None
    assert rec.other_ids == {"source_id": "MED:26378978"}
    assert rec.key == "pmid:26378978"
    assert rec.title == "Empagliflozin, Cardiovascular Outcomes, and Mortality in Type 2 Diabetes."
    assert rec.journal == "The New England journal of medicine"
    assert rec.journal_iso == "N Engl J Med"
    assert rec.pub_year == 2015
    assert rec.pub_date == "2015-11"  # "2015 Nov": month precision, not the padded 2015-11-01
    assert rec.pub_date_raw == "2015 Nov"
    assert rec.first_published == date(2015, 9, 17)
    assert rec.date_revised == date(2024, 12, 19)
    assert rec.language == ["eng"]
    assert rec.publication_types == ["Comparative Study", "Research Support, Non-U.S. Gov't",
                                     "Multicenter Study", "Randomized Controlled Trial",
                                     "Journal Article"]
    assert not rec.is_preprint and not rec.is_retracted and not rec.withdrawn
    assert rec.raw_format == RAW_FORMAT == "europepmc-json"


def test_real_response_authors_affiliations_orcid() -> None:
    authors = parse_search_response(nejm()).records[0].authors
    assert len(authors) == 13
    first = authors[0]
    assert (first.last_name, first.fore_name, first.initials) == ("Zinman", "Bernard", "B")
    assert first.affiliations[0].startswith("From the Lunenfeld-Tanenbaum Research Institute")
    lachin = authors[2]
    assert lachin.display == "Lachin, JM"
    assert lachin.orcid == "0000-0001-9838-2841"
    assert authors[-1].collective_name == "EMPA-REG OUTCOME Investigators"
    assert [a.orcid for a in authors].count(None) == 12


def test_real_response_mesh_chemicals_comments() -> None:
    rec = parse_search_response(nejm()).records[0]
    names = [m.name for m in rec.mesh]
    assert names[:3] == ["Humans", "Cardiovascular Diseases", "Diabetes Mellitus, Type 2"]
    cvd = rec.mesh[1]
    assert not cvd.major
    assert [(q.name, q.major) for q in cvd.qualifiers] == [
        ("mortality", False), ("epidemiology", False), ("prevention & control", True)]
    assert [(c.name, c.registry_number) for c in rec.chemicals] == [
        ("Hypoglycemic Agents", None), ("Glucosides", None), ("Benzhydryl Compounds", None),
        ("empagliflozin", "HDC1R2M35U")]
    assert len(rec.comments_corrections) == 19
    assert {c.ref_type for c in rec.comments_corrections} == {"CommentIn"}
    assert rec.comments_corrections[0].pmid == "26590679"
    assert rec.comments_corrections[0].ref_source is not None
    assert rec.comments_corrections[0].ref_source.startswith("Lancet Diabetes Endocrinol. 2015")


def test_real_response_structured_abstract_and_nct() -> None:
    rec = parse_search_response(nejm()).records[0]
    assert [s.label for s in rec.abstract_sections] == ["Background", "Methods", "Results",
                                                        "Conclusions"]
    assert rec.abstract.startswith("Background: The effects of empagliflozin, an inhibitor")
    assert "\n\nMethods: We randomly assigned patients" in rec.abstract
    assert "<h4>" not in rec.abstract and "h4>" not in rec.abstract
    assert rec.abstract.endswith("ClinicalTrials.gov number, NCT01131676.).")
    assert rec.nct_ids == ["NCT01131676"]
    assert rec.databanks == {"ClinicalTrials.gov": ["NCT01131676"]}


def test_raw_is_the_result_json_and_reparses_identically() -> None:
    rec = parse_search_response(nejm()).records[0]
    original = json.loads(nejm())["resultList"]["result"][0]
    assert rec.raw is not None
    assert json.loads(rec.raw) == original
    again = parse_result(rec.raw)
    assert again == rec


# ------------------------------------------------------------------ real corpus abstracts


def _visible(text: str) -> str:
    """Letters, digits and comparison signs, in order: what must survive cleaning."""
    return re.sub(r"[^0-9A-Za-z<>=%]", "", text)


_KNOWN_TAG = re.compile(r"</?(?:h4|bold|title|p|i|b|sup|sub)>", re.IGNORECASE)


@pytest.mark.parametrize("rec", corpus_records(), ids=lambda r: r["id"])
def test_corpus_record_parses_without_losing_text(rec: dict[str, Any]) -> None:
    parsed = parse_result(core_result(rec))
    raw_abstract = rec.get("abstract") or ""
    without_tags = html.unescape(_KNOWN_TAG.sub(" ", raw_abstract))
    assert _visible(parsed.abstract) == _visible(without_tags)
    # every literal '<' of the source (p<0.001, <or=5, < 4, &lt;) is still there
    literal_lt = without_tags.count("<")
    assert parsed.abstract.count("<") == literal_lt
    assert not _KNOWN_TAG.search(parsed.abstract)
    assert parsed.doi == (rec["doi"].lower() if rec.get("doi") else None)
    assert parsed.pmid == rec.get("pmid")
    assert parsed.is_preprint == ("Preprint" in rec["publication_types"] or not rec.get("pmid"))
    assert parsed.pub_year == rec.get("year")
    for nct in find_nct_ids(raw_abstract):
        assert nct in parsed.nct_ids
    labels = re.findall(r"<(?:h4|title)>(.*?)</(?:h4|title)>", raw_abstract)
    assert [s.label for s in parsed.abstract_sections if s.label] == [
        label.strip().rstrip(":").strip() for label in labels if label.strip().rstrip(":")]


def test_corpus_covers_the_hard_cases() -> None:
    """The sample really contains what the test above is meant to exercise."""
    abstracts = [r.get("abstract") or "" for r in corpus_records()]
    assert sum("<h4>" in a for a in abstracts) >= 12
    assert sum(bool(re.search(r"<\d", a)) for a in abstracts) >= 10
    assert any("<or=" in a for a in abstracts)
    assert any("<title>" in a and "<bold>" in a for a in abstracts)
    assert sum("Preprint" in r["publication_types"] for r in corpus_records()) >= 8


def _by_id(record_id: str) -> dict[str, Any]:
    return next(r for r in corpus_records() if r["id"] == record_id)


def test_or_equal_sign_is_not_taken_for_a_tag() -> None:
    # pmid:17074942 writes "A score of <or=5 on the Quick Inventory ...": an HTML parser reads
    # "<or=5 ..." as a tag and drops the text up to the next ">".
    parsed = parse_result(core_result(_by_id("pmid:17074942")))
    assert "A score of <or=5 on the Quick Inventory of Depressive Symptomatology" in parsed.abstract


def test_empty_wrapper_heading_is_kept_as_a_label() -> None:
    parsed = parse_result(core_result(_by_id("doi:10.1101/2025.06.26.25330356")))
    assert [(s.label, bool(s.text)) for s in parsed.abstract_sections[:3]] == [
        ("Summary", False), ("Background", True), ("Methods", True)]
    assert parsed.abstract.startswith("Summary\n\nBackground: Racemic ketamine")
    assert parsed.is_preprint and parsed.publication_types == ["Preprint"]
    assert parsed.key == "doi:10.1101/2025.06.26.25330356"


def test_jats_style_title_p_bold_markup() -> None:
    parsed = parse_result(core_result(_by_id("doi:10.21203/rs.3.rs-10250654/v1")))
    assert parsed.abstract_sections[0].label == "Abstract"
    assert parsed.abstract.startswith("Abstract: Background : Treatment-resistant depression")
    assert "<bold>" not in parsed.abstract and "<p>" not in parsed.abstract


def test_real_api_abstract_with_raw_less_than_before_h4() -> None:
    excerpt = documented()["raw_less_than_in_abstract"]["abstractText_excerpt"]
    sections = html_to_sections(excerpt)
    assert sections[0].label is None
    assert sections[0].text.endswith("and beta-blockers (18.3% vs. 5.4%, p<0.01).")
    assert sections[1].label == "Conclusion"
    assert sections[1].text.startswith("Based on this large population study")


# ------------------------------------------------------------------ markup edge cases


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("P&lt;0.001 and P<0.001", "P<0.001 and P<0.001"),
        ("&lt;i&gt;literal&lt;/i&gt; tag", "<i>literal</i> tag"),  # escaped markup is text
        ("a &amp; b", "a & b"),
        ("<i>in</i>vitro 10<sup>-3</sup> CO<sub>2</sub>", "invitro 10-3 CO2"),
        ("score < 4 or >or=4 and <=3", "score < 4 or >or=4 and <=3"),
        ("<or=5 on the scale >10", "<or=5 on the scale >10"),
        ("x<y and y>z", "x<y and y>z"),
        ('<span class="x">styled</span> text', "styled text"),
        ("<jats:p>crossref</jats:p><jats:p>style</jats:p>", "crossref style"),
    ],
)
def test_markup_to_text(html: str, expected: str) -> None:
    assert render_abstract(html_to_sections(html)) == expected


def test_title_markup() -> None:
    title = "<i>In vivo</i> effects of ketamine on 5-HT<sub>2A</sub> receptors: P&lt;0.05"
    assert html_to_text(title) == "In vivo effects of ketamine on 5-HT2A receptors: P<0.05"
    assert html_to_text(None) == ""


def test_heading_variants() -> None:
    sections = html_to_sections("Lead text.<h4>Results:</h4>Found.<H4>Conclusions</H4>Done.")
    assert [(s.label, s.text) for s in sections] == [
        (None, "Lead text."), ("Results", "Found."), ("Conclusions", "Done.")]
    # an unclosed heading ends at the next block tag
    sections = html_to_sections("<h4>Background<p>Text here.</p>")
    assert [(s.label, s.text) for s in sections] == [("Background", "Text here.")]
    assert html_to_sections("") == [] and html_to_sections(None) == []


_segment = st.text(alphabet="xy0123 =<>.;", min_size=0, max_size=12)
_tag = st.sampled_from(["<i>", "</i>", "<sup>", "</sup>", "<b>", "</b>", "<p>", "</p>", "<br/>"])


@given(st.lists(st.tuples(_segment, _tag), max_size=8), _segment,
       st.lists(_segment, max_size=3))
def test_no_text_is_ever_lost(parts: list[tuple[str, str]], tail: str,
                              headings: list[str]) -> None:
    body = "".join(seg + tag for seg, tag in parts) + tail
    html = "".join(f"<h4>{h}</h4>{body}" for h in headings) or body
    text_only = "".join(f"{h} {body}" for h in headings) if headings else body
    rendered = render_abstract(html_to_sections(html))
    expected = re.sub(r"<(/?)(i|sup|b|p|br/)>", "", text_only)
    assert re.sub(r"[\s:]", "", rendered) == re.sub(r"[\s:]", "", expected)


# ------------------------------------------------------------------ links, flags, errors


def _with(**fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(json.loads(nejm())["resultList"]["result"][0])
    result.update(fields)
    return result


def test_comment_correction_types_map_to_pubmed_names() -> None:
    assert map_comment_type("Retraction in") == "RetractionIn"
    assert map_comment_type("Erratum in") == "ErratumIn"
    assert map_comment_type("Expression of concern in") == "ExpressionOfConcernIn"
    assert map_comment_type("Corrected and republished from") == "CorrectedandRepublishedFrom"
    assert map_comment_type("Comment on") == "CommentOn"
    assert map_comment_type("Some new link type") == "SomeNewLinkType"


def test_retraction_links_flag_the_record() -> None:
    result = _with(commentCorrectionList={"commentCorrection": [
        {"source": "MED", "id": "88888888", "type": "Retraction in",
         "reference": "J X. 2026;1:1. doi: 10.5555/notice.1."},
        {"source": "MED", "id": "77777777", "type": "Erratum in"},
        {"source": "MED", "id": "66666666", "type": "Expression of concern in"},
        {"source": "PMC", "id": "PMC1", "type": "Comment in"},
    ]})
    rec = parse_result(result)
    assert [(c.ref_type, c.pmid) for c in rec.comments_corrections] == [
        ("RetractionIn", "88888888"), ("ErratumIn", "77777777"),
        ("ExpressionOfConcernIn", "66666666"), ("CommentIn", None)]
    assert rec.comments_corrections[3].ref_source == "PMC:PMC1"
    assert rec.is_retracted
    assert not rec.retracted  # the flag itself is for source-level marks; the property combines


def test_retracted_and_withdrawn_marks() -> None:
    types = {"pubType": ["Journal Article", "Retracted Publication"]}
    assert parse_result(_with(pubTypeList=types)).retracted
    assert parse_result(_with(title="RETRACTED: Some study.")).retracted
    assert parse_result(_with(title="WITHDRAWN: Ketamine for depression.")).withdrawn
    assert not parse_result(_with(title="Withdrawal of ketamine.")).withdrawn
    notice = parse_result(_with(pubTypeList={"pubType": ["Retraction of Publication"]}))
    assert notice.is_retraction_notice and not notice.is_retracted


def test_journal_article_links_to_its_preprint() -> None:
    link = documented()["preprint_in_link"]["commentCorrection"]
    rec = parse_result(_with(commentCorrectionList={"commentCorrection": [link]}))
    assert rec.version_links == {"preprint_ppr_id": "PPR179288"}
    assert rec.comments_corrections[0].ref_type == "PreprintIn"
    assert not rec.is_preprint and not rec.is_retracted


def test_preprint_links_to_its_published_version() -> None:
    fields = documented()["preprint_fields"]
    result = {
        "id": "PPR838108", "source": "PPR", "title": "A preprint", "pubYear": "2024",
        "pubTypeList": {"pubType": ["preprint"]},
        "bookOrReportDetails": fields["bookOrReportDetails"],
        "commentCorrectionList": {"commentCorrection": [fields["commentCorrection"]]},
        "versionList": fields["versionList"], "versionNumber": fields["versionNumber"],
    }
    rec = parse_result(result)
    assert rec.is_preprint and rec.ppr_id == "PPR838108"
    assert rec.publication_types == ["Preprint"]
    assert rec.journal == "medRxiv"
    assert rec.key == "ppr:PPR838108"
    assert rec.version_links == {
        "published_pmid": "38605817", "preprint_version": "4", "version_1": "PPR707121",
        "version_2": "PPR763329", "version_3": "PPR818756", "version_4": "PPR838108"}
    assert rec.comments_corrections[0].pmid == "38605817"


def test_preprint_of_with_doi_in_reference() -> None:
    result = {"id": "PPR1", "source": "PPR", "title": "t", "commentCorrectionList": {
        "commentCorrection": [{"source": "MED", "id": "41529263", "type": "Preprint of",
                               "reference": "Some J. 2026. doi: 10.1000/XYZ.1."}]}}
    rec = parse_result(result)
    assert rec.version_links["published_pmid"] == "41529263"
    assert rec.version_links["published_doi"] == "10.1000/xyz.1"


def test_nct_ids_from_db_cross_references() -> None:
    # Shape with ids inside dbCrossReferenceList (core usually lists only names) - constructed.
    result = _with(dbCrossReferenceList={"dbName": ["CLINICALTRIALS"], "dbCrossReference": [
        {"dbName": "CLINICALTRIALS", "dbCrossReferenceInfo": [{"info1": "nct02417064"}]}]})
    rec = parse_result(result)
    assert rec.nct_ids == ["NCT01131676", "NCT02417064"]
    assert rec.databanks["CLINICALTRIALS"] == []
    assert rec.databanks["ClinicalTrials.gov"] == ["NCT01131676", "NCT02417064"]


def test_documented_empty_result() -> None:
    body = json.dumps(documented()["empty_result"]["body"]).encode()
    page = parse_search_response(body)
    assert (page.hit_count, page.records, page.next_cursor_mark) == (0, [], None)


def test_documented_envelope_gives_next_cursor() -> None:
    body = dict(documented()["first_page_envelope"]["body"], resultList={"result": []})
    page = parse_search_response(json.dumps(body).encode())
    assert page.hit_count == 767814
    assert page.next_cursor_mark == "AoIIQYG89Cg1MDA4ODY4NQ=="


@pytest.mark.parametrize("body", [
    b'{"errCode": 400, "errMsg": "Invalid query"}',
    b'{"error": "Internal problem"}',
    b'{"version": "6.9", "errors": [{"message": "bad cursorMark"}]}',
])
def test_error_payload_is_source_error(body: bytes) -> None:
    with pytest.raises(SourceError):
        parse_search_response(body)


@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b"<html><body>Service Unavailable</body></html>",
    b"[1, 2]",
    b'{"version": "6.9"}',
    b'{"hitCount": "many", "resultList": {"result": []}}',
    b'{"hitCount": 1, "resultList": "oops"}',
    b'{"hitCount": 1, "resultList": {"result": {"id": "1"}}}',
    b'{"hitCount": 1, "resultList": {"result": ["a string"]}}',
    b"\xff\xfe\x00garbage",
])
def test_malformed_payload_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_search_response(body)


@pytest.mark.parametrize("cut", [10, 100, 5000, -2])
def test_truncated_real_response_is_parse_error(cut: int) -> None:
    with pytest.raises(ParseError):
        parse_search_response(nejm()[:cut])


def test_empty_hit_count_zero_without_result_list() -> None:
    page = parse_search_response(b'{"version": "6.9", "hitCount": 0}')
    assert (page.hit_count, page.records) == (0, [])


def test_page_of_corpus_records() -> None:
    records = corpus_records()[:12]
    body = core_response([core_result(r) for r in records], hit_count=40, cursor="*",
                         next_cursor="AoIIQ-page-2")
    page = parse_search_response(body)
    assert page.hit_count == 40
    assert page.next_cursor_mark == "AoIIQ-page-2"
    assert [r.doi for r in page.records] == [(r["doi"] or "").lower() or None for r in records]


def test_keywords_and_other_sources() -> None:
    # keywordList values of result 38729568 in the recorded COVID-19 response (documented_examples)
    keywords = ["Thyrotoxicosis", "Subacute Thyroiditis", "Covid-19", "Sars-cov-2",
                "Covid-19 Vaccine"]
    rec = parse_result(_with(keywordList={"keyword": keywords}))
    assert rec.keywords == keywords
    pmc = parse_result({"id": "PMC7383595", "source": "PMC", "title": "t"})
    assert (pmc.pmcid, pmc.pmid, pmc.key) == ("PMC7383595", None, "pmcid:PMC7383595")
    agr = parse_result({"id": "IND607549052", "source": "AGR", "title": "Wetland parks"})
    assert agr.key == "src:europepmc:AGR:IND607549052"
    assert not agr.is_preprint
