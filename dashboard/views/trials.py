"""Trials: registered trials by status and phase, with links to their publications."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from kb.browse import Filters
from kb.exports import ctgov_url

STATUS_ORDER = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION",
                "ACTIVE_NOT_RECRUITING", "COMPLETED", "SUSPENDED", "TERMINATED", "WITHDRAWN",
                "UNKNOWN")
LINKED_SHOWN = 30
PHASE_ORDER = ("Early phase 1", "Phase 1", "Phase 1/2", "Phase 2", "Phase 2/3", "Phase 3",
               "Phase 4", "Not applicable")


def phase_label(phases: list[str] | None) -> str:
    """``["PHASE2", "PHASE3"]`` → ``Phase 2/3``; none → ``Not applicable``."""
    names = [str(p).upper() for p in phases or []]
    if not names or names == ["NA"]:
        return "Not applicable"
    if "EARLY_PHASE1" in names:
        return "Early phase 1"
    nums = sorted(p.removeprefix("PHASE") for p in names if p.startswith("PHASE"))
    return "Phase " + "/".join(nums) if nums else "Not applicable"


def status_label(status: str | None) -> str:
    return (status or "UNKNOWN").replace("_", " ").capitalize()


def _frame(trials: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "nct_id": t["nct_id"], "Registry": ctgov_url(t["nct_id"]),
        "Title": t.get("brief_title") or t.get("official_title") or "",
        "status": t.get("overall_status") or "UNKNOWN",
        "Status": status_label(t.get("overall_status")), "Phase": phase_label(t.get("phases")),
        "Enrollment": t.get("enrollment"), "Start": t.get("start_date"),
        "Sponsor": t.get("sponsor") or "", "Results posted": bool(t.get("has_results")),
        "Publications": int(t.get("publications") or 0), "record_id": t.get("record_id"),
        "Conditions": "; ".join(t.get("conditions") or []),
    } for t in trials])


def _empty(b: dict[str, Any]) -> None:
    st.info("No registered trials are stored yet: run `kb harvest ctgov`.",
            icon=":material/clinical_notes:")
    if "ctgov-text" in b["sources"]:
        st.markdown("Registry texts of ketamine trials are available as records.")
        st.page_link(c.BROWSER_PAGE, label="Browse the registry-text records",
                     icon=":material/search:",
                     query_params=Filters(sources=("ctgov-text",), include_incidental=True)
                     .to_query_params())


def _publications(row: pd.Series) -> None:
    nct = str(row["nct_id"])
    st.markdown(f"**[{c.safe(nct)}](<{row['Registry']}>)** · {c.safe(row['Title'])}")
    st.caption(f"{row['Status']} · {row['Phase']} · enrollment {row['Enrollment'] or '?'} · "
               f"{c.safe(row['Sponsor'])}")
    if row["record_id"] is not None and not pd.isna(row["record_id"]):
        st.page_link(c.RECORD_PAGE, label="Registry record (tags, text)",
                     icon=":material/description:",
                     query_params={"id": str(int(row["record_id"]))})
    pubs = data.trial_publications((nct,)).get(nct, [])
    if not pubs:
        st.caption("No publication linked to this trial yet.")
    for p in pubs:
        c.compact_link(p, key=f"trialpub-{nct}")


def main() -> None:
    st.title("Trials")
    b = data.bounds()
    trials = data.trials()
    if not trials:
        _empty(b)
        return
    df = _frame(trials)
    top = st.columns([2, 2, 2, 1.2], vertical_alignment="bottom")
    statuses = [s for s in STATUS_ORDER if s in set(df["status"])] + sorted(
        set(df["status"]) - set(STATUS_ORDER))
    pick_status = top[0].multiselect("Status", statuses, key="trial_status",
                                     format_func=status_label, placeholder="Any status")
    phases = [p for p in PHASE_ORDER if p in set(df["Phase"])]
    pick_phase = top[1].multiselect("Phase", phases, key="trial_phase",
                                    placeholder="Any phase")
    text = top[2].text_input("Title, condition or sponsor contains", key="trial_text",
                             max_chars=200)
    with_pubs = top[3].toggle("With publications", key="trial_pubs")
    view = df
    if pick_status:
        view = view[view["status"].isin(pick_status)]
    if pick_phase:
        view = view[view["Phase"].isin(pick_phase)]
    if text.strip():
        needle = text.strip().lower()
        hay = (view["Title"] + " " + view["Conditions"] + " " + view["Sponsor"]).str.lower()
        view = view[hay.str.contains(needle, regex=False)]
    if with_pubs:
        view = view[view["Publications"] > 0]

    m = st.columns(4)
    m[0].metric("Trials", f"{len(view):,}")
    m[1].metric("Recruiting", f"{int((view['status'] == 'RECRUITING').sum()):,}")
    m[2].metric("Completed", f"{int((view['status'] == 'COMPLETED').sum()):,}")
    m[3].metric("With results posted", f"{int(view['Results posted'].sum()):,}")

    if not view.empty:
        counts = view.groupby(["Status", "Phase"]).size().reset_index(name="Trials")
        chart = alt.Chart(counts).mark_bar().encode(
            y=alt.Y("Status:N", sort="-x", title=None),
            x=alt.X("Trials:Q", title="Trials"),
            color=alt.Color("Phase:N", sort=list(PHASE_ORDER),
                            scale=alt.Scale(domain=list(PHASE_ORDER), scheme="blues"),
                            legend=alt.Legend(orient="bottom")),
            order=alt.Order("Phase:N"),
            tooltip=["Status", "Phase", "Trials"],
        ).properties(height=max(120, 28 * counts["Status"].nunique() + 40))
        st.altair_chart(chart, width="stretch")

    st.caption("Select a trial to see its publications.")
    event = st.dataframe(
        view[["nct_id", "Registry", "Title", "Status", "Phase", "Enrollment", "Start",
              "Publications", "Results posted"]],
        hide_index=True, width="stretch", key="trial_table", on_select="rerun",
        selection_mode="single-row",
        column_config={"nct_id": st.column_config.TextColumn("NCT id"),
                       "Registry": st.column_config.LinkColumn(
                           "ClinicalTrials.gov", display_text="open")})
    rows = list(event.get("selection", {}).get("rows", [])) if event else []
    if rows and rows[0] < len(view):
        with st.container(border=True):
            _publications(view.iloc[rows[0]])
    linked = view[view["Publications"] > 0].head(LINKED_SHOWN)
    if not linked.empty:
        with st.expander(f"Publications of {len(linked)} listed trials", expanded=False):
            pubs = data.trial_publications(tuple(linked["nct_id"]))
            for nct, title in zip(linked["nct_id"], linked["Title"], strict=True):
                st.markdown(f"**{c.safe(nct)}** · {c.safe(title)}")
                for p in pubs.get(nct, []):
                    c.compact_link(p, key=f"linked-{nct}")


main()
