"""Identifier normalisation: examples plus hypothesis round-trip / idempotence properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.ids import (
    find_dois,
    find_nct_ids,
    normalize_doi,
    normalize_nct,
    normalize_pmcid,
    normalize_pmid,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.1056/NEJMoa1504720", "10.1056/nejmoa1504720"),
        ("https://doi.org/10.1056/NEJMoa1504720", "10.1056/nejmoa1504720"),
        ("http://dx.doi.org/10.1056/NEJMoa1504720", "10.1056/nejmoa1504720"),
        ("doi:10.1056/NEJMoa1504720", "10.1056/nejmoa1504720"),
        ("DOI: 10.1056/NEJMoa1504720.", "10.1056/nejmoa1504720"),
        ("  10.1056/nejmoa1504720;\n", "10.1056/nejmoa1504720"),
        ("https://doi.org/10.1000%2Fabc", "10.1000/abc"),
        # brackets that belong to the DOI survive; an unbalanced trailing one does not
        ("10.1016/S0140-6736(25)02381-5", "10.1016/s0140-6736(25)02381-5"),
        ("(doi:10.1016/j.x.2020.01.001)", None),  # leading bracket: not a DOI
        ("10.1016/j.x.2020.01.001)", "10.1016/j.x.2020.01.001"),
        ("10.1002/(SICI)1097-0258(19980815/30)17:15/16<1661::AID-SIM968>3.0.CO;2-2",
         "10.1002/(sici)1097-0258(19980815/30)17:15/16<1661::aid-sim968>3.0.co;2-2"),
        ("", None),
        (None, None),
        ("not a doi", None),
        ("11.1000/abc", None),
    ],
)
def test_normalize_doi(raw: str | None, expected: str | None) -> None:
    assert normalize_doi(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("PMC123", "PMC123"), ("123", "PMC123"), ("pmc123", "PMC123"), (" PMC 7383595 ", "PMC7383595"),
     (123, "PMC123"), ("PMCID: PMC42", "PMC42"), ("PMC", None), ("PMCabc", None), ("0", None),
     ("", None), (None, None)],
)
def test_normalize_pmcid(raw: str | int | None, expected: str | None) -> None:
    assert normalize_pmcid(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("26378978", "26378978"), (26378978, "26378978"), (" PMID: 26378978 ", "26378978"),
     ("0042", "42"), ("0", None), ("12a", None), ("", None), (None, None), (True, None)],
)
def test_normalize_pmid(raw: str | int | None, expected: str | None) -> None:
    assert normalize_pmid(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("NCT01131676", "NCT01131676"), ("nct01131676", "NCT01131676"),
     ("NCT 01131676", "NCT01131676"), ("NCT-01131676", "NCT01131676"),
     ("NCT0113167", None), ("NCT011316761", None), ("ISRCTN12345678", None), ("", None),
     (None, None)],
)
def test_normalize_nct(raw: str | None, expected: str | None) -> None:
    assert normalize_nct(raw) == expected


def test_find_nct_ids_in_real_abstract_text() -> None:
    # Closing sentence of the NEJM EMPA-REG OUTCOME abstract (tests/data/europepmc fixture).
    text = ("(Funded by Boehringer Ingelheim and Eli Lilly; EMPA-REG OUTCOME ClinicalTrials.gov "
            "number, NCT01131676.).")
    assert find_nct_ids(text) == ["NCT01131676"]


def test_find_nct_ids_dedupes_orders_and_rejects_near_misses() -> None:
    text = ("Registered as nct02493868 and NCT02417064; see NCT02493868 again. "
            "Not ids: NCT123456789, XNCT01234567, NCT0123456, NCT 01234567.")
    assert find_nct_ids(text) == ["NCT02493868", "NCT02417064", "NCT01234567"]
    assert find_nct_ids("") == []
    assert find_nct_ids(None) == []


def test_find_dois_in_citation_string() -> None:
    ref = ("Lancet Diabetes Endocrinol. 2015 Dec;3(12):928-9. doi: 10.1016/S2213-8587(15)00424-6")
    assert find_dois(ref) == ["10.1016/s2213-8587(15)00424-6"]
    assert find_dois("no doi here") == []


# ---------------------------------------------------------------- properties

# DOIs are case-insensitive over ASCII only (Unicode case mapping is not reversible).
_doi_suffix = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/()",
    min_size=1, max_size=30,
).filter(lambda s: s[-1].isalnum())
_dois = st.builds(lambda reg, suf: f"10.{reg}/{suf}", st.integers(1000, 99999999), _doi_suffix)


@given(_dois, st.sampled_from(["", "doi:", "https://doi.org/", "http://dx.doi.org/", "DOI: "]),
       st.sampled_from(["", ".", " ", ";", ",\n"]))
def test_doi_decorations_normalise_to_the_bare_doi(doi: str, prefix: str, suffix: str) -> None:
    bare = normalize_doi(doi)
    assert bare is not None
    assert normalize_doi(prefix + doi + suffix) == bare
    assert normalize_doi(prefix + doi.upper() + suffix) == bare


@given(st.text(max_size=60))
def test_normalisers_are_idempotent(value: str) -> None:
    for fn in (normalize_doi, normalize_pmcid, normalize_pmid, normalize_nct):
        once = fn(value)
        if once is not None:
            assert fn(once) == once


@given(st.integers(1, 10**9))
def test_numeric_ids_round_trip(n: int) -> None:
    assert normalize_pmid(str(n)) == str(n)
    assert normalize_pmcid(n) == f"PMC{n}"
    assert normalize_pmcid(normalize_pmcid(str(n))) == f"PMC{n}"


@given(st.integers(0, 99_999_999))
def test_nct_round_trip(n: int) -> None:
    nct = f"NCT{n:08d}"
    assert normalize_nct(nct.lower()) == nct
    assert find_nct_ids(f"trial {nct.lower()}, see also {nct}.") == [nct]


@given(st.lists(st.integers(0, 99_999_999), max_size=6), st.text(alphabet=" ,.;()", max_size=3))
def test_find_nct_ids_is_ordered_and_unique(ns: list[int], sep: str) -> None:
    ids = [f"NCT{n:08d}" for n in ns]
    text = (sep or " ").join(ids)
    expected = list(dict.fromkeys(ids))
    assert find_nct_ids(text) == expected
