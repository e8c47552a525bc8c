"""Streaming, hardened parser for PubMed / MEDLINE XML: bytes in, records out.

Public API: :func:`parse_pubmed_xml` (generator of :class:`~harvester.records.Record` and
:class:`~harvester.records.Deletion`), :func:`parse_pubmed_xml_all` (all or nothing),
:func:`article_pmids` and :func:`count_articles` (what came back, for a client to compare with
the ids it asked for).

Accepted input (bytes or a binary file object; plain or gzip, detected by the magic bytes):

* E-utilities ``efetch`` output and MEDLINE baseline/update files (``PubmedArticleSet`` holding
  ``PubmedArticle``, ``PubmedBookArticle`` and ``DeleteCitation`` elements);
* legacy baseline files such as the 2016 ``MedlineCitationSet`` (``MedlineCitation`` without
  ``PubmedData``);
* a single ``PubmedArticle`` / ``PubmedBookArticle`` / ``MedlineCitation`` document (what
  ``record.raw`` holds).

How it streams: the input is read in 256 KiB chunks.  Each article's bytes are cut out of the
stream (cheap ``bytes.find`` scans; see :class:`_Splitter` for why the cut is exact and when it
stands down) and parsed on their own, while an lxml pull parser checks the document around
them (root element, order, ``DeleteCitation``, truncation), seeing a placeholder per article.
So memory stays flat whatever the file size, and ``record.raw`` is the article's exact source
bytes at no cost.  Where cutting is not certain (comments, CDATA or processing instructions
after the prolog, namespace declarations on the root, odd nesting) the pull parser hands out
the articles itself and ``raw`` is their ``etree.tostring``.  Both paths give the same records.

Security: entities are never resolved, no network, no DTD loading, libxml2's size and depth
limits stay on (``huge_tree=False``), and input is always decoded as UTF-8 (PubMed's
encoding), so the byte-level checks cannot be dodged with UTF-16/UTF-7 tricks.  A ``DOCTYPE``
with an *internal subset* (``<!DOCTYPE x [ ... ]>``, where ``<!ENTITY>`` declarations live)
is refused before libxml2 sees it, and declared entities are refused again after parsing (in
depth).  Real PubMed files only carry an external ``PUBLIC`` reference, which is accepted and
never fetched.  Billion-laughs bombs and external entities (XXE) raise
:class:`~harvester.errors.ParseError`; file contents never reach a record or a message.

Errors: malformed, truncated, hostile, non-UTF-8, namespace-ill-formed (e.g. an undeclared
``mml:`` prefix) or foreign (unexpected root element) input raises
:class:`~harvester.errors.ParseError` and nothing else.  :func:`parse_pubmed_xml` is a
generator: records that came *before* a fault may already have been yielded (a client can
salvage them); :func:`parse_pubmed_xml_all` is all-or-nothing.  Passing ``str`` or a text
stream is a :class:`TypeError` at the call.

Text: inline markup (``<i>``, ``<b>``, ``<sup>``, ``<sub>``, ``<u>``, MathML ...) is kept as
plain text, so nothing is lost: ``r<sup>2</sup>&lt;0.25`` becomes ``"r2<0.25"``, tail text
included.  Superscripts and subscripts are *not* turned into Unicode (``m2``, not ``m²``),
which keeps text searchable (``CO2``, ``VO2max``).  Whitespace-only text inside MathML
(pretty-printing) is dropped; in titles, abstracts, affiliations, keywords and collective names
every run of whitespace (including no-break and thin spaces) becomes one ASCII space; plain-text
fields (names, MeSH terms, ids) are stripped.

Field notes: DOI and other ids come from PubMed's ``ArticleIdList`` first, the publisher's
``ELocationID`` second; ``pmcid`` falls back to ``OtherID Source="NLM"`` (legacy files).
``nct_ids`` are the ``ClinicalTrials.gov`` accessions of ``DataBankList`` (upper case), not
ids mentioned in the abstract.  Authors with ``ValidYN="N"`` are left out; ORCIDs are given as
``0000-0002-1825-0097``.  A chemical ``RegistryNumber`` of ``"0"`` (NLM: none) becomes None.
``pub_date`` is ISO and as precise as the source ("2019", "2019-06", "2019-06-01"); ranges
(``MedlineDate`` "1998 Dec-1999 Jan", ``Season`` "May-Jun") give their first month, and
``pub_date_raw`` keeps PubMed's wording ("2019 Sep 01", "1990 Spring").  Without a usable
``PubDate``, the year comes from ``ArticleDate``, else the ``PubMedPubDate`` "pubmed" date,
which are also ``first_published`` (in that order).  Books: ``is_book``, ``journal`` is the
publisher, ``title`` the chapter (else book) title, authors the chapter's (else the book's;
never editors).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date
from typing import BinaryIO, cast

from lxml import etree

from harvester.errors import ParseError
from harvester.records import (
    AbstractSection,
    Author,
    Chemical,
    CommentCorrection,
    Deletion,
    MeshHeading,
    MeshQualifier,
    Record,
)

__all__ = [
    "RAW_FORMAT",
    "article_pmids",
    "count_articles",
    "parse_pubmed_xml",
    "parse_pubmed_xml_all",
]

RAW_FORMAT = "pubmed-xml"
_SOURCE = "pubmed"
_CHUNK = 256 * 1024
_MAX_PROLOG = 1024 * 1024  # refuse a prolog (XML declaration, comments, DOCTYPE) longer than this
_GZIP_MAGIC = b"\x1f\x8b"
_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"

_ROOTS = frozenset({"PubmedArticleSet", "MedlineCitationSet", "PubmedBookArticleSet"})
_ITEMS = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation", "DeleteCitation")
_ARTICLES = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation")
_PLACEHOLDER = "kb-slice"  # what the document parser sees in place of a cut-out article
_PLACEHOLDER_BYTES = b"<kb-slice/>"
_NAME = re.compile(rb"[A-Za-z_][\w.:-]*")
_AUTHOR_TAGS = ("Author", "LastName", "ForeName", "Initials", "Affiliation", "CollectiveName",
                "Identifier")

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MEDLINE_DATE = re.compile(
    r"(?P<year>\d{4})(?:[ /-]+(?P<month>[A-Za-z]{3})[a-z]*\.?(?:[ ]+(?P<day>\d{1,2})\b)?)?"
)
_ORCID = re.compile(r"(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dXx])")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def parse_pubmed_xml(data: bytes | bytearray | memoryview | BinaryIO, *, raw: bool = True,
                     ) -> Iterator[Record | Deletion]:
    """Yield a :class:`Record` per article and a :class:`Deletion` per ``DeleteCitation``.

    ``data`` is the whole payload (``bytes``) or a binary file object, plain or gzip.  With
    ``raw=True`` each record carries its article element serialised (``etree.tostring``, UTF-8)
    as ``record.raw``; feeding that back to this function gives the same record.
    Raises :class:`ParseError` on any bad input; records before the fault may have been yielded.
    A ``str`` or text stream is a :class:`TypeError`, raised at the call.
    """
    _check_input(data)
    return _parse(data, raw)


def _parse(data: bytes | bytearray | memoryview | BinaryIO, raw: bool, split: bool = True,
           ) -> Iterator[Record | Deletion]:
    try:
        for elem, source in _iter_items(data, _ITEMS, split=split):
            tag = elem.tag
            if tag == "PubmedArticle" or tag == "MedlineCitation":
                rec = _article(elem)
            elif tag == "PubmedBookArticle":
                rec = _book(elem)
            else:
                pmids = [t for p in elem.iterchildren("PMID") if (t := _strip(p.text))]
                yield Deletion(pmids=pmids)
                continue
            if raw:
                rec.raw = source or etree.tostring(elem, encoding="UTF-8",
                                                   xml_declaration=False, with_tail=False)
            yield rec
    except ParseError:
        raise
    except Exception as exc:  # the contract: bad input raises ParseError, never anything else
        raise ParseError(f"invalid PubMed XML: {type(exc).__name__}: {exc}") from exc


def parse_pubmed_xml_all(data: bytes | bytearray | memoryview | BinaryIO, *, raw: bool = True,
                         ) -> list[Record | Deletion]:
    """All-or-nothing :func:`parse_pubmed_xml`: the full list, or :class:`ParseError`."""
    return list(parse_pubmed_xml(data, raw=raw))


def count_articles(data: bytes | bytearray | memoryview | BinaryIO) -> int:
    """Number of articles (``PubmedArticle``, ``PubmedBookArticle``, bare ``MedlineCitation``)."""
    return len(article_pmids(data))


def article_pmids(data: bytes | bytearray | memoryview | BinaryIO) -> list[str]:
    """PMIDs of the articles in the payload, in document order (cheap: no field extraction).

    Lets a client compare what came back with the ids it asked for.  An article without a PMID
    contributes an empty string, so ``len()`` is still the article count.
    """
    _check_input(data)
    pmids: list[str] = []
    try:
        for elem, _ in _iter_items(data, _ARTICLES):
            if elem.tag == "PubmedArticle":
                pmid = elem.findtext("MedlineCitation/PMID")
            elif elem.tag == "PubmedBookArticle":
                pmid = elem.findtext("BookDocument/PMID")
            else:
                pmid = elem.findtext("PMID")
            pmids.append(_strip(pmid) or "")
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"invalid PubMed XML: {type(exc).__name__}: {exc}") from exc
    return pmids


# --------------------------------------------------------------------------------------------
# Streaming core
# --------------------------------------------------------------------------------------------


def _new_parser(tags: tuple[str, ...]) -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("end",),
        tag=tags,
        encoding="utf-8",  # PubMed is UTF-8; never let the document pick another decoder
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        remove_comments=True,
        remove_pis=True,
    )


def _new_item_parser() -> etree.XMLParser:
    return etree.XMLParser(
        encoding="utf-8", resolve_entities=False, no_network=True, huge_tree=False,
        load_dtd=False, dtd_validation=False, attribute_defaults=False, remove_comments=True,
        remove_pis=True)


def _iter_items(data: bytes | bytearray | memoryview | BinaryIO, tags: tuple[str, ...], *,
                split: bool = True) -> Iterator[tuple[etree._Element, bytes | None]]:
    """Yield ``(element, source)`` for each top-level item named in ``tags``, in order.

    Fast path: a :class:`_Splitter` cuts each article's bytes out of the stream; the article is
    parsed on its own (its bytes become ``source``, i.e. ``record.raw`` for free) and the
    document parser only sees a ``<kb-slice/>`` placeholder for it, so it still checks the
    whole document (root, order, deletions, truncation) at little cost.  Wherever cutting is
    not certain to be exact the splitter hands the rest of the stream to the document parser
    unchanged and items come from it (``source`` None).  ``split=False`` forces that path.
    """
    head, read, prolog = _open(data)
    splitter = _Splitter.for_document(head, prolog) if split else None
    parser = _new_parser((*tags, _PLACEHOLDER))
    item_parser = _new_item_parser() if splitter is not None else None
    doctype = prolog[1] if prolog is not None else b""
    pending: deque[bytes] = deque()
    checked = False
    chunk = head
    eof = False
    try:
        while not eof:
            eof = not chunk
            if splitter is None:
                if eof:
                    break
                parser.feed(chunk)
            else:
                pieces = []
                for is_item, piece in splitter.split(chunk, eof):
                    if is_item:
                        pending.append(piece)
                        pieces.append(_PLACEHOLDER_BYTES)
                    else:
                        pieces.append(piece)
                if pieces:
                    parser.feed(b"".join(pieces))
            for _event, obj in parser.read_events():
                elem = cast(etree._Element, obj)
                parent = elem.getparent()
                source = None
                if elem.tag == _PLACEHOLDER:
                    if not pending:
                        continue  # a real <kb-slice> element in the input: not an item
                    source = pending.popleft()
                if parent is not None and (parent.tag not in _ROOTS
                                           or parent.getparent() is not None):
                    continue  # not a top-level item (e.g. PubmedArticle/MedlineCitation)
                if not checked:
                    _check_document(elem.getroottree())
                    checked = True
                if source is None:
                    yield elem, None
                else:
                    try:
                        item = etree.fromstring(source, item_parser)
                    except etree.XMLSyntaxError:
                        if not doctype:
                            raise
                        # Under the document's (external, unloaded) DTD an undeclared entity
                        # is not fatal: give the article the same DOCTYPE and try again.
                        item = etree.fromstring(doctype + source, item_parser)
                    if item.tag not in tags:
                        raise ParseError(f"cut-out item is a <{item.tag}>")  # cannot happen
                    yield item, source
                # Free what we are done with: the item itself and everything before it.
                elem.clear()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            chunk = read(_CHUNK) if not eof else b""
        root = parser.close()
    except etree.LxmlError as exc:
        raise ParseError(f"malformed XML: {exc}") from exc
    if not checked:
        _check_document(root.getroottree())
    if pending:
        raise ParseError("malformed XML: cut-out items left over")  # cannot happen


class _Splitter:
    """Cuts each article's exact bytes out of the (decompressed) stream.

    Exact because, after the prolog, ``<Name`` can only be a start tag (``<`` is escaped in
    text and forbidden in attribute values) unless a comment, CDATA section or processing
    instruction intervenes.  So cutting stops for good, and the rest of the stream goes to the
    document parser as it is, at the first ``<!`` or ``<?`` (in or between articles), at an
    article start tag inside an article, at a literal ``<kb-slice`` between articles, and is
    never used when the root declares namespaces (a cut-out article would lose them) or is not
    a ``...Set`` element.  Everything else (what lies between articles, a truncated last
    article) also goes to the document parser, which judges it.
    """

    def __init__(self, prefix: bytes, names: tuple[bytes, ...]):
        self._prefix = b"<" + prefix  # common start of the article tags
        self._names = names  # the rest of each article tag name
        self._hold = len(self._prefix) + max(len(n) for n in names) + 1
        self._buf = b""
        self._skip = 0  # bytes of prolog at the start of the first chunk: passed on unchecked
        self.cutting = True

    @classmethod
    def for_document(cls, head: bytes, prolog: tuple[int, bytes] | None) -> _Splitter | None:
        if prolog is None:
            return None
        start = prolog[0]
        m = _NAME.match(head, start + 1)
        close = head.find(b">", start)
        if head[start:start + 1] != b"<" or m is None or close < 0 \
                or b"xmlns" in head[start:close]:
            return None
        if m.group() in (b"PubmedArticleSet", b"PubmedBookArticleSet"):
            splitter = cls(b"Pubmed", (b"Article", b"BookArticle"))
        elif m.group() == b"MedlineCitationSet":
            splitter = cls(b"MedlineCitation", (b"",))
        else:
            return None
        splitter._skip = start
        return splitter

    def split(self, chunk: bytes, eof: bool) -> list[tuple[bool, bytes]]:
        """The next pieces: ``(True, article bytes)`` or ``(False, other bytes)``."""
        if not self.cutting:
            return [(False, chunk)] if chunk else []
        buf = self._buf + chunk if self._buf else chunk
        out: list[tuple[bool, bytes]] = []
        pos = 0
        if self._skip:
            out.append((False, buf[:self._skip]))
            pos, self._skip = self._skip, 0
        n = len(buf)
        while True:
            start, name = self._find_start(buf, pos)
            if name is None:  # no (complete) article start tag: pass on what is certain
                end = n if eof else start
                if end > pos and buf[end - 1] == 0x3C and not eof:
                    end -= 1  # keep "<" with what follows it, for the "<!" / "<?" check
                if end > pos:
                    if self._unsafe(buf, pos, end, True):
                        return self._give_up(out, buf, pos)
                    out.append((False, buf[pos:end]))
                    pos = end
                break
            if start > pos and self._unsafe(buf, pos, start, True):
                return self._give_up(out, buf, pos)
            tag_end = _tag_end(buf, start + len(name) + 1)
            if tag_end < 0:  # start tag not complete yet
                if eof:
                    return self._give_up(out, buf, pos)
                break
            if buf[tag_end - 2] == 0x2F:  # "<Name .../>"
                stop = tag_end
            else:
                end_tag = b"</" + name + b">"
                end = buf.find(end_tag, tag_end)
                _, nested_name = self._find_start(buf, tag_end, end if end >= 0 else n)
                if nested_name is not None:
                    return self._give_up(out, buf, pos)
                if end < 0:
                    if eof:
                        return self._give_up(out, buf, pos)
                    break
                stop = end + len(end_tag)
            if self._unsafe(buf, start, stop, False):
                return self._give_up(out, buf, pos)
            if start > pos:
                out.append((False, buf[pos:start]))
            out.append((True, buf[start:stop]))
            pos = stop
        self._buf = buf[pos:]
        return out

    def _give_up(self, out: list[tuple[bool, bytes]], buf: bytes, pos: int,
                 ) -> list[tuple[bool, bytes]]:
        self.cutting = False
        self._buf = b""
        if pos < len(buf):
            out.append((False, buf[pos:]))
        return out

    def _find_start(self, buf: bytes, pos: int, stop: int | None = None,
                    ) -> tuple[int, bytes | None]:
        """``(offset, name)`` of the first article start tag in ``buf[pos:stop]``; ``name`` is
        None when there is none, ``offset`` then being where undecided bytes begin."""
        prefix = self._prefix
        n = len(buf) if stop is None else stop
        while True:
            i = buf.find(prefix, pos, n)
            if i < 0:
                return max(n - self._hold, pos), None
            j = i + len(prefix)
            for rest in self._names:
                k = j + len(rest)
                if k >= len(buf):
                    return i, None  # cannot tell yet
                if buf.startswith(rest, j) and buf[k] in b" \t\r\n/>":
                    return i, prefix[1:] + rest
            pos = j  # e.g. <PubmedArticleSet>, <PubmedData>

    @staticmethod
    def _unsafe(buf: bytes, a: int, b: int, between: bool) -> bool:
        """Whether ``buf[a:b]`` holds ``<!`` or ``<?`` (or, between articles, ``<kb-slice``)."""
        for mark in (0x21, 0x3F):  # "!", "?": rare in PubMed text, so find() is fast
            i = buf.find(mark, a, b)
            while i >= 0:
                if i and buf[i - 1] == 0x3C:
                    return True
                i = buf.find(mark, i + 1, b)
        return between and buf.find(b"<" + _PLACEHOLDER.encode(), a, b) >= 0


def _tag_end(buf: bytes, i: int) -> int:
    """Offset just past the ``>`` closing the start tag whose attributes begin at ``i``."""
    close = buf.find(b">", i)
    if close < 0:
        return -1
    if buf.find(b'"', i, close) < 0 and buf.find(b"'", i, close) < 0:
        return close + 1
    n = len(buf)
    while i < n:  # attribute values may hold ">"
        c = buf[i]
        if c == 0x22 or c == 0x27:
            j = buf.find(buf[i:i + 1], i + 1)
            if j < 0:
                return -1
            i = j + 1
        elif c == 0x3E:
            return i + 1
        else:
            i += 1
    return -1


def _check_document(tree: etree._ElementTree) -> None:
    """Refuse foreign documents and (defence in depth) any declared entity."""
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.entities()):  # type: ignore[attr-defined]
        raise ParseError("refused: the document declares entities")
    root = tree.getroot()
    if root is None or (root.tag not in _ROOTS and root.tag not in _ARTICLES):
        tag = None if root is None else root.tag
        raise ParseError(f"not PubMed XML: unexpected root element <{tag}>")


def _open(data: bytes | bytearray | memoryview | BinaryIO,
          ) -> tuple[bytes, Callable[[int], bytes], tuple[int, bytes] | None]:
    """``(head, read, prolog)``: the decompressed start of the document, holding the whole
    prolog (vetted: see :func:`_prolog_end`), a reader for the rest, and where the root
    element starts in ``head`` with the DOCTYPE declaration (None: prolog unfinished)."""
    read = _reader(data)
    head = read(_CHUNK)
    if not isinstance(head, bytes):
        raise TypeError("parse_pubmed_xml needs bytes or a binary file object")
    if head[:2] == _GZIP_MAGIC:
        read = _gunzip_reader(head, read)
        head = read(_CHUNK)
    while True:
        prolog = _prolog_end(head)
        if prolog is not None and head.find(b">", prolog[0]) >= 0:
            return head, read, prolog  # the prolog and the root's start tag are all here
        more = read(_CHUNK)
        if not more:
            return head, read, None  # truncated inside the prolog: libxml2 will say so
        if len(head) > _MAX_PROLOG:
            raise ParseError("refused: XML prolog too long")
        head += more


def _check_input(data: object) -> None:
    if isinstance(data, bytes | bytearray | memoryview):
        return
    if not hasattr(data, "read") or isinstance(data, io.TextIOBase):
        raise TypeError(f"PubMed XML must be bytes or a binary file object, not {type(data)!r}")


def _reader(data: bytes | bytearray | memoryview | BinaryIO) -> Callable[[int], bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        pos = 0

        def read(n: int) -> bytes:
            nonlocal pos
            out = bytes(view[pos:pos + n])
            pos += len(out)
            return out

        return read
    if hasattr(data, "read"):
        stream_read = data.read

        def read_some(n: int) -> bytes:
            """At least a quarter of ``n`` bytes unless at the end: a pipe that trickles
            must not turn buffering into quadratic work."""
            out = stream_read(n)
            if not out or len(out) >= n // 4:
                return out
            parts = [out]
            size = len(out)
            while size < n // 4:
                more = stream_read(n - size)
                if not more:
                    break
                parts.append(more)
                size += len(more)
            return b"".join(parts)

        return read_some
    raise TypeError(f"parse_pubmed_xml needs bytes or a binary file object, not {type(data)!r}")


class _Prepended(io.RawIOBase):
    """A read-only stream: ``head`` followed by whatever ``read`` returns."""

    def __init__(self, head: bytes, read: Callable[[int], bytes]):
        self._head = head
        self._read = read

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(b)
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
        else:
            out = self._read(n)
        b[: len(out)] = out
        return len(out)


def _gunzip_reader(head: bytes, read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    stream = gzip.GzipFile(fileobj=io.BufferedReader(_Prepended(head, read)), mode="rb")

    def gread(n: int) -> bytes:
        try:
            return stream.read(n)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise ParseError(f"bad gzip stream: {exc}") from exc

    return gread


def _prolog_end(head: bytes) -> tuple[int, bytes] | None:
    """``(offset where the prolog ends, the DOCTYPE declaration or b"")``, or None if ``head``
    stops inside the prolog.

    Raises :class:`ParseError` for a DOCTYPE with an internal subset (entity declarations).
    Anything unexpected is left for libxml2 to judge: this only has to be conservative.
    """
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    n = len(head)
    doctype = b""
    while True:
        while pos < n and head[pos] in b" \t\r\n":
            pos += 1
        if pos >= n:
            return None
        rest = head[pos:pos + 9]
        if len(rest) < 9 and any(t.startswith(rest) for t in (b"<?", b"<!--", b"<!DOCTYPE")):
            return None  # cannot tell which construct this is yet
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos + 2)
            if end < 0:
                return None
            pos = end + 2
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos + 4)
            if end < 0:
                return None
            pos = end + 3
        elif head.startswith(b"<!", pos):
            if not head.startswith(b"<!DOCTYPE", pos):
                return pos, doctype  # not a prolog construct; libxml2 will judge it
            i = pos + 9
            while True:
                if i >= n:
                    return None
                c = head[i]
                if c in b"\"'":
                    end = head.find(head[i:i + 1], i + 1)
                    if end < 0:
                        return None
                    i = end + 1
                elif c == 0x5B:  # "["
                    raise ParseError(
                        "refused: DOCTYPE with an internal subset (entity declarations)")
                elif c == 0x3E:  # ">"
                    doctype = doctype or head[pos:i + 1]
                    pos = i + 1
                    break
                else:
                    i += 1
        else:
            return pos, doctype


# --------------------------------------------------------------------------------------------
# Field extraction (hot path: direct child loops, no ElementPath, one pass per element)
# --------------------------------------------------------------------------------------------


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _norm(t: str) -> str:
    """Runs of whitespace (any Unicode space, tab, newline) -> one space; ends stripped."""
    if t.isprintable() and "  " not in t and t[:1] != " " and t[-1:] != " ":
        return t  # already normal (the common case): skip the split/join
    return " ".join(t.split())


def _text(el: etree._Element) -> str:
    """All text of ``el`` (inline markup kept as text), whitespace normalised."""
    if len(el):
        if next(el.iter("{*}math"), None) is None:
            return _norm("".join(cast("Iterator[str]", el.itertext())))
        parts: list[str] = []
        _collect(el, parts, False)
        return _norm("".join(parts))
    t = el.text
    return _norm(t) if t else ""


def _leaf(el: etree._Element) -> str | None:
    """Text of a plain-text (``#PCDATA``) element, stripped; markup, if any, kept as text."""
    if len(el):
        return _text(el) or None
    t = el.text
    if t is None:
        return None
    return t.strip() or None


def _collect(el: etree._Element, parts: list[str], in_math: bool) -> None:
    """Text of a subtree holding MathML, minus MathML's pretty-printing whitespace."""
    tag = el.tag
    if isinstance(tag, str) and (tag == "math" or tag.startswith(_MATHML_NS)):
        in_math = True
    t = el.text
    if t and not (in_math and t.isspace()):
        parts.append(t)
    for child in el:
        if isinstance(child.tag, str):
            _collect(child, parts, in_math)
        tail = child.tail
        if tail and not (in_math and tail.isspace()):
            parts.append(tail)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and value.isascii() else None


def _month(value: str | None) -> int | None:
    """``"06"``, ``"6"``, ``"Jun"``, ``"June"``, ``"May-Jun"`` (first month) -> month number."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        m = int(value)
        return m if 1 <= m <= 12 else None
    return _MONTHS.get(value[:3].lower())


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _iso(year: int | None, month: int | None = None, day: int | None = None) -> str | None:
    if year is None:
        return None
    if month is None:
        return f"{year:04d}"
    if day is None or not _valid(year, month, day):
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _date(el: etree._Element | None) -> date | None:
    """A complete ``Year``/``Month``/``Day`` element as a date, else None."""
    if el is None:
        return None
    y = m = d = None
    for c in el:
        tag = c.tag
        if tag == "Year":
            y = _int(c.text)
        elif tag == "Month":
            m = _month(c.text)
        elif tag == "Day":
            d = _int(c.text)
    if y is None or m is None or d is None or not _valid(y, m, d):
        return None
    return date(y, m, d)


def _pub_date(el: etree._Element | None) -> tuple[int | None, str | None, str | None]:
    """``(pub_year, pub_date, pub_date_raw)`` from a ``PubDate`` element.

    ``pub_date`` is ISO and as precise as the source; a range (``MedlineDate`` "1998 Dec-1999
    Jan", ``Season`` "May-Jun") gives its first month.  ``pub_date_raw`` is the date as PubMed
    writes it ("2019 Sep 01", "1990 Spring", "1998 Dec-1999 Jan").
    """
    if el is None:
        return None, None, None
    year_t = month_t = day_t = season = medline = None
    for c in el:
        tag = c.tag
        if tag == "Year":
            year_t = c.text
        elif tag == "Month":
            month_t = c.text
        elif tag == "Day":
            day_t = c.text
        elif tag == "Season":
            season = c.text
        elif tag == "MedlineDate":
            medline = c.text
    if medline is not None and year_t is None:
        raw = " ".join(medline.split())
        found = _MEDLINE_DATE.search(raw)
        if found is None:
            return None, None, raw or None
        year = int(found.group("year"))
        month = _MONTHS.get((found.group("month") or "").lower())
        day = _int(found.group("day")) if month else None
        return year, _iso(year, month, day), raw
    text = " ".join(" ".join(p.split()) for p in (year_t, month_t or season, day_t)
                    if p and not p.isspace())
    y = _int(year_t)
    mo = _month(month_t or season) if y is not None else None  # Season "May-Jun" -> May
    d = _int(day_t) if mo is not None else None
    return y, _iso(y, mo, d), text or None


def _orcid(value: str) -> str:
    """Bare ``0000-0002-1825-0097`` form of an ORCID given as URL, with or without hyphens."""
    m = _ORCID.search(value)
    if m:
        return "-".join(m.groups()).upper()
    value = value.strip()
    for prefix in ("https://orcid.org/", "http://orcid.org/", "orcid.org/"):
        if value.lower().startswith(prefix):
            return value[len(prefix):]
    return value


def _authors(author_list: etree._Element) -> list[Author]:
    """Authors in order; one flat C-level walk over the fields (the hottest loop here)."""
    authors: list[Author] = []
    last = fore = initials = collective = orcid = None
    affs: list[str] = []
    valid = False
    for c in author_list.iter(*_AUTHOR_TAGS):
        tag = c.tag
        if tag == "Author":
            if valid:
                authors.append(Author(last, fore, initials, collective, affs, orcid))
            last = fore = initials = collective = orcid = None
            affs = []
            # NLM keeps invalid (corrected-away) names with ValidYN="N"; PubMed hides them.
            valid = c.get("ValidYN") != "N"
            continue
        t: str | None = _text(c) if len(c) else c.text
        if not t:
            continue
        if tag == "LastName":
            last = t.strip() or None
        elif tag == "ForeName":
            fore = t.strip() or None
        elif tag == "Initials":
            initials = t.strip() or None
        elif tag == "Affiliation":  # AffiliationInfo/Affiliation (or pre-2014 Author/Affiliation)
            t = _norm(t)
            if t:
                affs.append(t)
        elif tag == "CollectiveName":
            collective = _norm(t) or None
        elif orcid is None and (c.get("Source") or "").upper() == "ORCID":  # Identifier
            orcid = _orcid(t)
    if valid:
        authors.append(Author(last, fore, initials, collective, affs, orcid))
    return authors


def _abstract(abstract: etree._Element, rec: Record) -> None:
    sections: list[AbstractSection] = []
    paragraphs: list[str] = []
    for at in abstract.iterchildren("AbstractText"):
        text = _text(at)
        label = at.get("Label")
        if label is not None:
            label = label.strip() or None
        category = at.get("NlmCategory")
        category = category.strip() or None if category else None
        sections.append(AbstractSection(text, label, category))
        if label:
            paragraphs.append(f"{label}: {text}" if text else f"{label}:")
        elif text:
            paragraphs.append(text)
    rec.abstract_sections = sections
    rec.abstract = "\n\n".join(paragraphs)


def _mesh(mesh_list: etree._Element) -> list[MeshHeading]:
    headings: list[MeshHeading] = []
    for mh in mesh_list.iterchildren("MeshHeading"):
        heading = None
        qualifiers: list[MeshQualifier] = []
        for c in mh:
            tag = c.tag
            if tag == "QualifierName":
                qualifiers.append(
                    MeshQualifier(_leaf(c) or "", c.get("UI"), c.get("MajorTopicYN") == "Y"))
            elif tag == "DescriptorName":
                heading = MeshHeading(_leaf(c) or "", c.get("UI"), c.get("MajorTopicYN") == "Y")
        if heading is not None:
            heading.qualifiers = qualifiers
            headings.append(heading)
    return headings


def _chemicals(chem_list: etree._Element) -> list[Chemical]:
    out: list[Chemical] = []
    for ch in chem_list.iterchildren("Chemical"):
        name = ""
        ui = reg = None
        for c in ch:
            tag = c.tag
            if tag == "NameOfSubstance":
                name = _leaf(c) or ""
                ui = c.get("UI")
            elif tag == "RegistryNumber":
                reg = _strip(c.text)
        out.append(Chemical(name, ui, None if reg == "0" else reg))  # NLM: "0" = no number
    return out


def _databanks(db_list: etree._Element, rec: Record) -> None:
    for db in db_list.iterchildren("DataBank"):
        name = ""
        accs: list[str] = []
        for c in db:
            if c.tag == "DataBankName":
                name = _strip(c.text) or ""
            elif c.tag == "AccessionNumberList":
                accs.extend(a for x in c.iterchildren("AccessionNumber") if (a := _strip(x.text)))
        rec.databanks.setdefault(name, []).extend(accs)
        if name.lower() == "clinicaltrials.gov":
            for acc in accs:
                nct = "".join(acc.split()).upper()
                if nct not in rec.nct_ids:
                    rec.nct_ids.append(nct)


def _keywords(kw_list: etree._Element, rec: Record) -> None:
    keywords = rec.keywords
    for kw in kw_list.iterchildren("Keyword"):
        t = _text(kw)
        if t and t not in keywords:
            keywords.append(t)


def _comments(cc_list: etree._Element) -> list[CommentCorrection]:
    out: list[CommentCorrection] = []
    for cc in cc_list.iterchildren("CommentsCorrections"):
        pmid = source = None
        for c in cc:
            t = _text(c) if len(c) else c.text
            if t:
                tag = c.tag
                if tag == "RefSource":
                    source = t.strip() or None
                elif tag == "PMID":
                    pmid = t.strip() or None
        out.append(CommentCorrection(cc.get("RefType") or "", pmid, source))
    return out


def _article_ids(id_list: etree._Element, rec: Record) -> None:
    for aid in id_list.iterchildren("ArticleId"):
        value = _strip(aid.text)
        if not value:
            continue
        kind = aid.get("IdType") or ""
        if kind == "doi":
            rec.doi = rec.doi or value
        elif kind == "pmc":
            rec.pmcid = rec.pmcid or value.upper()
        elif kind == "pubmed":
            rec.pmid = rec.pmid or value
        else:
            rec.other_ids.setdefault(kind, value)


def _pubmed_data(pd: etree._Element, rec: Record) -> date | None:
    """``ArticleIdList`` ids into ``rec``; returns the PubMed (``PubStatus="pubmed"``) date."""
    pubmed_date = None
    for c in pd:
        if c.tag == "ArticleIdList":
            _article_ids(c, rec)
        elif c.tag == "History":
            for d in c.iterchildren("PubMedPubDate"):
                if d.get("PubStatus") == "pubmed":
                    pubmed_date = _date(d)
                    break
    return pubmed_date


def _pmid(el: etree._Element, rec: Record) -> None:
    rec.pmid = _strip(el.text)
    rec.pmid_version = _int(el.get("Version"))


def _article(item: etree._Element) -> Record:
    """A ``PubmedArticle``, or a bare ``MedlineCitation`` (legacy baseline files)."""
    rec = Record(source=_SOURCE, raw_format=RAW_FORMAT)
    if item.tag == "MedlineCitation":
        mc: etree._Element | None = item
        pd = None
    else:
        mc = pd = None
        for c in item:
            if c.tag == "MedlineCitation":
                mc = c
            elif c.tag == "PubmedData":
                pd = c
    if mc is None:
        raise ParseError("PubmedArticle without MedlineCitation")
    article = None
    for c in mc:
        tag = c.tag
        if tag == "Article":
            article = c
        elif tag == "PMID":
            _pmid(c, rec)
        elif tag == "MeshHeadingList":
            rec.mesh = _mesh(c)
        elif tag == "CommentsCorrectionsList":
            rec.comments_corrections = _comments(c)
        elif tag == "ChemicalList":
            rec.chemicals = _chemicals(c)
        elif tag == "KeywordList":
            _keywords(c, rec)
        elif tag == "DateRevised":
            rec.date_revised = _date(c)
        elif tag == "OtherID":
            value = c.text
            if value and c.get("Source") == "NLM" and value.lstrip()[:3].upper() == "PMC":
                rec.pmcid = rec.pmcid or value.split()[0].upper()  # "PMC4688250 [Available on ...]"
    elocation_doi = None
    elocation_ids: dict[str, str] = {}
    article_date = None
    if article is not None:
        for c in article:
            tag = c.tag
            if tag == "AuthorList":
                rec.authors = _authors(c)
            elif tag == "Abstract":
                _abstract(c, rec)
            elif tag == "ArticleTitle":
                rec.title = _text(c)
            elif tag == "Journal":
                for j in c:
                    jtag = j.tag
                    if jtag == "Title":
                        rec.journal = _strip(j.text)
                    elif jtag == "ISOAbbreviation":
                        rec.journal_iso = _strip(j.text)
                    elif jtag == "JournalIssue":
                        for pdate in j.iterchildren("PubDate"):
                            rec.pub_year, rec.pub_date, rec.pub_date_raw = _pub_date(pdate)
            elif tag == "ELocationID":
                value = _strip(c.text)
                if value and c.get("ValidYN") != "N":
                    kind = c.get("EIdType") or ""
                    if kind == "doi":
                        elocation_doi = elocation_doi or value
                    else:
                        elocation_ids.setdefault(kind, value)
            elif tag == "Language":
                lang = _strip(c.text)
                if lang:
                    rec.language.append(lang)
            elif tag == "PublicationTypeList":
                rec.publication_types = [t for p in c.iterchildren("PublicationType")
                                         if (t := _leaf(p))]
            elif tag == "DataBankList":
                _databanks(c, rec)
            elif tag == "ArticleDate":
                article_date = article_date or _date(c)
    pubmed_date = None
    if pd is not None:
        pmid = rec.pmid
        pubmed_date = _pubmed_data(pd, rec)
        rec.pmid = pmid or rec.pmid
    # PubMed's own ArticleIdList beats the publisher-supplied ELocationID.
    rec.doi = rec.doi or elocation_doi
    for kind, value in elocation_ids.items():
        rec.other_ids.setdefault(kind, value)
    _finish_dates(rec, article_date, pubmed_date)
    return rec


def _finish_dates(rec: Record, article_date: date | None, pubmed_date: date | None) -> None:
    rec.first_published = article_date or pubmed_date
    if rec.pub_year is None:
        fallback = article_date or pubmed_date
        if fallback is not None:
            rec.pub_year = fallback.year
            rec.pub_date = rec.pub_date or fallback.isoformat()


def _book(item: etree._Element) -> Record:
    """A ``PubmedBookArticle`` (NCBI Bookshelf chapter or whole book)."""
    rec = Record(source=_SOURCE, raw_format=RAW_FORMAT, is_book=True)
    doc = data = None
    for c in item:
        if c.tag == "BookDocument":
            doc = c
        elif c.tag == "PubmedBookData":
            data = c
    if doc is None:
        raise ParseError("PubmedBookArticle without BookDocument")
    book_title = ""
    authors: list[Author] | None = None
    book_authors: list[Author] = []
    for c in doc:
        tag = c.tag
        if tag == "PMID":
            _pmid(c, rec)
        elif tag == "ArticleIdList":
            _article_ids(c, rec)
        elif tag == "Book":
            for b in c:
                btag = b.tag
                if btag == "Publisher":
                    for pub in b.iterchildren("PublisherName"):
                        rec.journal = _text(pub) or None
                elif btag == "BookTitle":
                    book_title = _text(b)
                elif btag == "PubDate":
                    rec.pub_year, rec.pub_date, rec.pub_date_raw = _pub_date(b)
                elif btag == "AuthorList" and b.get("Type") in (None, "authors"):
                    book_authors = _authors(b)  # editors (Type="editors") are not authors
                elif (btag == "ELocationID" and b.get("EIdType") == "doi"
                      and b.get("ValidYN") != "N"):
                    rec.doi = rec.doi or _strip(b.text)
        elif tag == "ArticleTitle":
            rec.title = _text(c)
        elif tag == "AuthorList":
            if c.get("Type") in (None, "authors"):
                authors = _authors(c)
        elif tag == "Abstract":
            _abstract(c, rec)
        elif tag == "PublicationType":
            t = _text(c)
            if t:
                rec.publication_types.append(t)
        elif tag == "Language":
            lang = _strip(c.text)
            if lang:
                rec.language.append(lang)
        elif tag == "KeywordList":
            _keywords(c, rec)
        elif tag == "DateRevised":
            rec.date_revised = _date(c)
        elif tag == "ELocationID" and c.get("EIdType") == "doi" and c.get("ValidYN") != "N":
            rec.doi = rec.doi or _strip(c.text)
    rec.title = rec.title or book_title
    rec.authors = book_authors if authors is None else authors  # chapter authors win
    pubmed_date = None
    if data is not None:
        pmid = rec.pmid
        pubmed_date = _pubmed_data(data, rec)
        rec.pmid = pmid or rec.pmid
    _finish_dates(rec, None, pubmed_date)
    return rec
