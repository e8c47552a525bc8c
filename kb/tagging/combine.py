"""Metadata, model and human tags combined into a record's effective tags.

Rules, per facet:

1. **Human wins.** When a person has chosen labels for a facet (``kb tag set``, the dashboard's
   review), those labels are the facet's tags, whatever metadata or model say; they survive
   re-tagging because re-tagging only replaces ``metadata`` and ``model`` tags. A human
   *negative* ("this label does not apply") removes a label that metadata or the model gave.
2. Otherwise, multi-label facets take the union of the metadata and model labels; single-label
   facets take the metadata label when the source states one (a publication type such as
   "Randomized Controlled Trial"), else the model's. A single-label facet always ends with
   exactly one label (its default, ``incidental`` / ``other``, when nothing else is left).
3. Structure: ``agent`` and ``route`` are empty when relevance is ``incidental`` (unless a
   person set them); a relevant record without an agent gets the model's likeliest agent.

The effective origin of a label is the source that decided it: ``human`` > ``metadata`` >
``model``; its probability is the model's when the model predicted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kb.taxonomy import DEFAULTS, FACETS, order_labels

ORIGINS = ("metadata", "model", "human")


@dataclass(frozen=True, slots=True)
class TagValue:
    """One stored tag (a row of ``tag``), as combine needs it."""

    facet: str
    label: str
    origin: str
    probability: float | None = None
    negative: bool = False


@dataclass(frozen=True, slots=True)
class Effective:
    """One effective tag (a row of ``record_label``)."""

    facet: str
    label: str
    origin: str
    probability: float | None


def effective_tags(tags: Iterable[TagValue | Mapping[str, Any]]) -> list[Effective]:
    """The effective tags of one record from all its stored tags."""
    human_pos: dict[str, set[str]] = {}
    human_neg: dict[str, set[str]] = {}
    meta: dict[str, set[str]] = {}
    model: dict[str, dict[str, float | None]] = {}
    for raw in tags:
        t = raw if isinstance(raw, TagValue) else TagValue(
            raw["facet"], raw["label"], raw["origin"], raw.get("probability"),
            bool(raw.get("negative")))
        if t.origin == "human":
            (human_neg if t.negative else human_pos).setdefault(t.facet, set()).add(t.label)
        elif t.negative:
            continue
        elif t.origin == "metadata":
            meta.setdefault(t.facet, set()).add(t.label)
        elif t.origin == "model":
            model.setdefault(t.facet, {})[t.label] = t.probability
    out: list[Effective] = []
    chosen: dict[str, list[str]] = {}
    origin_of: dict[tuple[str, str], str] = {}
    for f in FACETS:
        name = f.name
        neg = human_neg.get(name, set())
        if name in human_pos:
            labels = order_labels(name, human_pos[name] - neg)
            origin_of.update({(name, lab): "human" for lab in labels})
        elif f.multi:
            candidates = (meta.get(name, set()) | set(model.get(name, {}))) - neg
            labels = order_labels(name, candidates)
            origin_of.update({(name, lab): "metadata" if lab in meta.get(name, set())
                              else "model" for lab in labels})
        else:
            labels = []
            for lab in order_labels(name, meta.get(name, set()) - neg):
                labels, origin_of[(name, lab)] = [lab], "metadata"
                break
            if not labels:
                ranked = sorted(((p or 0.0, lab) for lab, p in model.get(name, {}).items()
                                 if lab not in neg), reverse=True)
                if ranked:
                    labels = [ranked[0][1]]
                    origin_of[(name, labels[0])] = "model"
            if not labels and DEFAULTS[name] not in neg:
                labels = [DEFAULTS[name]]
                origin_of[(name, labels[0])] = "default"
        chosen[name] = labels
    if chosen.get("relevance") == ["incidental"]:
        for name in ("agent", "route"):
            if name not in human_pos:
                chosen[name] = []
    elif not chosen.get("agent") and "agent" not in human_pos:
        ranked = sorted(((p or 0.0, lab) for lab, p in model.get("agent", {}).items()
                         if lab not in human_neg.get("agent", set())), reverse=True)
        if ranked:
            chosen["agent"] = [ranked[0][1]]
            origin_of[("agent", ranked[0][1])] = "model"
    for f in FACETS:
        for lab in chosen[f.name]:
            origin = origin_of[(f.name, lab)]
            if origin == "human":
                prob: float | None = 1.0
            else:
                prob = model.get(f.name, {}).get(lab)
            out.append(Effective(f.name, lab, "model" if origin == "default" else origin,
                                 prob))
    return out


def as_labels(effective: Iterable[Effective]) -> dict[str, Any]:
    """``{facet: label or [labels]}`` with every facet present."""
    out: dict[str, Any] = {f.name: [] for f in FACETS if f.multi}
    for e in effective:
        if e.facet in out:
            out[e.facet].append(e.label)
        else:
            out[e.facet] = e.label
    for f in FACETS:
        if not f.multi:
            out.setdefault(f.name, DEFAULTS[f.name])
    return {f.name: out[f.name] for f in FACETS}


def model_tag_values(labels: Mapping[str, Any], scores: Mapping[str, Mapping[str, float]],
                     ) -> list[TagValue]:
    """The ``model`` tags to store for one record: every predicted label with its probability.

    The agent facet also keeps the likeliest agent when the model left it empty because the
    record looked incidental: if a person later says it is relevant, the agent is known.
    """
    out = []
    for f in FACETS:
        value = labels.get(f.name)
        chosen = [value] if isinstance(value, str) else list(value or [])
        if f.name == "agent" and not chosen and scores.get("agent"):
            agent = scores["agent"]
            chosen = [max(agent, key=lambda k: agent[k])]
        for lab in chosen:
            out.append(TagValue(f.name, lab, "model", scores.get(f.name, {}).get(lab)))
    return out


def metadata_tag_values(metadata: Mapping[str, Iterable[str]]) -> list[TagValue]:
    """The ``metadata`` tags to store for one record."""
    return [TagValue(facet, lab, "metadata", None) for facet, labels in metadata.items()
            for lab in labels]


def combine_labels(model_labels: Mapping[str, Any], model_scores: Mapping[str, Mapping[str,
                                                                                   float]],
                   metadata: Mapping[str, Iterable[str]] | None = None,
                   human: Iterable[TagValue] = ()) -> dict[str, Any]:
    """Effective ``{facet: label(s)}`` of metadata + model (+ human) labels of one record."""
    tags = (model_tag_values(model_labels, model_scores)
            + metadata_tag_values(metadata or {}) + list(human))
    return as_labels(effective_tags(tags))
