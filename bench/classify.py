"""Benchmark: training time on 10,000 records and classification throughput on 2 cores.

Training set: the shipped gold records plus real corpus records with their weak labels
(``shared/corpus/records``: the Europe PMC ketamine harvest and Cohen 2006 MEDLINE records),
replicated with new ids when fewer than ``--train`` real records exist. The training is the
real one (``kb train`` without cross-validation): features, inner-CV calibration and threshold
tuning, ``--fit-jobs`` threads.

Classification: the shipped model on ``--classify`` real records (the corpus, replicated),
exactly as ``kb classify`` does it (metadata + model, combined), in 1 process and in 2 worker
processes. Because a shared machine's wall clock also measures its other load, the CPU time
per record is reported too: ``2 / cpu_seconds_per_record`` is the throughput two free cores
give.

    .venv/bin/python bench/classify.py [--train 10000] [--classify 10000] [--cores 0,1]

``--cores`` pins the benchmark to those CPUs (Linux), e.g. ``0,1`` on a bigger machine.
Prints a table and writes ``bench/out/classify.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.tagging import train as tr  # noqa: E402
from kb.tagging.model import TaggerModel  # noqa: E402
from kb.tagging.service import classify, classify_many, load_model  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGETS = {"train_seconds": 60.0, "classify_per_second_2_cores": 1000.0}


def corpus_records(corpus: Path | None) -> list[dict[str, Any]]:
    """Real records to classify: the corpus files, or the shipped gold records without it."""
    if corpus is None:
        return [{k: v for k, v in r.items() if k != "labels"}
                for r in tr.read_jsonl(tr.PACKAGE_GOLD)]
    out: list[dict[str, Any]] = []
    for name in ("ketamine_europepmc.jsonl", "ctgov_registry_texts.jsonl",
                 "cohen2006_medline.jsonl"):
        if (corpus / name).is_file():
            out.extend(tr.read_jsonl(corpus / name))
    return out


def replicate(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` records: the originals, then copies with new ids."""
    out = list(records[:n])
    copy = 1
    while len(out) < n:
        out.extend({**r, "id": f"{r['id']}#copy{copy}"} for r in records[: n - len(out)])
        copy += 1
    return out


def training_examples(n: int, corpus: Path | None) -> list[tr.Example]:
    gold = tr.load_gold()
    weak = []
    if corpus is not None:
        sources = {"ketamine_europepmc.jsonl": 100_000, "cohen2006_medline.jsonl": 100_000}
        weak = tr.load_weak(corpus, exclude=[e.doc for e in gold], sources=sources)
    examples = (gold + weak)[:n]
    copy = 1
    while len(examples) < n:
        extra = (gold + weak)[: n - len(examples)]
        examples += [tr.Example(replace(e.doc, id=f"{e.key}#copy{copy}"), e.targets, e.weight,
                                e.kind) for e in extra]
        copy += 1
    return examples


def bench_train(n: int, corpus: Path | None, jobs: int) -> dict[str, Any]:
    examples = training_examples(n, corpus)
    kinds: dict[str, int] = {}
    for e in examples:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    wall, cpu = time.perf_counter(), time.process_time()
    model = tr.train(examples, model=TaggerModel(n_jobs=jobs))
    return {"records": len(examples), "examples": kinds, "fit_jobs": jobs,
            "seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "model_version": model.version}


def bench_classify(n: int, corpus: Path | None) -> dict[str, Any]:
    records = replicate(corpus_records(corpus), n)
    model = load_model()
    classify(model, records[:200])  # warm caches
    wall, cpu = time.perf_counter(), time.process_time()
    out1 = classify(model, records)
    one_wall, one_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    out2 = list(classify_many(model, records, jobs=2, chunk=1000))
    two_wall = time.perf_counter() - wall
    assert [x["labels"] for x in out1] == [x["labels"] for x in out2]
    return {"records": len(records), "model_version": model.version,
            "one_process_seconds": round(one_wall, 2),
            "one_process_per_second": round(n / one_wall, 1),
            "cpu_ms_per_record": round(1000 * one_cpu / n, 3),
            "two_processes_seconds": round(two_wall, 2),
            "two_processes_per_second": round(n / two_wall, 1),
            "two_free_cores_per_second_from_cpu_time": round(2 * n / one_cpu, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=10_000, help="training records")
    ap.add_argument("--classify", type=int, default=10_000, help="records to classify")
    ap.add_argument("--fit-jobs", type=int, default=2, help="threads fitting labels")
    ap.add_argument("--cores", default=None, help="pin to these CPUs, e.g. 0,1")
    ap.add_argument("--corpus", default=None, help="corpus records directory")
    args = ap.parse_args(argv)
    if args.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    corpus = tr.find_corpus_dir(args.corpus)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "affinity": sorted(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity") else None,
                    "load_average_before": load},
        "corpus": str(corpus) if corpus else None,
        "train": bench_train(args.train, corpus, args.fit_jobs),
        "classify": bench_classify(args.classify, corpus),
        "targets": TARGETS,
    }
    t, c = result["train"], result["classify"]
    rows = [
        (f"train on {t['records']} records (s)", t["seconds"],
         f"<= {TARGETS['train_seconds']:.0f}"),
        ("  cpu seconds", t["cpu_seconds"], ""),
        ("classify, 1 process (rec/s)", c["one_process_per_second"], ""),
        ("classify, 2 processes (rec/s)", c["two_processes_per_second"],
         f">= {TARGETS['classify_per_second_2_cores']:.0f}"),
        ("  cpu ms per record", c["cpu_ms_per_record"], ""),
        ("  2 free cores, from cpu time (rec/s)", c["two_free_cores_per_second_from_cpu_time"],
         f">= {TARGETS['classify_per_second_2_cores']:.0f}"),
    ]
    print(f"{'figure':<40}{'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<40}{value:>12}  {target}")
    if load:
        print(f"(load average before: {load[0]:.2f} on {os.cpu_count()} CPUs)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "classify.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
