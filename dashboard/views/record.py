"""Record page: structured abstract, identifiers with links, MeSH, publication types, tags with
provenance, linked trials, preprint/published versions and retraction notices."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from kb.exports import ctgov_url, identifier_links
from kb.taxonomy import FACET_NAMES

RELATIONS = {"version_of": "Preprint / published version", "retraction_of": "Retraction notice",
             "erratum_for": "Erratum", "concern_for": "Expression of concern",
             "duplicate_of": "Duplicate", "update_of": "Update"}
NOTICE_TYPES = {"RetractionIn": "Retraction notice", "RetractionOf": "Retracts",
                "RetractedandRepublishedIn": "Retracted and republished",
                "RetractedandRepublishedFrom": "Republished after retraction of",
                "ErratumIn": "Erratum", "ErratumFor": "Erratum for",
                "ExpressionOfConcernIn": "Expression of concern",
                "ExpressionOfConcernFor": "Expression of concern for",
                "UpdateIn": "Updated in", "UpdateOf": "Update of",
                "CorrectedandRepublishedIn": "Corrected and republished",
                "CorrectedandRepublishedFrom": "Corrected and republished from"}
VERSION_KEYS = {"published_doi": "Published version (DOI)", "preprint_doi": "Preprint (DOI)",
                "published_pmid": "Published version (PMID)"}


def _pick_record() -> int | None:
    raw = st.query_params.get("id", "")
    if raw.isdigit():
        return int(raw)
    st.title("Record")
    st.caption("Open a record from the evidence browser, or look one up here.")
    ref = st.text_input("PMID, DOI or record id", key="record_lookup", max_chars=300)
    if ref.strip():
        ref = ref.strip()
        rec = data.record(int(ref[3:])) if ref.lower().startswith("id:") and ref[3:].isdigit() \
            else data.lookup(ref)
        if rec is None:
            st.warning("No record with that identifier.", icon=":material/search_off:")
        else:
            st.query_params["id"] = str(rec["id"])
            st.rerun()
    return None


def _abstract(rec: dict[str, Any]) -> None:
    sections = [s for s in rec.get("abstract_sections") or [] if (s.get("text") or "").strip()]
    if sections:
        for s in sections:
            label = s.get("label") or s.get("category")
            text = c.safe(s.get("text"))
            st.markdown(f"**{c.safe(str(label).capitalize())}** · {text}" if label else text)
    elif (rec.get("abstract") or "").strip():
        for para in str(rec["abstract"]).split("\n\n"):
            if para.strip():
                st.markdown(c.safe(para))
    else:
        st.caption("No abstract.")


def _tags(rec: dict[str, Any]) -> None:
    labels = rec["labels"]
    if not labels:
        st.info("Not tagged yet (run `kb tag`).", icon=":material/label_off:")
    else:
        rows = []
        order = {f: i for i, f in enumerate(FACET_NAMES)}
        for lab in sorted(labels, key=lambda x: (order.get(x["facet"], 99), x["label"])):
            rows.append({"Facet": c.FACET_TITLES.get(lab["facet"], lab["facet"]),
                         "Label": c.label_title(lab["label"]),
                         "Source": {"human": "human-verified", "model": "classifier",
                                    "metadata": "MeSH / publication type"}.get(
                                        lab["origin"], lab["origin"]),
                         "Probability": lab["probability"]})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
            "Probability": st.column_config.ProgressColumn(format="%.2f", min_value=0.0,
                                                           max_value=1.0)})
    history = rec["tag_history"]
    if history:
        with st.expander(f"Provenance: every tag ({len(history)})"):
            st.dataframe(pd.DataFrame([{
                "facet": h["facet"], "label": h["label"], "origin": h["origin"],
                "probability": h["probability"], "model": h["model_version"] or "",
                "not this label": bool(h["negative"]), "by": h["user"] or "",
                "when": h["created_at"]} for h in history]), hide_index=True, width="stretch")
    st.page_link(c.REVIEW_PAGE, label="Correct these tags", icon=":material/edit:",
                 query_params={"id": str(rec["id"])})


def _mesh(rec: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**MeSH headings**")
        mesh = rec.get("mesh") or []
        if not mesh:
            st.caption("None (MeSH is added by NLM indexing; preprints and new records lack it).")
        for m in mesh:
            quals = ", ".join(q.get("name", "") for q in m.get("qualifiers") or [])
            star = " ★" if m.get("major") else ""
            st.markdown(f"- {c.safe(m.get('name'))}{star}" + (f" · {c.safe(quals)}"
                                                               if quals else ""))
        if rec.get("chemicals"):
            st.markdown("**Substances**")
            st.markdown(" · ".join(c.safe(x.get("name")) for x in rec["chemicals"]))
    with right:
        st.markdown("**Publication types**")
        for p in rec.get("publication_types") or ["—"]:
            st.markdown(f"- {c.safe(p)}")
        if rec.get("keywords"):
            st.markdown("**Keywords**")
            st.markdown(" · ".join(c.safe(k) for k in rec["keywords"]))


def _trials(rec: dict[str, Any]) -> None:
    trials = rec["trials"]
    if not trials:
        st.caption("No registered trial linked to this record.")
        return
    for t in trials:
        url = ctgov_url(t["nct_id"])
        title = t.get("brief_title") or ""
        head = f"[{c.safe(t['nct_id'])}](<{url}>)" if url else c.safe(t["nct_id"])
        bits = [head]
        if title:
            bits.append(c.safe(title))
        if t.get("overall_status"):
            bits.append(c.badge(c.safe(str(t["overall_status"]).replace("_", " ").lower())))
        if t.get("phases"):
            bits.append(c.badge(c.safe(", ".join(t["phases"]))))
        evidence = {"databank": "PubMed databank link", "abstract": "named in the abstract",
                    "trial_reference": "trial registry reference", "record": "named in the record"}
        bits.append(f"*{evidence.get(t.get('evidence') or '', t.get('evidence') or '')}*")
        st.markdown(" · ".join(bits))


def _versions(rec: dict[str, Any]) -> None:
    shown = False
    for link in rec["links"]:
        rel = RELATIONS.get(link["relation"], link["relation"])
        arrow = "→" if link["direction"] == "out" else "←"
        c.compact_link(link, key=f"link-{link['direction']}-{link['relation']}")
        st.caption(f"{arrow} {rel}" + (" (preprint)" if link.get("is_preprint") else ""))
        shown = True
    for key, value in (rec.get("version_links") or {}).items():
        st.markdown(f"**{c.safe(VERSION_KEYS.get(key, key))}:** {c.safe(value)}")
        shown = True
    related = rec.get("related_by_pmid") or {}
    for cc in rec.get("comments_corrections") or []:
        kind = cc.get("ref_type")
        if kind not in NOTICE_TYPES:
            continue
        other = related.get(cc.get("pmid") or "")
        if other:
            c.compact_link(other, key=f"cc-{kind}")
            st.caption(NOTICE_TYPES[kind])
        else:
            target = f"PMID {c.safe(cc.get('pmid'))}" if cc.get("pmid") else ""
            source = c.safe(cc.get("ref_source") or "")
            st.markdown(f"**{NOTICE_TYPES[kind]}:** {source} {target}")
        shown = True
    if not shown:
        st.caption("No other versions, corrections or retraction notices.")


def main() -> None:
    rid = _pick_record()
    if rid is None:
        return
    rec = data.record_detail(rid)
    if rec is None:
        st.title("Record")
        st.error("No record with this id.", icon=":material/error:")
        return
    if rec.get("is_retracted"):
        st.error("**This publication has been retracted.** See the retraction notice below "
                 "before relying on it.", icon=":material/block:")
    if rec.get("has_concern"):
        st.warning("An expression of concern was published for this record.",
                   icon=":material/warning:")
    if rec.get("duplicate_of"):
        st.info("This record was merged into another one.", icon=":material/merge:")
        st.page_link(c.RECORD_PAGE, label="Open the kept record",
                     query_params={"id": str(rec["duplicate_of"])})
    st.markdown(f"## {c.safe(rec.get('title') or '(untitled)')}")
    design = next((x["label"] for x in rec["labels"] if x["facet"] == "design"), None)
    parts = [c.meta_line(rec), c.design_badge(design), *c.status_badges(rec)]
    st.markdown(" · ".join(p for p in parts if p))
    if rec.get("authors"):
        st.caption(c.authors_line(rec))
    links = identifier_links(rec)
    cols = st.columns([5, 1], vertical_alignment="center")
    with cols[0]:
        if links:
            st.markdown(" · ".join(f"{kind} [{c.safe(ident)}](<{url}>)"
                                   for kind, ident, url in links))
        else:
            st.caption(f"Key: {c.safe(rec['key'])}")
    with cols[1]:
        c.add_button(rec["id"], key=f"add-record-{rec['id']}", label="Add to list")
    chip_line = c.chips(rec["labels"], limit=30)
    if chip_line:
        st.markdown(chip_line)

    st.subheader("Abstract")
    _abstract(rec)
    tabs = st.tabs(["Tags", "MeSH & publication types", "Trials", "Versions & notices"])
    with tabs[0]:
        _tags(rec)
    with tabs[1]:
        _mesh(rec)
    with tabs[2]:
        _trials(rec)
    with tabs[3]:
        _versions(rec)


main()
