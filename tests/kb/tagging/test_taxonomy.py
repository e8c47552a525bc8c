"""The taxonomy in code matches ``TAXONOMY.md`` (copied to tests/data) exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb import taxonomy

TAXONOMY_MD = Path(__file__).resolve().parents[2] / "data" / "TAXONOMY.md"


def parse_taxonomy(text: str) -> list[tuple[str, bool, str, list[tuple[str, str]]]]:
    """``[(facet, multi, description, [(label, description)])]`` from the markdown contract."""
    facets: list[tuple[str, bool, str, list[tuple[str, str]]]] = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        m = re.fullmatch(r"(\w+) \((single|multi)\)", head.strip())
        if not m:
            continue
        lines = [ln for ln in body.splitlines() if ln.strip()]
        description = lines[0].strip()
        labels = []
        for ln in lines[1:]:
            lm = re.fullmatch(r"- `(\w+)`(?::\s*(.*))?", ln.strip())
            assert lm, ln
            labels.append((lm.group(1), (lm.group(2) or "").strip()))
        facets.append((m.group(1), m.group(2) == "multi", description, labels))
    return facets


def test_facets_labels_and_order_match_taxonomy_md() -> None:
    parsed = parse_taxonomy(TAXONOMY_MD.read_text(encoding="utf-8"))
    assert [p[0] for p in parsed] == list(taxonomy.FACET_NAMES)
    for (name, multi, description, labels), f in zip(parsed, taxonomy.FACETS, strict=True):
        assert f.name == name
        assert f.multi is multi
        assert f.description == description
        assert list(f.label_names) == [lab for lab, _ in labels]
        assert [lab.description for lab in f.labels] == [d for _, d in labels]


def test_taxonomy_md_is_version_1() -> None:
    first = TAXONOMY_MD.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# Evidence taxonomy, version {taxonomy.TAXONOMY_VERSION}"


def test_normalise_labels_fills_defaults_and_orders() -> None:
    out = taxonomy.normalise_labels({"condition": ["trd", "depression"], "agent": "ketamine"})
    assert out["relevance"] == "incidental"
    assert out["design"] == "other"
    assert out["condition"] == ["depression", "trd"]
    assert out["agent"] == ["ketamine"]
    assert out["route"] == []


@pytest.mark.parametrize("bad", [{"colour": "red"}, {"design": "cohort"},
                                 {"relevance": ["primary", "secondary"]}])
def test_normalise_labels_rejects_unknown(bad: dict[str, object]) -> None:
    with pytest.raises(taxonomy.TaxonomyError):
        taxonomy.normalise_labels(bad)
