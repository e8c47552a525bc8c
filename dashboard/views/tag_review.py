"""Tag review: a reviewer corrects a record's tags.

The correction is stored with ``human`` provenance (and "not this label" for removed ones),
takes effect at once, survives re-tagging, and is used by the next training run.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import auth, data
from dashboard import components as c
from kb.browse import Filters
from kb.taxonomy import FACETS

QUEUE_SIZE = 15


def _queue() -> int | None:
    st.subheader("To review")
    st.caption("Untouched records, least certain design first.")
    incidental = st.toggle("Include incidental mentions", key="review_incidental")
    queue = data.review_queue(Filters(include_incidental=incidental), QUEUE_SIZE)
    if not queue:
        st.caption("Nothing to review: every matched record is reviewed or untagged.")
        return None
    ids = [int(r["id"]) for r in queue]
    titles = {int(r["id"]): str(r.get("title") or "(untitled)") for r in queue}
    probs = {int(r["id"]): r.get("design_probability") for r in queue}

    def fmt(i: int) -> str:
        p = probs.get(i)
        head = titles[i][:90] + ("…" if len(titles[i]) > 90 else "")
        return f"{head}  (design p={p:.2f})" if p is not None else head

    pick = st.radio("Record", ids, key="review_pick", format_func=fmt,
                    label_visibility="collapsed", index=None)
    return int(pick) if pick is not None else None


def _fmt(probs: dict[str, float | None]) -> Any:
    def fmt(label: str) -> str:
        p = probs.get(label)
        return c.label_title(label) + (f" · {p:.2f}" if p is not None else "")
    return fmt


def _save(record_id: int) -> None:
    ss = st.session_state
    labels: dict[str, list[str]] = {}
    for f in FACETS:
        value = ss.get(f"rv_{record_id}_{f.name}")
        if f.multi:
            labels[f.name] = list(value or [])
        elif value:
            labels[f.name] = [str(value)]
    reviewer = str(ss.get("reviewer") or "").strip() or None
    try:
        data.save_review(record_id, labels, reviewer)
    except ValueError as exc:
        st.toast(f"Not saved: {c.safe(exc)}", icon=":material/error:")
        return
    ss["review_saved"] = record_id
    ss.pop("review_pick", None)


def _form(rec: dict[str, Any]) -> None:
    rid = int(rec["id"])
    st.markdown(f"### {c.safe(rec.get('title') or '(untitled)')}")
    st.markdown(c.meta_line(rec) + "".join(" · " + b for b in c.status_badges(rec)))
    st.page_link(c.RECORD_PAGE, label="Open the record page", icon=":material/article:",
                 query_params={"id": str(rid)})
    with st.expander("Abstract", expanded=True):
        text = str(rec.get("abstract") or "").strip()
        st.markdown(c.safe(text) if text else "*No abstract.*")
    current: dict[str, list[dict[str, Any]]] = {}
    for lab in rec["labels"]:
        current.setdefault(lab["facet"], []).append(lab)
    human = any(lab["origin"] == "human" for lab in rec["labels"])
    if human:
        st.success("Already reviewed by a person; saving again replaces that review.",
                   icon=":material/verified:")
    with st.form(f"review_{rid}", border=True):
        if not auth.auth_configured():
            st.text_input("Reviewer", key="reviewer", max_chars=200,
                          help="Your name or initials, stored with the correction.")
        for f in FACETS:
            have = current.get(f.name, [])
            probs = {x["label"]: x["probability"] for x in have}
            chosen = [x["label"] for x in have]
            title = c.FACET_TITLES[f.name]
            origin = ", ".join(sorted({x["origin"] for x in have})) or "untagged"
            help_text = f"{f.description} Current tags come from: {origin}."
            if f.multi:
                st.multiselect(title, f.label_names, default=chosen, key=f"rv_{rid}_{f.name}",
                               format_func=_fmt(probs), help=help_text)
            else:
                index = f.label_names.index(chosen[0]) if chosen else None
                st.radio(title, f.label_names, index=index, key=f"rv_{rid}_{f.name}",
                         format_func=_fmt(probs), horizontal=True, help=help_text)
        st.form_submit_button("Save as human-verified", type="primary",
                              icon=":material/verified:", on_click=_save, args=(rid,))


def main() -> None:
    st.title("Tag review")
    st.caption("Correct a record's tags. Corrections are stored as human tags, win over the "
               "classifier, survive re-tagging and feed the next training run.")
    if auth.sign_in_prompt("review") is None:
        return
    saved = st.session_state.pop("review_saved", None)
    if saved:
        st.success("Saved. The next record from the queue is ready.", icon=":material/check:")
    left, right = st.columns([1.2, 2.5], gap="large")
    with left:
        queued = _queue()
    raw = st.query_params.get("id", "")
    rid = int(raw) if raw.isdigit() else queued
    with right:
        if rid is None:
            st.info("Pick a record from the queue, or use “Correct these tags” on a record "
                    "page.", icon=":material/fact_check:")
            return
        rec = data.record_for_review(rid)
        if rec is None:
            st.error("No record with this id.", icon=":material/error:")
            return
        _form(rec)


main()
