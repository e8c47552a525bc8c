"""Benchmark: the dashboard's server-side latency on a 100,000-record knowledge base.

The knowledge base is built by replicating the real shared records (``shared/corpus/records``
and the shipped ``kb/sample``) with new identifiers through the bulk ingest path; originals are
tagged (``kb tag`` when the tagger is installed, else the keyword baseline) and each copy gets
its original's tags. Then, with warm SQLite pages and empty query caches, it measures:

- a filter change plus the first page: everything the evidence browser queries when a filter
  changes (count, page, tag chips, live facet counts, safety share, newest reviews and RCTs);
- a full-text query: the same with a search typed (relevance sort);
- the first render of each page: ``AppTest`` run time in a new session with cleared caches.

    .venv/bin/python bench/dashboard.py [--records 100000] [--rebuild] [--repeats 3]

Prints a table and writes ``bench/out/dashboard.json``. The database is kept in
``bench/out/dashboard-<N>.sqlite`` and reused (``--rebuild`` starts again).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harvester.corpus import parse_corpus_jsonl  # noqa: E402
from harvester.pubmed.parser import parse_pubmed_xml  # noqa: E402
from harvester.records import Record  # noqa: E402
from kb import facet_index, repository  # noqa: E402
from kb.browse import Filters  # noqa: E402
from kb.db import make_engine  # noqa: E402
from kb.ingest import ingest  # noqa: E402

OUT = ROOT / "bench" / "out"
SHARED = Path(os.environ.get("KB_SHARED", ROOT.parent / "shared")) / "corpus" / "records"
SAMPLE = ROOT / "kb" / "sample"
TARGETS_MS = {"filter_change": 100.0, "fulltext": 200.0, "first_render": 2000.0}

# Filter changes a clinician or educator makes (facets from the taxonomy, years, sources...).
FILTERS: list[Filters] = [
    Filters(),
    Filters(labels={"condition": ("trd",)}),
    Filters(labels={"condition": ("trd",), "route": ("intranasal",)}),
    Filters(labels={"condition": ("trd",), "route": ("intranasal",),
                    "outcome": ("safety_tolerability",)}),
    Filters(labels={"condition": ("depression",), "design": ("rct",)}),
    Filters(labels={"design": ("systematic_review_meta_analysis",)}),
    Filters(labels={"condition": ("suicidality",)}, sort="evidence"),
    Filters(labels={"condition": ("chronic_pain",), "route": ("intravenous",)}),
    Filters(labels={"condition": ("acute_pain", "anesthesia_sedation")}),
    Filters(labels={"agent": ("esketamine",)}),
    Filters(labels={"agent": ("arketamine", "metabolite")}),
    Filters(labels={"outcome": ("dissociation",), "design": ("rct", "nonrandomized_trial")}),
    Filters(labels={"condition": ("ptsd",)}),
    Filters(labels={"condition": ("perinatal_depression",)}),
    Filters(labels={"relevance": ("primary",)}),
    Filters(year_from=2015),
    Filters(year_from=2020, year_to=2024, labels={"condition": ("trd",)}),
    Filters(sources=("europepmc",)),
    Filters(show_retracted=True),
    Filters(human_verified=True),
    Filters(sort="evidence"),
    Filters(include_incidental=True),
    Filters(include_incidental=True, labels={"design": ("rct",)}),
    Filters(include_incidental=True, labels={"condition": ("substance_use",)}),
    Filters(labels={"outcome": ("misuse_dependence",)}, sort="evidence"),
    Filters(added_since=datetime.now(UTC) - timedelta(days=30)),  # what's new
]
# What people type: words, phrases, operators, hyphens, junk.
SEARCHES = ["esketamine", "esketamine nasal spray", '"treatment-resistant depression"',
            "ketamine suicidal ideation", "esketamine -rats", "dissociation OR dissociative",
            "postpartum depression", "ketamine infusion chronic pain", "arketamine",
            "hydroxynorketamine", "relapse prevention maintenance", "electroconvulsive therapy",
            '"randomized controlled trial" ketamine', "TRD", "anaesthesia induction children",
            '"(', "ketamine*", "bladder cystitis", "NMDA receptor antagonist", "quetiapine"]
PAGES = ("views/browser.py", "views/evidence_map.py", "views/record.py", "views/trends.py",
         "views/whats_new.py", "views/trials.py", "views/reading_lists.py",
         "views/tag_review.py")


# --- building the knowledge base ---


def originals() -> Iterator[Record]:
    """Every real record once: the shared corpus files and the shipped PubMed XML."""
    seen: set[str] = set()
    files = sorted(SHARED.glob("*.jsonl")) if SHARED.is_dir() else []
    if not files:  # fall back to the shipped copies
        files = sorted(SAMPLE.glob("*.jsonl*"))
    for path in files:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for item in parse_corpus_jsonl(fh):
                if isinstance(item, Record) and item.key not in seen:
                    seen.add(item.key)
                    yield item
    for path in sorted((SAMPLE / "pubmed").glob("*.xml")):
        with path.open("rb") as fh:
            for parsed in parse_pubmed_xml(fh):
                if isinstance(parsed, Record) and parsed.key not in seen:
                    seen.add(parsed.key)
                    yield parsed


def copy_of(rec: Record, k: int) -> Record:
    """Copy ``k`` of a record with new identifiers (same text, metadata and tags)."""
    new = replace(rec, raw=None, other_ids=dict(rec.other_ids))
    new.pmid = str(int(rec.pmid) + k * 100_000_000) if rec.pmid and rec.pmid.isdigit() else None
    new.doi = f"{rec.doi}.copy{k}" if rec.doi else None
    new.pmcid = None
    new.ppr_id = f"{rec.ppr_id}C{k}" if rec.ppr_id else None
    if not (new.pmid or new.doi or new.ppr_id):
        new.nct_ids = []
        new.other_ids["source_id"] = f"{rec.key}#copy{k}"
    return new


def tag_originals(url: str, engine: Any) -> str:
    """Tag the originals with ``kb tag`` and the shipped model (their copies share the tags)."""
    from click.testing import CliRunner

    from kb.cli import cli

    res = CliRunner().invoke(cli, ["--database-url", url, "-q", "tag"])
    if res.exit_code != 0:
        raise SystemExit(f"kb tag failed: {res.output}")
    return "kb tag"


def build(path: Path, n: int) -> dict[str, Any]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    base = list(originals())
    t0 = time.perf_counter()
    ingest(engine, base, batch_size=1000)
    tagger = tag_originals(url, engine)
    t_tag = time.perf_counter() - t0
    key_to_id = repository.ids_by_key(engine, [r.key for r in base])
    copies: list[tuple[str, str]] = []

    def stream() -> Iterator[Record]:
        k, made = 1, len(base)
        while made < n:
            for rec in base:
                if made >= n:
                    return
                c = copy_of(rec, k)
                copies.append((c.key, rec.key))
                made += 1
                yield c
            k += 1

    t1 = time.perf_counter()
    ingest(engine, stream(), batch_size=2000)
    short = n - repository.record_count(engine)  # a few copies may merge (same key twice)
    if short > 0:
        extra = [copy_of(rec, 999) for rec in base[:short]]
        copies.extend((c.key, o.key) for c, o in zip(extra, base, strict=False))
        ingest(engine, extra, batch_size=2000)
    copy_ids = repository.ids_by_key(engine, [c for c, _ in copies])
    pairs = [(key_to_id[o], copy_ids[c]) for c, o in copies if o in key_to_id and c in copy_ids]
    repository.copy_labels(engine, pairs)
    t_copy = time.perf_counter() - t1
    total = repository.record_count(engine)
    engine.dispose()
    return {"originals": len(base), "records": total, "tagger": tagger,
            "ingest_and_tag_originals_s": round(t_tag, 1),
            "ingest_copies_and_copy_tags_s": round(t_copy, 1)}


# --- measuring ---


def ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def browser_queries(engine: Any, index: facet_index.FacetIndex, f: Filters,
                    page_size: int = 25) -> None:
    """What the evidence browser computes when its filters change (dashboard/data.py with
    empty query caches): full-text matches, the page, live counts, the safety share and
    the newest reviews and RCTs; the facet index answers, the database fetches the rows."""
    found = facet_index.search(engine, f.search)
    facet_index.browse_page(engine, index, f, found, limit=page_size, offset=0)
    facet_index.browse_counts(index, f, found)
    facet_index.browse_count(index, f, found, ("outcome", "safety_tolerability"))
    for design in ("systematic_review_meta_analysis", "rct"):
        facet_index.newest_of_design(engine, index, f, found, design, 3)


def sql_browser_queries(engine: Any, f: Filters, page_size: int = 25) -> None:
    """The same answers from the SQL reference alone (kb.browse), for comparison."""
    repository.browse_page(engine, f, limit=page_size, offset=0)
    repository.browse_counts(engine, f)
    repository.browse_count(engine, f, ("outcome", "safety_tolerability"))
    for design in ("systematic_review_meta_analysis", "rct"):
        repository.newest_of_design(engine, f, design, 3)


def summary(samples: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples, n=20, method="inclusive")
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(qs[18], 1), "max_ms": round(max(samples), 1)}


def measure_queries(url: str, repeats: int) -> dict[str, Any]:
    engine = make_engine(url)
    builds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        index = facet_index.load(engine)
        builds.append((time.perf_counter() - t0) * 1000)
    out: dict[str, Any] = {"index_build": {"records": index.size,
                                           "p50_ms": round(statistics.median(builds), 1),
                                           "max_ms": round(max(builds), 1)}}
    for f in FILTERS:  # warm the SQLite page cache (a running server has it warm)
        browser_queries(engine, index, f)
    per: dict[str, list[float]] = {}
    samples: list[float] = []
    for _ in range(repeats):
        for f in FILTERS:
            t = ms(partial(browser_queries, engine, index, f))
            samples.append(t)
            per.setdefault(repr(f.to_query_params() or {"default": 1}), []).append(t)
    out["filter_change"] = summary(samples)
    out["filter_change"]["slowest"] = sorted(
        ((round(max(v), 1), k) for k, v in per.items()), reverse=True)[:3]
    samples = []
    for _ in range(repeats):
        for q in SEARCHES:
            f = Filters(search=q, sort="relevance")
            samples.append(ms(partial(browser_queries, engine, index, f)))
    out["fulltext"] = summary(samples)
    # the SQL reference path, once per filter, for comparison
    out["sql_reference_filter_change"] = summary(
        [ms(partial(sql_browser_queries, engine, f)) for f in FILTERS])
    # the other pages' queries (cache misses), for the record
    extra = {
        "evidence_map": lambda: repository.evidence_matrix(engine, Filters(), "condition",
                                                           "outcome"),
        "trends": lambda: (repository.year_counts(engine, Filters(), "condition"),
                           repository.year_counts(engine, Filters(), "design")),
        "review_queue": lambda: repository.review_queue(engine, Filters(), 15),
    }
    out["page_queries_ms"] = {k: round(min(ms(fn) for _ in range(repeats)), 1)
                              for k, fn in extra.items()}
    engine.dispose()
    return out


def measure_pages(url: str, repeats: int) -> dict[str, Any]:
    """First render of each page in a new session with empty query caches (AppTest run).

    The facet index (a ``cache_resource`` shared by all sessions, rebuilt once per data
    version) is warm, as on a running server; the first render after a data change, which
    also builds the index, is measured separately (``first_render_after_data_change``).
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["KB_DATABASE_URL"] = url
    engine = make_engine(url)
    rid = repository.browse_page(engine, Filters(), limit=1)[1][0]["id"]
    engine.dispose()
    app = ROOT / "dashboard" / "app.py"

    def render(page: str) -> float:
        at = AppTest.from_file(str(app), default_timeout=120)
        if page != PAGES[0]:
            at.switch_page(page)
        if page == "views/record.py":
            at.query_params["id"] = str(rid)
        t = ms(at.run)
        if at.exception:
            raise SystemExit(f"{page}: {at.exception[0].value}")
        return t

    from dashboard import data as dashboard_data

    render(PAGES[0])  # the engine (cache_resource) as on a running server
    st.cache_data.clear()
    dashboard_data._index.clear()  # a harvest or tagging run changed the data: new index
    cold = render(PAGES[0])
    results: dict[str, Any] = {}
    for page in PAGES:
        samples = []
        for _ in range(repeats):
            st.cache_data.clear()
            samples.append(render(page))
        results[page.removeprefix("views/").removesuffix(".py")] = {
            "p50_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}
    return {"pages": results,
            "worst_page_max_ms": max(v["max_ms"] for v in results.values()),
            "first_render_after_data_change_ms": round(cold, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"dashboard-{args.records}.sqlite"
    meta_file = OUT / f"dashboard-{args.records}.build.json"
    if args.rebuild or not db.exists() or not meta_file.exists():
        print(f"building {db} ...", flush=True)
        meta = build(db, args.records)
        meta_file.write_text(json.dumps(meta, indent=2))
    meta = json.loads(meta_file.read_text())
    url = f"sqlite:///{db}"
    print(f"{meta['records']:,} records ({meta['originals']:,} originals), tags: "
          f"{meta['tagger']}", flush=True)
    queries = measure_queries(url, args.repeats)
    pages = measure_pages(url, args.repeats)
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                         f"{platform.python_version()}",
              "build": meta, "targets_ms": TARGETS_MS, **queries, **pages}
    (OUT / "dashboard.json").write_text(json.dumps(result, indent=2, default=str))

    rows = [("filter change + first page", queries["filter_change"], "filter_change"),
            ("full-text query", queries["fulltext"], "fulltext")]
    print(f"\n{'measure':<34}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'target':>10}")
    for name, s, key in rows:
        ok = "ok" if s["p95_ms"] <= TARGETS_MS[key] else "OVER"
        print(f"{name:<34}{s['n']:>5}{s['p50_ms']:>10}{s['p95_ms']:>10}"
              f"{TARGETS_MS[key]:>8.0f} {ok}")
    print(f"\n{'first render (AppTest)':<34}{'p50 ms':>10}{'max ms':>10}{'target':>10}")
    for page, s in pages["pages"].items():
        ok = "ok" if s["max_ms"] <= TARGETS_MS["first_render"] else "OVER"
        print(f"{page:<34}{s['p50_ms']:>10}{s['max_ms']:>10}"
              f"{TARGETS_MS['first_render']:>8.0f} {ok}")
    print(f"\nfacet index build: {queries['index_build']['p50_ms']} ms "
          f"({queries['index_build']['records']:,} records, once per data version); first "
          f"browser render after a data change: {pages['first_render_after_data_change_ms']} ms")
    ref = queries["sql_reference_filter_change"]
    print(f"SQL reference path (no index), filter change: p50 {ref['p50_ms']} ms, "
          f"p95 {ref['p95_ms']} ms")
    print("other page queries (ms):", queries["page_queries_ms"])
    print("slowest filter changes:", queries["filter_change"]["slowest"])
    print(f"wrote {OUT / 'dashboard.json'}")


if __name__ == "__main__":
    main()
