"""Documents to classify, text clean-up, and the feature extractor of the classifier.

A :class:`Doc` is what the tagger sees of a record: title, abstract, keywords, MeSH names,
publication types and (for registered trials) a few registry fields. The feature extractor
turns documents into one sparse matrix: TF-IDF word and character n-grams of the text, the
metadata as tokens, and counts of the keyword lexicon of :mod:`kb.tagging.baseline`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_TAG = re.compile(r"<[^>]{1,200}>")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True)
class Doc:
    """The parts of a record that tagging reads."""

    id: str
    title: str = ""
    abstract: str = ""
    keywords: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    registry: dict[str, Any] = field(default_factory=dict)  # ClinicalTrials.gov fields

    @property
    def text(self) -> str:
        """Title, abstract and keywords as one cleaned string."""
        parts = [clean_text(self.title), clean_text(self.abstract)]
        if self.keywords:
            parts.append("; ".join(clean_text(k) for k in self.keywords))
        return " \n ".join(p for p in parts if p)

    def text_only(self) -> Doc:
        """The same document without metadata (what a record with only text looks like)."""
        return Doc(self.id, self.title, self.abstract, list(self.keywords))


def clean_text(text: str | None) -> str:
    """Plain text: inline HTML tags dropped (their text kept), entities decoded, spaces folded."""
    if not text:
        return ""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(text.split())


def normalise_title(title: str | None) -> str:
    """Lower-case alphanumeric words only: the key used to find the same paper under two ids."""
    return _NON_WORD.sub(" ", clean_text(title).lower()).strip()


def _names(items: Iterable[Any] | None) -> list[str]:
    out: list[str] = []
    for item in items or ():
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("term")
            if name:
                out.append(str(name))
        elif item:
            out.append(str(item))
    return out


REGISTRY_FIELDS = ("phases", "allocation", "study_type", "conditions", "interventions",
                   "primary_purpose", "has_results")


def doc_from_mapping(data: Mapping[str, Any]) -> Doc:
    """A :class:`Doc` from a JSON record (corpus, labelled or ``kb classify`` input line)."""
    registry = {k: data[k] for k in REGISTRY_FIELDS if data.get(k) not in (None, [], "")}
    return Doc(
        id=str(data.get("id") or data.get("key") or ""),
        title=str(data.get("title") or ""),
        abstract=str(data.get("abstract") or ""),
        keywords=_names(data.get("keywords")),
        mesh=_names(data.get("mesh")),
        publication_types=_names(data.get("publication_types")),
        registry=registry,
    )


def metadata_tokens(doc: Doc) -> str:
    """MeSH headings and publication types as one token each (``mesh_double_blind_method``)."""
    toks = ["mesh_" + _NON_WORD.sub("_", m.lower()).strip("_") for m in doc.mesh]
    toks += ["pt_" + _NON_WORD.sub("_", p.lower()).strip("_") for p in doc.publication_types]
    for key in ("phases", "allocation", "study_type"):
        value = doc.registry.get(key)
        values = value if isinstance(value, list) else [value] if value else []
        toks += [f"ct_{key}_" + _NON_WORD.sub("_", str(v).lower()).strip("_") for v in values]
    return " ".join(toks) or "meta_none"


def _identity(text: str) -> list[str]:
    return text.split()


@dataclass(slots=True)
class Blocks:
    """The feature blocks of a batch of documents (rows align with the documents)."""

    word: sp.csr_matrix  # TF-IDF of word 1-2-grams of title + abstract + keywords
    meta: sp.csr_matrix  # binary MeSH / publication type / registry tokens
    lexicon: np.ndarray  # scaled log counts of the lexicon (see kb.tagging.baseline)
    baseline: dict[str, np.ndarray]  # facet -> 0/1 labels of the keyword baseline

    def __len__(self) -> int:
        return int(self.word.shape[0])


class FeatureExtractor:
    """Text, metadata, lexicon and baseline features; ``fit`` learns vocabularies and scales.

    Character n-grams were tried and left out: on ``dev.jsonl`` they added nothing the
    lexicon did not (design accuracy within 0.01) and cut throughput to ~280 records/s.
    """

    def __init__(self, *, max_features: int = 30_000, min_df: int = 2,
                 ngram_max: int = 2) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.ngram_max = ngram_max

    def get_params(self) -> dict[str, Any]:
        return {"max_features": self.max_features, "min_df": self.min_df,
                "ngram_max": self.ngram_max}

    def fit_transform(self, docs: Sequence[Doc]) -> Blocks:
        from kb.tagging.baseline import lexicon_features

        texts = [d.text for d in docs]
        min_df = self.min_df if len(docs) >= 20 else 1
        self.word_ = TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=min_df,
                                     max_df=0.9, max_features=self.max_features,
                                     sublinear_tf=True, strip_accents="unicode",
                                     dtype=np.float32)
        word = self.word_.fit_transform(texts)
        self.meta_ = TfidfVectorizer(tokenizer=_identity, token_pattern=None, lowercase=False,
                                     use_idf=False, norm=None, binary=True, min_df=min_df,
                                     dtype=np.float32)
        meta = self.meta_.fit_transform([metadata_tokens(d) for d in docs])
        raw = lexicon_features(docs)
        self.lexicon_scale_ = np.maximum(np.log1p(raw).max(axis=0), 1.0).astype(np.float32)
        return self._blocks(word, meta, raw)

    def transform(self, docs: Sequence[Doc]) -> Blocks:
        from kb.tagging.baseline import lexicon_features

        word = self.word_.transform([d.text for d in docs])
        meta = self.meta_.transform([metadata_tokens(d) for d in docs])
        return self._blocks(word, meta, lexicon_features(docs))

    def _blocks(self, word: sp.csr_matrix, meta: sp.csr_matrix, raw: np.ndarray) -> Blocks:
        from kb.tagging.baseline import baseline_indicators

        lex = (np.log1p(raw) / self.lexicon_scale_).astype(np.float32)
        return Blocks(word.tocsr(), meta.tocsr(), lex, baseline_indicators(raw))
