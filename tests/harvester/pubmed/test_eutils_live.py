"""EUtilsClient against the real NCBI service: runs only with ``KB_RUN_NETWORK=1``.

``NCBI_API_KEY`` and ``NCBI_EMAIL`` are read when this module is collected (the shared autouse
fixture removes them from the environment before each test runs).
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from harvester.pubmed.eutils import EUtilsClient

RUN = os.environ.get("KB_RUN_NETWORK") == "1"
API_KEY = os.environ.get("NCBI_API_KEY") or None
EMAIL = os.environ.get("NCBI_EMAIL") or "ketamine-kb-tests@example.org"

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not RUN, reason="talks to NCBI E-utilities; set KB_RUN_NETWORK=1 to run"),
]


@pytest.fixture
def client() -> EUtilsClient:
    return EUtilsClient(api_key=API_KEY, email=EMAIL, tool="ketamine-kb-tests")


def test_live_search_and_fetch(client: EUtilsClient) -> None:
    with client:
        # SUSTAIN-1 (PMID 31166571) entered PubMed on 2019-06-06.
        ids = client.search_window("esketamine[tiab] AND relapse[tiab]", date(2019, 6, 1),
                                   date(2019, 6, 30), datetypes=("edat",))
        assert "31166571" in ids
        result = client.efetch(["31166571"])
    assert result.missing == []
    (record,) = result.records
    assert record.pmid == "31166571"
    assert record.doi == "10.1001/jamapsychiatry.2019.1189"
    assert "Esketamine" in record.title


def test_live_unknown_phrase_is_an_empty_result(client: EUtilsClient) -> None:
    with client:
        result = client.esearch("zzqxketaminezzqx[tiab]")
    assert result.count == 0 and result.ids == []
