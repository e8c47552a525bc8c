"""Metrics of a tagger against gold labels, and their text rendering.

Per facet: micro- and macro-F1 over its labels, per-label precision / recall / F1 / support,
accuracy for single-label facets (where micro-F1 equals accuracy), and the ROC AUC of the
``design = rct`` probability against the rest. Macro-F1 averages over the labels that occur in
the gold labels or the predictions (a label nobody used does not count as 0 or 1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.metrics import roc_auc_score

from kb.taxonomy import FACETS, SINGLE_FACETS, as_set

Scores = Mapping[str, Mapping[str, float]]

# The bars, and what the naive keyword tagger scored on dev.jsonl (for reference).
BARS: dict[str, tuple[str, float]] = {
    "relevance": ("accuracy", 0.95),
    "agent": ("micro_f1", 0.95),
    "condition": ("micro_f1", 0.88),
    "route": ("micro_f1", 0.92),
    "outcome": ("micro_f1", 0.80),
    "design": ("accuracy", 0.85),
    "rct_auc": ("auc", 0.97),
}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]],
             scores: Sequence[Scores] | None = None) -> dict[str, Any]:
    """Metrics of ``pred`` against ``gold`` (both lists of ``{facet: label(s)}``)."""
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    report: dict[str, Any] = {"n": len(gold), "facets": {}}
    for f in FACETS:
        per_label: dict[str, dict[str, float]] = {}
        tp_all = fp_all = fn_all = 0
        f1s = []
        for label in f.label_names:
            tp = fp = fn = 0
            for g, p in zip(gold, pred, strict=True):
                in_g, in_p = label in as_set(g, f.name), label in as_set(p, f.name)
                tp += in_g and in_p
                fp += in_p and not in_g
                fn += in_g and not in_p
            prec, rec, f1 = _prf(tp, fp, fn)
            per_label[label] = {"precision": prec, "recall": rec, "f1": f1,
                                "support": tp + fn, "predicted": tp + fp}
            if tp + fp + fn:
                f1s.append(f1)
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        entry: dict[str, Any] = {
            "kind": "multi" if f.multi else "single",
            "micro_f1": _prf(tp_all, fp_all, fn_all)[2],
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
            "labels": per_label,
        }
        if not f.multi:
            hits = sum(as_set(g, f.name) == as_set(p, f.name)
                       for g, p in zip(gold, pred, strict=True))
            entry["accuracy"] = hits / len(gold) if gold else 0.0
        else:
            exact = sum(as_set(g, f.name) == as_set(p, f.name)
                        for g, p in zip(gold, pred, strict=True))
            entry["exact_match"] = exact / len(gold) if gold else 0.0
        report["facets"][f.name] = entry
    report["rct_auc"] = None
    if scores is not None:
        y = [int("rct" in as_set(g, "design")) for g in gold]
        s = [float(sc.get("design", {}).get("rct", 0.0)) for sc in scores]
        if 0 < sum(y) < len(y):
            report["rct_auc"] = float(roc_auc_score(y, s))
    return report


def headline(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The seven figures of the bars: accuracy or micro-F1 per facet, and RCT ROC AUC."""
    out: dict[str, float | None] = {}
    for name, (metric, _bar) in BARS.items():
        if name == "rct_auc":
            out[name] = report.get("rct_auc")
        else:
            out[name] = report["facets"][name][metric]
    return out


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def format_summary(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """One table: a row per bar, a column per named report (e.g. model, baseline)."""
    names = list(reports)
    head = f"{'figure':<22}{'bar':>7}" + "".join(f"{n:>14}" for n in names)
    lines = [head, "-" * len(head)]
    heads = {n: headline(r) for n, r in reports.items()}
    for key, (metric, bar) in BARS.items():
        label = f"{key} {metric}" if key != "rct_auc" else "RCT-vs-rest ROC AUC"
        row = f"{label:<22}{bar:>7.2f}"
        for n in names:
            v = heads[n][key]
            mark = "" if v is None else (" ok" if v >= bar else " --")
            row += f"{_fmt(v) + mark:>14}"
        lines.append(row)
    return "\n".join(lines)


def format_report(report: Mapping[str, Any]) -> str:
    """Per facet: micro/macro-F1 (and accuracy), then precision / recall / F1 / support."""
    lines = [f"records: {report['n']}"]
    for fname, entry in report["facets"].items():
        extra = (f"  accuracy {entry['accuracy']:.3f}" if fname in SINGLE_FACETS
                 else f"  exact-match {entry['exact_match']:.3f}")
        lines.append("")
        lines.append(f"{fname} ({entry['kind']}): micro-F1 {entry['micro_f1']:.3f}  "
                     f"macro-F1 {entry['macro_f1']:.3f}{extra}")
        lines.append(f"  {'label':<34}{'prec':>7}{'recall':>8}{'F1':>7}{'support':>9}"
                     f"{'pred':>6}")
        for label, m in entry["labels"].items():
            lines.append(f"  {label:<34}{m['precision']:>7.3f}{m['recall']:>8.3f}"
                         f"{m['f1']:>7.3f}{m['support']:>9d}{m['predicted']:>6d}")
    if report.get("rct_auc") is not None:
        lines.append("")
        lines.append(f"RCT-vs-rest ROC AUC: {report['rct_auc']:.3f}")
    return "\n".join(lines)


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False)
