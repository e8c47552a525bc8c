"""ClinicalTrials.gov v2 parser on the two real study records, pages and bad input."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from harvester.ctgov.parser import (
    RAW_FORMAT,
    REGISTRY_PUBLICATION_TYPE,
    parse_studies_page,
    parse_study,
    trial_to_record,
)
from harvester.errors import ParseError, SourceError

from .conftest import DATA, real_study, registry_studies, studies_page


def test_nct00517179_real_values() -> None:
    t = parse_study((DATA / "NCT00517179.json").read_bytes())
    assert t.nct_id == "NCT00517179"
    assert t.brief_title == ("Effect of Vardenafil on Blood Pressure in Patients With Erectile "
                             "Dysfunction Who Received Concomitant Doxazosin GITS")
    assert t.official_title is not None
    assert t.official_title.endswith("for the Treatment of Benign Prostatic Hyperplasia")
    assert t.title == t.official_title
    assert t.brief_summary.startswith("The purpose of this study is to investigate the interaction")
    assert t.detailed_description == ""
    assert (t.overall_status, t.why_stopped) == ("COMPLETED", None)
    assert (t.study_type, t.phases) == ("INTERVENTIONAL", ["NA"])
    assert t.conditions == ["Prostatic Hyperplasia", "Impotence"]
    assert [(m.name, m.ui) for m in t.condition_mesh] == [
        ("Erectile Dysfunction", "D007172"), ("Prostatic Hyperplasia", "D011470"),
        ("Hyperplasia", "D006965")]
    assert [(m.name, m.ui) for m in t.intervention_mesh] == [
        ("Vardenafil Dihydrochloride", "D000069058")]
    assert t.keywords == ["Benign Prostatic Hyperplasia (BPH)", "Erectile Dysfunction (ED)"]
    assert [(i.name, i.type) for i in t.interventions] == [("Vardenafil 10mg", "DRUG")]
    assert t.arms == []
    assert (t.enrollment, t.enrollment_type) == (40, "ESTIMATED")
    assert (t.allocation, t.masking, t.primary_purpose) == ("RANDOMIZED", "DOUBLE", "TREATMENT")
    assert [o.kind for o in t.outcomes] == ["primary", "secondary", "secondary"]
    assert t.outcomes[0].measure.startswith("Mean maximal change of the standing systolic")
    assert t.outcomes[0].time_frame == ("From half hour prior to till six hour after "
                                        "administration of the drug (baseline)")
    assert (t.start_date, t.primary_completion_date, t.completion_date) == (
        "2006-04", None, "2007-05")
    assert (t.first_posted, t.last_update_posted) == ("2007-08-16", "2011-06-16")
    assert (t.sponsor, t.collaborators) == ("Hospital Authority, Hong Kong", [])
    assert t.has_results is False
    assert t.reference_pmids == []
    assert t.secondary_ids == ["HARECCTR0500057"]


def test_nct05013879_real_values() -> None:
    t = parse_study((DATA / "NCT05013879.json").read_bytes())
    assert t.nct_id == "NCT05013879"
    assert t.brief_title == "Kinesiotape for Edema After Bilateral Total Knee Arthroplasty"
    assert t.detailed_description.startswith("After being informed about the study")
    assert t.text == f"{t.brief_summary}\n\n{t.detailed_description}"
    assert [(m.name, m.ui) for m in t.condition_mesh] == [("Edema", "D004487")]
    assert t.intervention_mesh == []
    [iv] = t.interventions
    assert (iv.name, iv.type) == ("Kinesio(R)Tape for edema control", "DEVICE")
    assert iv.other_names == ["kinesiotaping or kinesiological taping"]
    assert iv.arm_group_labels == ["Kinesiotape leg plus standard rehabilitation"]
    assert iv.description is not None and iv.description.startswith("Kinesio(R)Tape is an elastic")
    assert [(a.label, a.type, a.interventions) for a in t.arms] == [
        ("Kinesiotape leg plus standard rehabilitation", "EXPERIMENTAL",
         ["Device: Kinesio(R)Tape for edema control"]),
        ("Control leg with standard rehabilitation alone", "NO_INTERVENTION", [])]
    assert (t.enrollment, t.enrollment_type) == (65, "ACTUAL")
    assert (t.allocation, t.masking) == ("RANDOMIZED", "NONE")
    assert [o.kind for o in t.outcomes] == ["primary"] + ["secondary"] * 4
    assert t.outcomes[1].description == ("Patient self-report: Pain rating for each leg on a "
                                         "integer scale of 0 (no pain) to 10 (worst pain "
                                         "imaginable)")
    assert (t.start_date, t.primary_completion_date, t.completion_date) == (
        "2021-10-18", "2023-11-24", "2023-11-24")
    assert (t.first_posted, t.last_update_posted) == ("2021-08-19", "2024-02-23")
    assert t.sponsor == "Montefiore Medical Center"
    assert t.collaborators == ["Burke Rehabilitation Hospital"]
    # 10 references, 8 with a PMID, in order
    assert t.reference_pmids == ["32459670", "24819349", "30208939", "26223312", "30341552",
                                 "23948839", "29075347", "22840304"]
    assert t.secondary_ids == []


def test_raw_round_trip() -> None:
    original = real_study("NCT05013879")
    t = parse_study(json.dumps(original).encode())
    assert t.raw is not None and json.loads(t.raw) == original
    assert parse_study(t.raw) == t


def test_markdown_escapes_are_removed_from_free_text() -> None:
    # The API's default markupFormat=markdown escapes punctuation (the real eligibility text of
    # NCT00517179 reads "IPSS) \\>=8"); a summary written that way is unescaped.
    study = copy.deepcopy(real_study("NCT00517179"))
    study["protocolSection"]["descriptionModule"]["briefSummary"] = (
        "Score \\>=8 and IIEF \\<= 21; 5 \\* 2 \\[sic\\] C:\\\\path")
    t = parse_study(study)
    assert t.brief_summary == "Score >=8 and IIEF <= 21; 5 * 2 [sic] C:\\path"


def test_optional_fields_and_quirks() -> None:
    study = copy.deepcopy(real_study("NCT05013879"))
    ps = study["protocolSection"]
    ps["statusModule"]["overallStatus"] = "TERMINATED"
    ps["statusModule"]["whyStopped"] = "Sponsor decision"
    ps["identificationModule"]["acronym"] = "KT-TKA"
    ps["outcomesModule"]["otherOutcomes"] = [{"measure": "Falls", "timeFrame": "8 days"}]
    ps["designModule"]["enrollmentInfo"] = {"count": "65"}  # wrong type: dropped
    study["hasResults"] = True
    t = parse_study(study)
    assert (t.overall_status, t.why_stopped, t.acronym) == ("TERMINATED", "Sponsor decision",
                                                            "KT-TKA")
    assert t.outcomes[-1].kind == "other" and t.outcomes[-1].measure == "Falls"
    assert t.enrollment is None
    assert t.has_results is True


def test_intervention_browse_quirk_is_not_taken_as_mesh() -> None:
    # NCT00517179's intervention browse leaf says asFound "Premature Infants" (real, untidy);
    # only the meshes list is used.
    t = parse_study(real_study("NCT00517179"))
    assert "Premature Infants" not in [m.name for m in t.intervention_mesh]


def test_studies_page() -> None:
    body = studies_page([real_study("NCT00517179"), real_study("NCT05013879")],
                        next_token="KV165pePlfg", total=2)
    page = parse_studies_page(body)
    assert [t.nct_id for t in page.studies] == ["NCT00517179", "NCT05013879"]
    assert page.next_page_token == "KV165pePlfg"
    assert page.total_count == 2


def test_documented_envelope_and_last_page() -> None:
    doc = json.loads((DATA / "documented_examples.json").read_text("utf-8"))
    page = parse_studies_page(json.dumps(doc["studies_page_envelope"]["body"]).encode())
    assert (page.studies, page.next_page_token, page.total_count) == ([], "KV165pePlfg", None)
    last = parse_studies_page(studies_page(registry_studies()[:2]))
    assert last.next_page_token is None and len(last.studies) == 2


@pytest.mark.parametrize("body", [
    b'{"error": "Bad Request", "message": "unknown parameter query.foo"}',
    b'{"message": "Internal error"}',
])
def test_error_object_is_source_error(body: bytes) -> None:
    with pytest.raises(SourceError):
        parse_studies_page(body)


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"totalCount": 3}', b'{"studies": {"a": 1}}',
    b'{"studies": ["x"]}', b'{"studies": [{"protocolSection": {}}]}',
    b'{"studies": [{"protocolSection": {"identificationModule": {"nctId": "NCT123"}}}]}',
])
def test_malformed_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_studies_page(body)


@pytest.mark.parametrize("cut", [1, 50, 5000, -1])
def test_truncated_real_study_is_parse_error(cut: int) -> None:
    body = studies_page([real_study("NCT05013879")])
    with pytest.raises(ParseError):
        parse_studies_page(body[:cut])


def test_trial_to_record() -> None:
    t = parse_study(real_study("NCT05013879"))
    r = trial_to_record(t)
    assert r.source == "ctgov"
    assert r.key == "nct:NCT05013879"
    assert r.title == "Kinesiotape for Edema After Bilateral Total Knee Arthroplasty"
    assert r.abstract == t.text
    assert [s.category for s in r.abstract_sections] == ["BRIEF_SUMMARY", "DETAILED_DESCRIPTION"]
    assert all(s.label is None for s in r.abstract_sections)
    assert r.nct_ids == ["NCT05013879"]
    assert r.publication_types == [REGISTRY_PUBLICATION_TYPE]
    assert "Clinical Trial Protocol" not in r.publication_types
    assert r.journal == "ClinicalTrials.gov"
    assert (r.pub_year, r.pub_date, r.first_published) == (2021, "2021-08-19", date(2021, 8, 19))
    assert r.date_revised == date(2024, 2, 23)
    assert r.keywords == ["Arthroplasty Complications", "Arthroplasty, Replacement, Knee",
                          "edema", "arthroplasty, knee, bilateral", "kinesiotaping"]
    assert [m.name for m in r.mesh] == ["Edema"]
    assert [a.display for a in r.authors] == ["Montefiore Medical Center"]
    assert r.databanks == {"ClinicalTrials.gov": ["NCT05013879"]}
    assert r.other_ids["source_id"] == "ctgov:NCT05013879"
    assert (r.raw, r.raw_format) == (t.raw, RAW_FORMAT)
    assert not r.is_preprint and not r.is_retracted


def test_trial_to_record_month_precision_and_secondary_ids() -> None:
    t = parse_study(real_study("NCT00517179"))
    t.last_update_posted = "2011-06"
    r = trial_to_record(t)
    assert r.date_revised == date(2011, 6, 1)
    assert r.other_ids["secondary_ids"] == "HARECCTR0500057"
    assert [m.name for m in r.mesh][-1] == "Vardenafil Dihydrochloride"


def test_registry_text_studies_parse() -> None:
    trials = [parse_study(s) for s in registry_studies()]
    assert [t.nct_id for t in trials][:2] == ["NCT00471445", "NCT00472576"]
    assert all(t.brief_summary for t in trials)
    record: Any = trial_to_record(trials[0])
    assert record.title.startswith("Topical Amitriptyline and Ketamine Cream")
