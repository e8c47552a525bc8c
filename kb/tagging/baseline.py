"""A naive keyword tagger (the lexicon's terms per label), and the lexicon features.

The baseline is what a learned tagger must clearly beat. The same terms are counted as
features of the classifier (:func:`lexicon_features`), which learns how much each is worth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.tagging import lexicon
from kb.tagging.features import Doc, clean_text
from kb.taxonomy import FACETS

_N = len(lexicon.KEYS)
_CONTEXTS = ("title", "abstract", "ket_sentences")
_EXTRA = ("ket_first_sentence", "ket_last_sentences", "ket_sentence_fraction",
          "ket_sentences", "ket_in_title", "n_sentences",
          *(f"share:{lab}" for lab in lexicon.LEXICON["agent"]))
FEATURE_NAMES: tuple[str, ...] = tuple(
    [f"{ctx}:{f}:{lab}" for ctx in _CONTEXTS for f, lab in lexicon.KEYS]
    + [f"relevance:{name}" for name in _EXTRA])


_AGENT = lexicon.AGENT_KEYS


def _agent_hits(counts: Sequence[float]) -> bool:
    return any(counts[k] for k in _AGENT)


def lexicon_features(docs: Sequence[Doc]) -> np.ndarray:
    """Lexicon counts in the title, the abstract (+ keywords), and the sentences that name
    ketamine in any form; plus where in the abstract ketamine is named."""
    out = np.zeros((len(docs), len(FEATURE_NAMES)), dtype=np.float64)
    agent = set(_AGENT)
    for i, doc in enumerate(docs):
        row = out[i]
        title: dict[int, int] = {}
        lexicon.count_tokens(lexicon.tokens(clean_text(doc.title)), title)
        text = clean_text(doc.abstract)
        if doc.keywords:
            text += "\n" + "; ".join(doc.keywords)
        flags = []
        for words in lexicon.sentence_tokens(text):
            counts: dict[int, int] = {}
            lexicon.count_tokens(words, counts)
            has_ket = not agent.isdisjoint(counts)
            flags.append(has_ket)
            for k, v in counts.items():
                row[_N + k] += v
                if has_ket:
                    row[2 * _N + k] += v
        title_ket = not agent.isdisjoint(title)
        for k, v in title.items():
            row[k] = v
            if title_ket:
                row[2 * _N + k] += v
        n_ket = sum(flags)
        forms = [row[k] + row[_N + k] for k in _AGENT]
        total = sum(forms) or 1.0
        row[3 * _N:] = (float(bool(flags and flags[0])), float(any(flags[-2:])),
                        n_ket / len(flags) if flags else 0.0, n_ket, float(title_ket),
                        len(flags), *(f / total for f in forms))
    return out


def _labels_in(counts: Sequence[float], facet: str) -> list[str]:
    return [lab for lab in lexicon.LEXICON[facet]
            if counts[lexicon.KEY_INDEX[(facet, lab)]] > 0]


def baseline_from_features(row: Sequence[float]) -> dict[str, Any]:
    """The keyword tagger's labels from one row of :func:`lexicon_features`.

    Relevance: ketamine named in the title or at least three times -> primary, named at all ->
    secondary, else incidental. Multi-label facets: every label with a term in the text (agent
    and route only when ketamine is relevant). Design: the first label, in the lexicon's
    order, that has a term in the text; ``other`` when none has.
    """
    title = row[:_N]
    counts = [a + b for a, b in zip(title, row[_N:2 * _N], strict=True)]
    mentions = sum(counts[k] for k in _AGENT)
    if _agent_hits(title) or mentions >= 3:
        relevance = "primary"
    elif mentions:
        relevance = "secondary"
    else:
        relevance = "incidental"
    labels: dict[str, Any] = {"relevance": relevance}
    for f in FACETS:
        if f.name == "relevance":
            continue
        hits = _labels_in(counts, f.name)
        if f.multi:
            if f.name in ("agent", "route") and relevance == "incidental":
                hits = []
            if f.name == "agent" and relevance != "incidental" and not hits:
                hits = ["ketamine"]
            labels[f.name] = [lab for lab in f.label_names if lab in hits]
        else:
            labels[f.name] = hits[0] if hits else "other"
    return labels


def baseline_indicators(features: np.ndarray) -> dict[str, np.ndarray]:
    """Per facet, a 0/1 matrix (records x labels) of the baseline's labels."""
    out = {f.name: np.zeros((len(features), len(f.labels)), dtype=np.float32) for f in FACETS}
    for i, row in enumerate(features):
        labels = baseline_from_features(row)
        for f in FACETS:
            value = labels[f.name]
            for j, lab in enumerate(f.label_names):
                out[f.name][i, j] = lab in value if f.multi else lab == value
    return out


def baseline_predict(doc: Doc) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The keyword tagger's labels and 0/1 scores (plus a graded RCT score) for one document."""
    row = lexicon_features([doc])[0]
    labels = baseline_from_features(row)
    scores = {f.name: {lab: float(lab in (labels[f.name] if f.multi else [labels[f.name]]))
                       for lab in f.label_names} for f in FACETS}
    # A graded RCT score, so the baseline gets a real ROC curve rather than one point.
    counts = row[:_N] + row[_N:2 * _N]
    cues = sum(counts[lexicon.KEY_INDEX[k]] > 0 for k in (("design", "rct"), ("cue", "placebo"),
                                                         ("cue", "double_blind"),
                                                         ("cue", "trial")))
    scores["design"]["rct"] = cues / 4.0 if labels["design"] in ("rct", "other") else cues / 8.0
    return labels, scores
