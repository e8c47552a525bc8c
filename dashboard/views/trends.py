"""Trends: records per publication year, by condition and by design."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from kb.browse import EVIDENCE_ORDER, Filters

DEFAULT_CONDITIONS = ("depression", "trd", "suicidality", "chronic_pain", "acute_pain",
                      "anesthesia_sedation")


def _frame(rows: list[dict[str, object]], year_from: int | None) -> pd.DataFrame:
    """Counts per (year, label), with the years without records filled in as zeros."""
    df = pd.DataFrame(rows, columns=["year", "label", "n"])
    if year_from is not None and not df.empty:
        df = df[df["year"] >= year_from]
    if not df.empty:
        years = range(int(df["year"].min()), int(df["year"].max()) + 1)
        full = pd.MultiIndex.from_product([years, sorted(set(df["label"]))],
                                          names=["year", "label"])
        df = (df.groupby(["year", "label"])["n"].sum().reindex(full, fill_value=0)
              .reset_index())
    df["Label"] = [c.label_title(str(x)) for x in df["label"]]
    return df


def main() -> None:
    st.title("Trends")
    st.caption("Records per publication year. Tagged records only; the current year is "
               "incomplete.")
    b = data.bounds()
    top = st.columns([2, 1], vertical_alignment="bottom")
    incidental = top[1].toggle("Include incidental mentions", key="trend_incidental")
    year_from = None
    if b["year_min"] is not None and b["year_max"] is not None and b["year_min"] < b["year_max"]:
        lo = max(int(b["year_min"]), int(b["year_max"]) - 25)
        year_from = top[0].slider("From", int(b["year_min"]), int(b["year_max"]), lo,
                                  key="trend_from")
    f = Filters(include_incidental=incidental)

    st.subheader("By condition")
    conds = st.multiselect("Conditions", c.facet_labels("condition"), key="trend_conditions",
                           default=list(DEFAULT_CONDITIONS), format_func=c.label_title)
    by_cond = _frame(data.year_counts(f, "condition"), year_from)
    by_cond = by_cond[by_cond["label"].isin(conds)] if conds else by_cond
    if by_cond.empty:
        st.info("No dated, tagged records for these settings.", icon=":material/info:")
    else:
        sel = alt.selection_point(fields=["Label"], bind="legend")
        chart = alt.Chart(by_cond).mark_line(point=True, strokeWidth=2).encode(
            x=alt.X("year:O", title="Publication year", axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("n:Q", title="Records"),
            color=alt.Color("Label:N", title="Condition",
                            legend=alt.Legend(orient="right")),
            opacity=alt.condition(sel, alt.value(1), alt.value(0.15)),
            tooltip=[alt.Tooltip("Label:N", title="Condition"), alt.Tooltip("year:O"),
                     alt.Tooltip("n:Q", title="Records")],
        ).add_params(sel).properties(height=340)
        st.altair_chart(chart, width="stretch")

    st.subheader("By study design")
    by_design = _frame(data.year_counts(f, "design"), year_from)
    if by_design.empty:
        st.info("No dated, tagged records for these settings.", icon=":material/info:")
        return
    share = st.toggle("Show as share of each year", key="trend_share")
    order = [c.label_title(d) for d in EVIDENCE_ORDER]
    by_design["rank"] = [EVIDENCE_ORDER.index(str(x)) if x in EVIDENCE_ORDER else 99
                         for x in by_design["label"]]
    chart = alt.Chart(by_design).mark_bar().encode(
        x=alt.X("year:O", title="Publication year", axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("n:Q", title="Share of records" if share else "Records",
                stack="normalize" if share else "zero",
                axis=alt.Axis(format="%" if share else "d")),
        color=alt.Color("Label:N", title="Design", sort=order,
                        scale=alt.Scale(domain=order, range=list(c.DESIGN_COLORS.values()))),
        order=alt.Order("rank:Q"),
        tooltip=[alt.Tooltip("Label:N", title="Design"), alt.Tooltip("year:O"),
                 alt.Tooltip("n:Q", title="Records")],
    ).properties(height=340)
    st.altair_chart(chart, width="stretch")


main()
