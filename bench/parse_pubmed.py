"""Benchmark: our PubMed XML parser against bare lxml, pubmed_parser and Biopython.

Builds ``bench/out/pubmed_bench.xml`` (and ``.xml.gz``) from the REAL articles in
``tests/data/pubmed/`` (efetch files and the 2016 MEDLINE baseline sample), each replicated with
fresh PMIDs and otherwise unchanged content, then times every parser on the same file, each in
its own subprocess (fair peak memory: that process's peak RSS).  Prints a markdown table
and writes ``bench/out/parse_pubmed.json``.

    .venv/bin/python bench/parse_pubmed.py [--copies 9] [--repeats 3]

Needs the ``[bench]`` extra (``biopython``, ``pubmed-parser``); a missing one is reported and
skipped.  Times are best of ``--repeats`` runs.  Speeds and ratios use process CPU time, which
a busy shared machine disturbs far less than wall time (both are reported).

Notes: ``pubmed_parser.parse_medline_xml`` always opens its path with ``gzip.open``; for the
plain file it is given ``open`` instead (and it also runs on the ``.gz`` natively).
Biopython's ``Entrez.parse`` refuses a ``PubmedArticleSet`` ("does not represent a list"), so
only ``Entrez.read`` (validate=False; the DTD named in the file is bundled, no network) runs.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "pubmed"
OUT = ROOT / "bench" / "out"
XML = OUT / "pubmed_bench.xml"
GZ = OUT / "pubmed_bench.xml.gz"

# Biopython's Entrez parser resolves the DTD named here from its bundled copy (no network).
HEADER = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
FOOTER = b"</PubmedArticleSet>\n"
TARGETS = {"bare_iterparse": 0.5, "pubmed_parser": 3.0, "biopython_read": 5.0}


# ---------------------------------------------------------------------------------------------
# Building the file
# ---------------------------------------------------------------------------------------------


def real_articles() -> list[Any]:
    """Every real article in tests/data/pubmed as a ``PubmedArticle`` element.

    Legacy 2016 ``MedlineCitation`` records are wrapped in ``PubmedArticle`` (``PubmedData`` is
    optional in the DTD), so the whole file has the efetch / baseline shape every parser reads.
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    articles = []
    for path in sorted(DATA.glob("*.xml*")):
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        root = etree.fromstring(raw, parser)
        for el in root:
            if el.tag == "PubmedArticle":
                articles.append(el)
            elif el.tag == "MedlineCitation":
                wrapper = etree.Element("PubmedArticle")
                wrapper.append(copy.deepcopy(el))
                articles.append(wrapper)
    return articles


def build(copies: int) -> dict[str, Any]:
    from lxml import etree

    OUT.mkdir(parents=True, exist_ok=True)
    articles = real_articles()
    pmid = 90_000_000
    n = 0
    with XML.open("wb") as fh:
        fh.write(HEADER)
        for _ in range(copies):
            for art in articles:
                clone = copy.deepcopy(art)
                pmid += 1
                clone.find("MedlineCitation/PMID").text = str(pmid)
                for aid in clone.iterfind("PubmedData/ArticleIdList/ArticleId"):
                    if aid.get("IdType") == "pubmed":
                        aid.text = str(pmid)
                fh.write(etree.tostring(clone, encoding="UTF-8") + b"\n")
                n += 1
        fh.write(FOOTER)
    GZ.write_bytes(gzip.compress(XML.read_bytes(), compresslevel=6, mtime=0))
    return {"records": n, "real_articles": len(articles), "copies": copies,
            "xml_bytes": XML.stat().st_size, "gz_bytes": GZ.stat().st_size}


# ---------------------------------------------------------------------------------------------
# Workers (one per subprocess)
# ---------------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def run_ours(path: Path) -> int:
    from harvester.pubmed.parser import parse_pubmed_xml

    with path.open("rb") as fh:  # gzip is detected by the parser itself
        return sum(1 for _ in parse_pubmed_xml(fh))


def run_ours_noraw(path: Path) -> int:
    from harvester.pubmed.parser import parse_pubmed_xml

    with path.open("rb") as fh:
        return sum(1 for _ in parse_pubmed_xml(fh, raw=False))


def run_bare(path: Path) -> int:
    from lxml import etree

    n = 0
    with _open(path) as fh:
        for _event, el in etree.iterparse(fh, events=("end",), tag="PubmedArticle",
                                           resolve_entities=False, no_network=True):
            n += 1
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return n


def run_pubmed_parser(path: Path) -> int:
    import pubmed_parser
    from pubmed_parser import medline_parser

    if path.suffix != ".gz":
        # parse_medline_xml always calls gzip.open(path); let it read the plain file.
        class _Plain:
            @staticmethod
            def open(p: str, mode: str = "rb") -> Any:
                return open(p, mode)

        medline_parser.gzip = _Plain
    return sum(1 for _ in pubmed_parser.parse_medline_xml(str(path)))


def run_biopython_read(path: Path) -> int:
    from Bio import Entrez

    with _open(path) as fh:
        result = Entrez.read(fh, validate=False)
    return len(result["PubmedArticle"]) + len(result["PubmedBookArticle"])


WORKERS = {
    "ours": run_ours,
    "ours_noraw": run_ours_noraw,
    "bare_iterparse": run_bare,
    "pubmed_parser": run_pubmed_parser,
    "biopython_read": run_biopython_read,
}
LABELS = {
    "ours": "ours `parse_pubmed_xml` (all fields + raw)",
    "ours_noraw": "ours, `raw=False`",
    "bare_iterparse": "bare `lxml.etree.iterparse` + clear (ceiling)",
    "pubmed_parser": "`pubmed_parser.parse_medline_xml`",
    "biopython_read": "Biopython `Entrez.read`",
}


def _rss_kib(field: str = "VmHWM") -> int:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process in KiB.

    From /proc, because ``ru_maxrss`` survives ``exec`` on Linux and would report the bench
    driver's own peak for a small child; ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


MODULES = {"ours": "harvester.pubmed.parser", "ours_noraw": "harvester.pubmed.parser",
           "bare_iterparse": "lxml.etree", "pubmed_parser": "pubmed_parser",
           "biopython_read": "Bio.Entrez"}


def worker(name: str, path: Path, repeats: int) -> dict[str, Any]:
    import importlib

    fn = WORKERS[name]
    importlib.import_module(MODULES[name])  # imports are not part of the parse's memory
    rss_before = _rss_kib("VmRSS")
    walls, cpus, n = [], [], 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn(path)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    peak = _rss_kib("VmHWM")
    return {"records": n, "wall_s": min(walls), "cpu_s": min(cpus), "walls": walls,
            "maxrss_kib": peak, "rss_before_parse_kib": rss_before}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def measure(name: str, path: Path, repeats: int, timeout: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", name, str(path), "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=9, help="copies of each real article")
    ap.add_argument("--repeats", type=int, default=3, help="best of N runs per parser")
    ap.add_argument("--slow-repeats", type=int, default=1, help="runs for Biopython")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--worker", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        name, path = args.worker
        print(json.dumps(worker(name, Path(path), args.repeats)))
        return

    info = build(args.copies)
    mb = info["xml_bytes"] / 1e6
    print(f"bench file: {XML.relative_to(ROOT)}  {info['records']} records "
          f"({info['real_articles']} real articles x {info['copies']}), {mb:.1f} MB "
          f"(gzip {info['gz_bytes'] / 1e6:.1f} MB)\n", flush=True)
    plan = [(name, XML) for name in WORKERS] + [
        (name, GZ) for name in ("ours", "bare_iterparse", "pubmed_parser")]
    results: list[dict[str, Any]] = []
    for name, path in plan:
        slow = name.startswith("biopython")  # ~5 s a run: fewer repeats
        res = measure(name, path, args.slow_repeats if slow else args.repeats, args.timeout)
        res.update(parser=name, file=path.name)
        results.append(res)
        print(f"  {name:16s} {path.name:22s} "
              + (res["error"] if "error" in res else f"{res['wall_s']:.2f}s"), flush=True)

    def find(name: str, file: str) -> dict[str, Any] | None:
        return next((r for r in results if r["parser"] == name and r["file"] == file
                     and "error" not in r), None)

    lines = ["", "| parser | file | records | wall s | CPU s | records/s | MB/s | peak RSS MiB "
             "| parse's own MiB | ours is x faster |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    # records/s and MB/s (of uncompressed XML) from CPU time; "x faster" = their CPU / ours.
    for r in results:
        if "error" in r:
            lines.append(f"| {LABELS[r['parser']]} | {r['file']} | error: {r['error']} "
                         "| | | | | | | |")
            continue
        ours = find("ours", r["file"])
        speedup = f"{r['cpu_s'] / ours['cpu_s']:.2f}" if ours else ""
        r["records_per_s"] = r["records"] / r["cpu_s"]
        r["mb_per_s"] = mb / r["cpu_s"]
        r["records_per_s_wall"] = r["records"] / r["wall_s"]
        lines.append(
            f"| {LABELS[r['parser']]} | {r['file']} | {r['records']} | {r['wall_s']:.2f} "
            f"| {r['cpu_s']:.2f} | {r['records_per_s']:,.0f} | {r['mb_per_s']:.1f} "
            f"| {r['maxrss_kib'] / 1024:.0f} "
            f"| {(r['maxrss_kib'] - r['rss_before_parse_kib']) / 1024:.0f} | {speedup} |")
    print("\n".join(lines))

    verdicts = []
    ours = find("ours", XML.name)
    for other, target in TARGETS.items():
        theirs = find(other, XML.name)
        if ours is None or theirs is None:
            continue
        # Both read as "their time / our time": for bare lxml that is our share of its speed.
        cpu = theirs["cpu_s"] / ours["cpu_s"]
        wall = theirs["wall_s"] / ours["wall_s"]
        metric = ("our speed / bare iterparse speed" if other == "bare_iterparse"
                  else f"ours faster than {other}")
        verdicts.append({"vs": other, "metric": metric, "cpu": cpu, "wall": wall,
                         "target": target, "met": cpu >= target})
    print("\n| target | CPU ratio | wall ratio | goal | met (CPU) |\n|---|---:|---:|---:|---|")
    for v in verdicts:
        print(f"| {v['metric']} | {v['cpu']:.2f} | {v['wall']:.2f} | >= {v['target']} "
              f"| {'yes' if v['met'] else 'no'} |")

    report = {"file": info, "python": sys.version.split()[0], "platform": platform.platform(),
              "cpus": os.cpu_count(), "repeats": args.repeats, "results": results,
              "targets": verdicts}
    (OUT / "parse_pubmed.json").write_text(json.dumps(report, indent=2))
    print(f"\nwrote {(OUT / 'parse_pubmed.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
