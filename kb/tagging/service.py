"""Tagging records of the knowledge base, classifying JSON records, human corrections.

The CLI (``kb tag``, ``kb classify``, ``kb tag set``), the weekly job and the dashboard call
these functions; all SQL is in :mod:`kb.repository` (section ``tags``).
"""

from __future__ import annotations

import getpass
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from kb import repository
from kb.ingest import batched
from kb.tagging.combine import (
    TagValue,
    as_labels,
    effective_tags,
    metadata_tag_values,
    model_tag_values,
)
from kb.tagging.features import doc_from_mapping
from kb.tagging.metadata import confident_metadata_labels
from kb.tagging.model import TaggerModel
from kb.taxonomy import FACET_BY_NAME, check_label, facet


@lru_cache(maxsize=4)
def _load(path: str) -> TaggerModel:
    return TaggerModel.load(path or None)


def load_model(model_dir: str | Path | None = None) -> TaggerModel:
    """The model in ``model_dir``, or the one shipped with the package (cached)."""
    return _load(str(model_dir or ""))


@dataclass(slots=True)
class TagReport:
    """What one tagging run did."""

    tagged: int
    model_version: str
    seconds: float
    remaining: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"tagged": self.tagged, "model_version": self.model_version,
                "seconds": round(self.seconds, 2), "remaining": self.remaining,
                "records_per_second": round(self.tagged / self.seconds, 1) if self.seconds
                else None}


# A ClinicalTrials.gov registration is a study, so its design is one of these (the registry's
# interventional randomised / non-randomised and observational types), never a review, a case
# report or a published protocol.
REGISTRY_DESIGNS = ("rct", "nonrandomized_trial", "observational")


def is_registry_record(row: Mapping[str, Any]) -> bool:
    """Whether a record is a trial registration (ClinicalTrials.gov), by key or source."""
    key = str(row.get("key") or row.get("id") or "")
    return key.startswith("nct:") or str(row.get("source") or "").startswith("ctgov")


def _tag_values(model: TaggerModel, rows: Sequence[Mapping[str, Any]]
                ) -> tuple[list[list[TagValue]], list[dict[str, dict[str, float]]]]:
    docs = [doc_from_mapping(r) for r in rows]
    labels, scores = model.predict(docs, rules=False) if docs else ([], [])
    out = []
    for row, lab, sc in zip(rows, labels, scores, strict=True):
        if is_registry_record(row) and lab["design"] not in REGISTRY_DESIGNS:
            design = sc.get("design", {})
            lab["design"] = max(REGISTRY_DESIGNS, key=lambda d: design.get(d, 0.0))
        out.append(metadata_tag_values(confident_metadata_labels(row))
                   + model_tag_values(lab, sc))
    return out, scores


def tag_rows(model: TaggerModel, rows: Sequence[Mapping[str, Any]]
             ) -> tuple[list[list[TagValue]], list[dict[str, Any]]]:
    """Stored tags (metadata + model) and effective labels for JSON-like records."""
    tags, _ = _tag_values(model, rows)
    return tags, [as_labels(effective_tags(values)) for values in tags]


def classify(model: TaggerModel, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``kb classify`` output lines: ``{"id", "labels", "scores"}`` with every facet present.

    ``labels`` combine the record's metadata (MeSH, publication types) with the model;
    ``scores`` are the model's calibrated probabilities for every label.
    """
    tags, scores = _tag_values(model, records)
    return [{"id": rec.get("id"), "labels": as_labels(effective_tags(values)), "scores": sc}
            for rec, values, sc in zip(records, tags, scores, strict=True)]


# ---- worker processes ------------------------------------------------------------------------
_WORKER_MODEL: TaggerModel | None = None


def _worker_init(model: TaggerModel) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model


def _worker_classify(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    assert _WORKER_MODEL is not None
    return classify(_WORKER_MODEL, records)


def _worker_tag(rows: Sequence[Mapping[str, Any]]) -> list[list[TagValue]]:
    assert _WORKER_MODEL is not None
    return tag_rows(_WORKER_MODEL, rows)[0]


def _pool(model: TaggerModel, jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(model,))


def classify_many(model: TaggerModel, records: Iterable[Mapping[str, Any]], *, jobs: int = 1,
                  chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """:func:`classify` over any number of records, in order; ``jobs`` > 1 uses worker
    processes (each gets a copy of the model once)."""
    batches = batched(records, chunk)
    if jobs <= 1:
        for batch in batches:
            yield from classify(model, batch)
        return
    with _pool(model, jobs) as pool:
        pending: deque[Future[list[dict[str, Any]]]] = deque()
        for batch in batches:
            pending.append(pool.submit(_worker_classify, batch))
            if len(pending) >= 2 * jobs:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def tag_pending(engine: Engine, model_dir: str | Path | None = None, *,
                model: TaggerModel | None = None, batch_size: int = 1000, retag: bool = False,
                limit: int | None = None, jobs: int = 1,
                progress: Callable[[int], None] | None = None) -> TagReport:
    """Tag every record that is untagged or was tagged by another model version.

    Human tags are kept and still win; metadata and model tags are replaced in bulk, one
    transaction per batch (an interrupted run resumes where it stopped). ``jobs`` > 1
    classifies in worker processes while this one writes.
    """
    model = model or load_model(model_dir)
    version = model.version
    started = time.perf_counter()
    n = 0

    def write(batch: Sequence[Mapping[str, Any]], tags: Sequence[Sequence[TagValue]]) -> None:
        nonlocal n
        rows = [{"record_id": rec["id"], "facet": t.facet, "label": t.label,
                 "origin": t.origin, "probability": t.probability}
                for rec, values in zip(batch, tags, strict=True) for t in values]
        repository.replace_tags(engine, [r["id"] for r in batch], rows, version)
        n += len(batch)
        if progress:
            progress(len(batch))

    batches = repository.records_to_tag(engine, version, batch_size=batch_size, retag=retag,
                                        limit=limit)
    if jobs <= 1:
        for batch in batches:
            write(batch, tag_rows(model, batch)[0])
    else:
        with _pool(model, jobs) as pool:
            pending: deque[tuple[list[dict[str, Any]], Future[list[list[TagValue]]]]] = deque()
            for batch in batches:
                pending.append((batch, pool.submit(_worker_tag, batch)))
                if len(pending) >= 2 * jobs:
                    done, fut = pending.popleft()
                    write(done, fut.result())
            while pending:
                done, fut = pending.popleft()
                write(done, fut.result())
    remaining = 0 if retag else repository.count_to_tag(engine, version)
    return TagReport(n, version, time.perf_counter() - started, remaining)


def current_user(explicit: str | None = None) -> str | None:
    """``explicit``, else ``$USER``, else the login name (``None`` when unknown)."""
    if explicit:
        return explicit
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return None


class RecordNotFound(LookupError):
    """No record with that id or key."""


def resolve_record(engine: Engine, ref: str | int) -> dict[str, Any]:
    """The record ``ref`` names: a numeric id or a key such as ``pmid:31166571``."""
    rec = repository.get_record(engine, ref)
    if rec is None and isinstance(ref, str) and ref.isdigit():
        rec = repository.get_record(engine, int(ref))
    if rec is None:
        raise RecordNotFound(f"no record {ref!r}")
    return rec


def set_tags(engine: Engine, ref: str | int, facet_name: str, labels: Sequence[str], *,
             remove: bool = False, user: str | None = None) -> dict[str, Any]:
    """A human correction; returns the record's effective labels afterwards.

    Without ``remove`` the facet's labels become exactly ``labels`` (a single-label facet
    takes exactly one); with ``remove`` each label is marked as not applying (multi-label
    facets only: a single-label facet is corrected by setting its label).
    """
    f = facet(facet_name)
    for lab in labels:
        check_label(facet_name, lab)
    if not labels:
        raise ValueError("give at least one label")
    if not f.multi:
        if remove:
            raise ValueError(f"{facet_name} has exactly one label: set the right one instead "
                             "of removing")
        if len(labels) != 1:
            raise ValueError(f"{facet_name}: exactly one label expected, got {list(labels)}")
    rec = resolve_record(engine, ref)
    repository.set_human_tags(engine, int(rec["id"]), facet_name, labels, negative=remove,
                              user=current_user(user))
    return effective_labels(engine, int(rec["id"]))


def effective_labels(engine: Engine, record_id: int) -> dict[str, Any]:
    """``{facet: label or [labels]}`` of one record as stored in ``record_label``."""
    rows = repository.record_labels(engine, record_id)
    out: dict[str, Any] = {f: [] for f, spec in FACET_BY_NAME.items() if spec.multi}
    for f, spec in FACET_BY_NAME.items():
        chosen = [r["label"] for r in rows if r["facet"] == f]
        out[f] = sorted(chosen, key=spec.label_names.index) if spec.multi else (
            chosen[0] if chosen else None)
    return out


def human_examples(engine: Engine) -> list[Any]:
    """Training examples from human corrections (the corrected facets only)."""
    from kb.tagging.train import Example

    out = []
    for row in repository.human_corrections(engine):
        targets: dict[str, Any] = {}
        for f, labels in row["labels"].items():
            spec = FACET_BY_NAME.get(f)
            if spec is None:
                continue
            if spec.multi:
                targets[f] = list(labels)
            elif len(labels) == 1:
                targets[f] = labels[0]
        if targets:
            data = {**row, "id": row.get("key") or str(row["id"])}
            out.append(Example(doc_from_mapping(data), targets, 1.0, "human"))
    return out
