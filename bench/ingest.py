"""Benchmark: `kb import` (parse + bulk upsert into SQLite) against pubmed_parser's parse alone.

Uses the file of real records built by ``bench/parse_pubmed.py`` (``bench/out/pubmed_bench.xml``,
built here if missing). Each measurement runs in its own subprocess (peak memory = that process's
``ru_maxrss``). Reports records/s for a first import into an empty database, a re-import of the
same file (must insert nothing, update nothing), and peak memory for the full file and for a
file a quarter of the size (streaming: memory should not grow with the file).

    .venv/bin/python bench/ingest.py [--repeats 2]

Writes ``bench/out/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import parse_pubmed  # noqa: E402

OUT = ROOT / "bench" / "out"


def worker_import(xml: str, db: str, runs: int) -> dict[str, Any]:
    from kb.db import make_engine
    from kb.importer import import_files

    engine = make_engine(f"sqlite:///{db}")
    results = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rep = import_files(engine, [Path(xml)])
        results.append({"wall_s": time.perf_counter() - t0, **rep.stats.as_dict(),
                        "records": rep.records})
    return {"runs": results, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def worker_pubmed_parser(xml: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    n = parse_pubmed.run_pubmed_parser(Path(xml))
    return {"wall_s": time.perf_counter() - t0, "records": n,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def sub(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True,
                          text=True, env=env, check=False, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def quarter_file(xml: Path) -> Path:
    """The first quarter of the records of ``xml`` (same content, smaller file)."""
    data = xml.read_bytes()
    cut, count, pos = 0, 0, 0
    total = data.count(b"</PubmedArticle>")
    while count < total // 4:
        pos = data.index(b"</PubmedArticle>", pos) + len(b"</PubmedArticle>")
        count += 1
        cut = pos
    small = OUT / "pubmed_bench_quarter.xml"
    small.write_bytes(data[:cut] + b"\n" + parse_pubmed.FOOTER)
    return small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "import":
            print(json.dumps(worker_import(rest[0], rest[1], int(rest[2]))))
        else:
            print(json.dumps(worker_pubmed_parser(rest[0])))
        return
    if not parse_pubmed.XML.exists():
        parse_pubmed.build(9)
    xml = parse_pubmed.XML
    mb = xml.stat().st_size / 1e6
    pp = min((sub("pubmed_parser", str(xml)) for _ in range(args.repeats)),
             key=lambda r: r["wall_s"])
    with tempfile.TemporaryDirectory() as tmp:
        first = sub("import", str(xml), str(Path(tmp) / "kb.sqlite"), "2")
    with tempfile.TemporaryDirectory() as tmp:
        small = quarter_file(xml)
        quarter = sub("import", str(small), str(Path(tmp) / "kb.sqlite"), "1")
    n = first["runs"][0]["records"]
    imp, re_imp = first["runs"][0], first["runs"][1]
    rows = [
        ("pubmed_parser parse only", pp["records"], pp["wall_s"], pp["maxrss_kib"]),
        ("kb import (parse + upsert), empty DB", n, imp["wall_s"], first["maxrss_kib"]),
        ("kb import again (no changes)", n, re_imp["wall_s"], first["maxrss_kib"]),
        ("kb import, quarter-size file", quarter["runs"][0]["records"],
         quarter["runs"][0]["wall_s"], quarter["maxrss_kib"]),
    ]
    print(f"file: {xml.name}, {n} real records, {mb:.1f} MB\n")
    print("| run | records | seconds | records/s | MB/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, recs, wall, rss in rows:
        size = mb if recs == n else mb * recs / n
        print(f"| {name} | {recs} | {wall:.2f} | {recs / wall:,.0f} | {size / wall:.1f} | "
              f"{rss / 1024:.0f} |")
    speedup = (n / imp["wall_s"]) / (pp["records"] / pp["wall_s"])
    print(f"\nkb import vs pubmed_parser parse: {speedup:.2f}x (target >= 1.5x)")
    print(f"re-import: inserted {re_imp['inserted']}, updated {re_imp['updated']}, "
          f"unchanged {re_imp['unchanged']}")
    result = {"file": str(xml), "records": n, "mb": mb, "pubmed_parser": pp,
              "import": first, "quarter": quarter, "speedup_vs_pubmed_parser": speedup}
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
