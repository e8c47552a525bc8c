"""Training data, training, and honest (cross-validated) evaluation of the tagger.

Training examples come from three places:

- **gold**: hand-labelled records in the labelled format of ``TAXONOMY.md`` (the package ships
  ``training_data/gold.jsonl``, a copy of ``../shared/labels/dev.jsonl``); weight 1.
- **weak**: corpus records whose metadata or text states some facets (``weak_targets``):
  the design given by publication types, and relevance ``incidental`` with no agent and no
  route when the text never names ketamine. Only the facets so stated are used; weight
  ``WEAK_WEIGHT``. Records that are also gold records (same id or same normalised title) are
  dropped, so a gold record never leaks into training under another id.
- **human**: corrections made in the knowledge base (``kb tag set`` or the dashboard); the
  effective labels of every corrected facet, weight 1.

Cross-validation splits the gold records into K folds; each fold's model is trained on the
other gold folds plus the weak and human examples (minus any that duplicate a test record)
and tested on the held-out fold from its text alone (title + abstract; no metadata, no labels).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from kb.tagging.baseline import baseline_predict
from kb.tagging.combine import combine_labels
from kb.tagging.evaluate import evaluate
from kb.tagging.features import Doc, doc_from_mapping, normalise_title
from kb.tagging.lexicon import normalise
from kb.tagging.metadata import confident_metadata_labels, metadata_labels
from kb.tagging.model import TaggerModel, base_metadata
from kb.taxonomy import TaxonomyError, normalise_labels

log = logging.getLogger(__name__)

PACKAGE_GOLD = Path(__file__).resolve().parent / "training_data" / "gold.jsonl"
CORPUS_ENV = "KB_CORPUS_DIR"
DEFAULT_CORPUS_DIRS = ("../shared/corpus/records",)
# Corpus files read for weak labels, and how many records of each at most.
WEAK_SOURCES: dict[str, int] = {"ketamine_europepmc.jsonl": 100_000,
                                "cohen2006_medline.jsonl": 300,
                                "bc5cdr_ketamine.jsonl": 100}
WEAK_WEIGHT = 0.3


@dataclass(slots=True)
class Example:
    """One training document, the facets known for it, and how much it counts."""

    doc: Doc
    targets: dict[str, Any]
    weight: float = 1.0
    kind: str = "gold"  # gold | weak | human

    @property
    def key(self) -> str:
        return self.doc.id


class TrainingDataError(RuntimeError):
    """Training data is missing or malformed."""


# ---- loading ---------------------------------------------------------------------------------
def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TrainingDataError(f"{path}:{n}: not JSON ({exc.msg})") from exc


def load_gold(path: str | Path = PACKAGE_GOLD) -> list[Example]:
    """Labelled records (the format of ``TAXONOMY.md``); labels are validated."""
    out = []
    for n, rec in enumerate(read_jsonl(path), 1):
        if "labels" not in rec:
            raise TrainingDataError(f"{path}:{n}: no 'labels'")
        try:
            labels = normalise_labels(rec["labels"])
        except TaxonomyError as exc:
            raise TrainingDataError(f"{path}:{n}: {exc}") from exc
        out.append(Example(doc_from_mapping(rec), labels, 1.0, "gold"))
    return out


def find_corpus_dir(explicit: str | Path | None = None) -> Path | None:
    """The corpus directory: ``explicit``, else ``$KB_CORPUS_DIR``, else the first of
    ``DEFAULT_CORPUS_DIRS`` (relative to the working directory or the repository) that
    exists; ``None`` when the one asked for does not exist."""
    asked = explicit or os.environ.get(CORPUS_ENV)
    candidates = [asked] if asked else list(DEFAULT_CORPUS_DIRS)
    repo = Path(__file__).resolve().parents[2]
    for c in candidates:
        path = Path(c)
        for p in ([path] if path.is_absolute() else [Path.cwd() / path, repo / path]):
            if p.is_dir():
                return p.resolve()
    return None


_KETAMINE_WORD = "ketamin"


def weak_targets(record: Mapping[str, Any]) -> dict[str, Any]:
    """The facets a corpus record's metadata or text states (may be empty)."""
    out: dict[str, Any] = {}
    meta = metadata_labels(record)
    if "design" in meta:
        out["design"] = meta["design"][0]
    text = normalise(f"{record.get('title') or ''} {record.get('abstract') or ''}")
    mesh = " ".join(str(m.get("name") if isinstance(m, Mapping) else m)
                    for m in record.get("mesh") or []).lower()
    if _KETAMINE_WORD not in text and _KETAMINE_WORD not in mesh:
        out.update({"relevance": "incidental", "agent": [], "route": []})
    return out


def load_weak(corpus_dir: str | Path, exclude: Iterable[Doc] = (),
              sources: Mapping[str, int] | None = None, seed: int = 0) -> list[Example]:
    """Weak examples from the corpus, without any record that duplicates ``exclude``."""
    corpus = Path(corpus_dir)
    ids = {d.id for d in exclude}
    titles = {normalise_title(d.title) for d in exclude}
    rng = random.Random(seed)
    out: list[Example] = []
    for name, cap in (sources or WEAK_SOURCES).items():
        path = corpus / name
        if not path.is_file():
            raise TrainingDataError(f"corpus file missing: {path}")
        records = list(read_jsonl(path))
        rng.shuffle(records)
        taken = 0
        for rec in records:
            if taken >= cap:
                break
            title = normalise_title(rec.get("title"))
            if rec.get("id") in ids or not title or title in titles:
                continue
            targets = weak_targets(rec)
            if not targets:
                continue
            ids.add(str(rec.get("id")))
            titles.add(title)
            out.append(Example(doc_from_mapping(rec), targets, WEAK_WEIGHT, "weak"))
            taken += 1
    return out


# ---- training --------------------------------------------------------------------------------
def data_hash(examples: Sequence[Example]) -> str:
    """SHA-256 over ids, targets, weights and texts of the training examples."""
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: (e.kind, e.key)):
        h.update(json.dumps([ex.kind, ex.key, ex.targets, ex.weight], sort_keys=True).encode())
        h.update(hashlib.sha256(ex.doc.text.encode()).digest())
        h.update(" ".join(ex.doc.publication_types + ex.doc.mesh).encode())
    return h.hexdigest()


def with_metadata_dropout(examples: Sequence[Example]) -> list[Example]:
    """Teach the model to tag records with and without metadata (MeSH, publication types,
    registry fields): a gold or human example with metadata appears twice, with and without
    it, at half weight each; every other weak example with metadata loses it (by a stable
    hash of its id), so the set does not grow."""
    out: list[Example] = []
    for e in examples:
        d = e.doc
        if not (d.mesh or d.publication_types or d.registry):
            out.append(e)
        elif e.kind != "weak":
            out.append(Example(d, e.targets, e.weight / 2, e.kind))
            out.append(Example(d.text_only(), e.targets, e.weight / 2, e.kind))
        elif hashlib.sha256(d.id.encode()).digest()[0] % 2:
            out.append(Example(d.text_only(), e.targets, e.weight, e.kind))
        else:
            out.append(e)
    return out


def fit_model(examples: Sequence[Example], model: TaggerModel | None = None, *,
              metadata_dropout: bool = True) -> TaggerModel:
    """Fit ``model`` (default parameters when ``None``) on ``examples``."""
    model = model or TaggerModel()
    if metadata_dropout:
        examples = with_metadata_dropout(examples)
    model.fit([e.doc for e in examples], [e.targets for e in examples],
              weights=[e.weight for e in examples],
              calibrate_on=[e.kind != "weak" for e in examples])
    return model


def train(examples: Sequence[Example], *, cv_metrics: Mapping[str, Any] | None = None,
          model: TaggerModel | None = None) -> TaggerModel:
    """Train on every example and attach the metadata (version, hash, metrics)."""
    started = time.perf_counter()
    model = fit_model(examples, model)
    digest = data_hash(examples)
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    gold_ids = sorted(e.key for e in examples if e.kind != "weak")
    model.metadata = base_metadata(
        model, digest,
        training_data={"examples": counts, "weak_weight": WEAK_WEIGHT,
                       "gold_ids": gold_ids,
                       "gold_title_hashes": sorted(_title_hash(e.doc.title)
                                                   for e in examples if e.kind != "weak"),
                       "weak_ids_hash": hashlib.sha256(" ".join(sorted(
                           e.key for e in examples if e.kind == "weak")).encode()).hexdigest()},
        fit_seconds=round(time.perf_counter() - started, 2),
        cv_metrics=dict(cv_metrics) if cv_metrics else None)
    return model


def _title_hash(title: str) -> str:
    return hashlib.sha256(normalise_title(title).encode()).hexdigest()[:16]


def overlap_with_training(model: TaggerModel, docs: Sequence[Doc]) -> list[str]:
    """Ids of ``docs`` that the model was trained on (same id or same normalised title)."""
    info = model.metadata.get("training_data") or {}
    ids = set(info.get("gold_ids") or [])
    titles = set(info.get("gold_title_hashes") or [])
    return [d.id for d in docs if d.id in ids or _title_hash(d.title) in titles]


# ---- cross-validation ------------------------------------------------------------------------
@dataclass
class CVResult:
    """Out-of-fold predictions of the model (and the baseline) on the gold examples."""

    folds: int
    gold: list[dict[str, Any]]
    text_only: dict[str, Any]  # report: model on title + abstract alone
    with_metadata: dict[str, Any]  # report: model + the record's own metadata, combined
    baseline: dict[str, Any]  # report: the keyword baseline on title + abstract
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        from kb.tagging.evaluate import headline

        return {"folds": self.folds, "n": len(self.gold),
                "text_only": headline(self.text_only),
                "with_metadata": headline(self.with_metadata),
                "baseline": headline(self.baseline)}


def cross_validate(gold: Sequence[Example], extra: Sequence[Example] = (), *, k: int = 5,
                   seed: int = 0, make_model: Callable[[], TaggerModel] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> CVResult:
    """K-fold cross-validation over ``gold``; ``extra`` (weak, human) stays in training except
    examples duplicating a test record."""
    started = time.perf_counter()
    n = len(gold)
    if n < k:
        raise TrainingDataError(f"{n} gold records cannot make {k} folds")
    text_labels: list[Any] = [None] * n
    text_scores: list[Any] = [None] * n
    meta_labels: list[Any] = [None] * n
    meta_scores: list[Any] = [None] * n
    splitter = KFold(k, shuffle=True, random_state=seed)
    for fold, (tr, te) in enumerate(splitter.split(np.zeros(n))):
        test = [gold[i] for i in te]
        test_ids = {e.key for e in test}
        test_titles = {normalise_title(e.doc.title) for e in test}
        train_set = [gold[i] for i in tr] + [
            e for e in extra
            if e.key not in test_ids and normalise_title(e.doc.title) not in test_titles]
        model = fit_model(train_set, make_model() if make_model else None)
        labels, scores = model.predict([e.doc.text_only() for e in test])
        for j, i in enumerate(te):
            text_labels[i], text_scores[i] = labels[j], scores[j]
        labels, scores = model.predict([e.doc for e in test])
        for j, i in enumerate(te):
            meta = confident_metadata_labels(_as_record(gold[i].doc))
            meta_labels[i] = combine_labels(labels[j], scores[j], meta)
            meta_scores[i] = scores[j]
        if progress:
            progress(fold + 1, k)
    truth = [e.targets for e in gold]
    base = [baseline_predict(e.doc.text_only()) for e in gold]
    return CVResult(
        folds=k, gold=truth,
        text_only=evaluate(truth, text_labels, text_scores),
        with_metadata=evaluate(truth, meta_labels, meta_scores),
        baseline=evaluate(truth, [b[0] for b in base], [b[1] for b in base]),
        predictions=[{"id": e.key, "labels": text_labels[i], "scores": text_scores[i]}
                     for i, e in enumerate(gold)],
        seconds=round(time.perf_counter() - started, 1))


def _as_record(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, "title": doc.title, "abstract": doc.abstract, "mesh": doc.mesh,
            "publication_types": doc.publication_types, **doc.registry}
