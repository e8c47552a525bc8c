"""The weekly digest: what is new by condition and design, as Markdown, HTML and Atom.

Untrusted text (titles, journals) is escaped in HTML and Atom; nothing is rendered raw.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy.engine import Engine

from kb import repository
from kb.taxonomy import FACET_BY_NAME

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:ketamine-kb:digest"


def _label_names(facet: str) -> list[str]:
    return [lab.name for lab in FACET_BY_NAME[facet].labels]


@dataclass(slots=True)
class Digest:
    since: datetime
    generated: datetime
    records: list[dict[str, Any]] = field(default_factory=list)
    retracted: list[dict[str, Any]] = field(default_factory=list)

    def by_condition(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Records grouped by condition (taxonomy order; "untagged" last), a record may
        appear under several conditions."""
        groups: dict[str, list[dict[str, Any]]] = {c: [] for c in _label_names("condition")}
        groups["untagged"] = []
        for rec in self.records:
            conds = [lab["label"] for lab in rec["labels"] if lab["facet"] == "condition"]
            for c in conds or ["untagged"]:
                groups.setdefault(c, []).append(rec)
        return [(c, rs) for c, rs in groups.items() if rs]

    def design_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.records:
            d = design_of(rec)
            counts[d] = counts.get(d, 0) + 1
        order = [*_label_names("design"), "untagged"]
        return {d: counts[d] for d in order if d in counts}


def design_of(rec: dict[str, Any]) -> str:
    return next((lab["label"] for lab in rec["labels"] if lab["facet"] == "design"), "untagged")


def link_of(rec: dict[str, Any]) -> str:
    if rec.get("pmid"):
        return f"https://pubmed.ncbi.nlm.nih.gov/{rec['pmid']}/"
    if rec.get("doi"):
        return f"https://doi.org/{rec['doi']}"
    key = str(rec.get("key", ""))
    if key.startswith("nct:"):
        return f"https://clinicaltrials.gov/study/{key[4:]}"
    return ""


def build_digest(engine: Engine, since: datetime, now: datetime | None = None) -> Digest:
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return Digest(since=since, generated=now or datetime.now(UTC),
                  records=repository.new_records_since(engine, since),
                  retracted=repository.retracted_since(engine, since))


def _cite(rec: dict[str, Any]) -> str:
    parts = [p for p in (rec.get("journal"), str(rec["pub_year"]) if rec.get("pub_year")
                         else None) if p]
    return ", ".join(parts)


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text or "")


def to_markdown(d: Digest) -> str:
    lines = [f"# ketamine-kb: what's new since {d.since:%Y-%m-%d}", "",
             f"{len(d.records)} new records; generated {d.generated:%Y-%m-%d %H:%M} UTC.", ""]
    if d.retracted:
        lines += ["## Retracted since the last digest (seen before)", ""]
        lines += [f"- **RETRACTED** [{_md_escape(r['title'])}]({link_of(r)}) ({_cite(r)})"
                  for r in d.retracted]
        lines.append("")
    if d.records:
        lines += ["## By design", "", "| design | records |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in d.design_counts().items()]
        lines.append("")
    for cond, recs in d.by_condition():
        lines += [f"## {cond} ({len(recs)})", ""]
        for r in recs:
            flag = " **RETRACTED**" if r["is_retracted"] else ""
            lines.append(f"- [{_md_escape(r['title'])}]({link_of(r)}) ({_cite(r)}) "
                         f"`{design_of(r)}`{flag}")
        lines.append("")
    return "\n".join(lines)


def to_html(d: Digest) -> str:
    e = html.escape
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>ketamine-kb digest since {d.since:%Y-%m-%d}</title>",
           "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}"
           ".retracted{color:#b00020;font-weight:bold}.design{color:#555}</style></head><body>",
           f"<h1>What's new since {d.since:%Y-%m-%d}</h1>",
           f"<p>{len(d.records)} new records; generated {d.generated:%Y-%m-%d %H:%M} UTC.</p>"]
    if d.retracted:
        out.append("<h2>Retracted since the last digest (seen before)</h2><ul>")
        out += [f"<li><span class='retracted'>RETRACTED</span> <a href='{e(link_of(r))}'>"
                f"{e(r['title'])}</a> ({e(_cite(r))})</li>" for r in d.retracted]
        out.append("</ul>")
    if d.records:
        out.append("<h2>By design</h2><table><tr><th>design</th><th>records</th></tr>")
        out += [f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in d.design_counts().items()]
        out.append("</table>")
    for cond, recs in d.by_condition():
        out.append(f"<h2>{e(cond)} ({len(recs)})</h2><ul>")
        for r in recs:
            flag = " <span class='retracted'>RETRACTED</span>" if r["is_retracted"] else ""
            out.append(f"<li><a href='{e(link_of(r))}'>{e(r['title'])}</a> ({e(_cite(r))}) "
                       f"<span class='design'>{e(design_of(r))}</span>{flag}</li>")
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def to_atom(d: Digest) -> bytes:
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "title", "ketamine-kb: new evidence on ketamine therapy")
    sub(feed, "id", FEED_ID)
    sub(feed, "updated", d.generated.isoformat())
    author = sub(feed, "author")
    sub(author, "name", "ketamine-kb")
    for r in [*({**x, "is_retracted": True, "_notice": True} for x in d.retracted), *d.records]:
        entry = sub(feed, "entry")
        prefix = "RETRACTED: " if r.get("is_retracted") else ""
        sub(entry, "title", prefix + (r["title"] or ""))
        sub(entry, "id", f"urn:ketamine-kb:{r['key']}" + (":retraction" if r.get("_notice")
                                                          else ""))
        seen = r.get("updated_at") if r.get("_notice") else r.get("first_seen")
        stamp = seen if isinstance(seen, datetime) else d.generated
        sub(entry, "updated", (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).isoformat())
        if link_of(r):
            sub(entry, "link", href=link_of(r))
        summary = _cite(r)
        if r.get("labels"):
            summary += f" [{design_of(r)}]"
        sub(entry, "summary", summary)
        for lab in r.get("labels", []):
            if lab["facet"] in ("condition", "design"):
                sub(entry, "category", term=lab["label"], scheme=lab["facet"])
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def write_digest(d: Digest, out_dir: Path) -> list[Path]:
    """Write ``digest-YYYY-MM-DD.{md,html}`` and ``feed.atom``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"digest-{d.generated:%Y-%m-%d}"
    md, page, feed = out_dir / f"{stem}.md", out_dir / f"{stem}.html", out_dir / "feed.atom"
    md.write_text(to_markdown(d), encoding="utf-8")
    page.write_text(to_html(d), encoding="utf-8")
    feed.write_bytes(to_atom(d))
    return [md, page, feed]
