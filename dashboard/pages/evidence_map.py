"""Evidence map: condition × outcome and condition × route matrices.

Each cell is a bubble sized by its number of records and coloured by the strongest design
present (systematic review > RCT > ...); empty cells stay visible as gaps. Clicking a cell
opens the evidence browser filtered to it.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from kb.browse import EVIDENCE_ORDER, EVIDENCE_RANK, Filters

MATRICES = {"outcome": "Condition × outcome", "route": "Condition × route"}
DESIGN_SETS = {"all": "All designs", "sr_rct": "Systematic reviews and RCTs",
               "trials": "Trials (randomised or not)"}
DESIGN_FILTER = {"all": (), "sr_rct": ("systematic_review_meta_analysis", "rct"),
                 "trials": ("rct", "nonrandomized_trial")}


def _cells(rows: list[dict[str, Any]], col_facet: str) -> pd.DataFrame:
    """One row per (condition, column label), including empty cells."""
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        cell = agg.setdefault((r["row"], r["col"]), {"n": 0, "by": {}})
        cell["n"] += int(r["n"])
        cell["by"][r["design"]] = cell["by"].get(r["design"], 0) + int(r["n"])
    out = []
    for cond in c.facet_labels("condition"):
        for col in c.facet_labels(col_facet):
            cell = agg.get((cond, col), {"n": 0, "by": {}})
            by = cell["by"]
            best = min(by, key=lambda d: EVIDENCE_RANK.get(d, 99)) if by else None
            out.append({
                "condition": cond, "col": col,
                "Condition": c.label_title(cond), "Column": c.label_title(col),
                "n": cell["n"], "best": best or "none",
                "Strongest design": c.label_title(best) if best else "— (evidence gap)",
                "Systematic reviews": by.get("systematic_review_meta_analysis", 0),
                "RCTs": by.get("rct", 0),
                "Other designs": cell["n"] - by.get("systematic_review_meta_analysis", 0)
                - by.get("rct", 0),
            })
    return pd.DataFrame(out)


def _chart(df: pd.DataFrame, col_title: str) -> alt.LayerChart:
    rows = [c.label_title(x) for x in c.facet_labels("condition")]
    cols = list(dict.fromkeys(df["Column"]))
    pick = alt.selection_point(name="cell", fields=["condition", "col"], on="click",
                               clear=False)
    tooltip = [alt.Tooltip("Condition:N"), alt.Tooltip("Column:N", title=col_title),
               alt.Tooltip("n:Q", title="Records"), alt.Tooltip("Strongest design:N"),
               alt.Tooltip("Systematic reviews:Q"), alt.Tooltip("RCTs:Q"),
               alt.Tooltip("Other designs:Q")]
    x = alt.X("Column:N", sort=cols, title=col_title,
              axis=alt.Axis(labelAngle=-35, labelLimit=180, orient="top"))
    y = alt.Y("Condition:N", sort=rows, title=None, axis=alt.Axis(labelLimit=200))
    grid = alt.Chart(df).mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        x=x, y=y,
        color=alt.condition("datum.n == 0", alt.value("#fbe9e7"), alt.value("#f5f6f8")),
        tooltip=tooltip).add_params(pick)
    palette = alt.Scale(domain=list(EVIDENCE_ORDER), range=list(c.DESIGN_COLORS.values()))
    bubbles = alt.Chart(df[df["n"] > 0]).mark_circle(opacity=0.9, stroke="#333",
                                                     strokeWidth=0.4).encode(
        x=x, y=y,
        size=alt.Size("n:Q", title="Records", scale=alt.Scale(range=[30, 1400]),
                      legend=alt.Legend(orient="bottom")),
        color=alt.Color("best:N", title="Strongest design", scale=palette,
                        legend=alt.Legend(orient="bottom", columns=4,
                                          labelExpr=_label_expr())),
        tooltip=tooltip)
    gaps = alt.Chart(df[df["n"] == 0]).mark_text(text="–", color="#c62828", fontSize=12).encode(
        x=x, y=y, tooltip=tooltip)
    return (grid + bubbles + gaps).properties(height=32 * len(rows) + 40)


def _label_expr() -> str:
    pairs = " ".join(f"datum.value == '{d}' ? '{c.label_title(d)}' :" for d in EVIDENCE_ORDER)
    return f"{pairs} datum.value"


def _open(condition: str, col_facet: str, col: str, base: Filters) -> None:
    params = base.with_labels("condition", [condition]).with_labels(col_facet, [col])
    st.switch_page(c.BROWSER_PAGE, query_params=params.to_query_params())


def main() -> None:
    st.title("Evidence map")
    st.caption("Where is the evidence, and where are the gaps? Bubble size: number of records; "
               "colour: the strongest design in the cell; a red dash marks an empty cell. "
               "Click a cell to open those records.")
    top = st.columns([2, 2, 1.3], vertical_alignment="bottom")
    col_facet = top[0].segmented_control("Matrix", list(MATRICES), key="map_matrix",
                                         format_func=MATRICES.__getitem__, default="outcome",
                                         required=True) or "outcome"
    design_set = top[1].segmented_control("Designs", list(DESIGN_SETS), key="map_designs",
                                          format_func=DESIGN_SETS.__getitem__, default="all",
                                          required=True) or "all"
    incidental = top[2].toggle("Include incidental mentions", key="map_incidental")
    b = data.bounds()
    year_from = None
    if b["year_min"] is not None and b["year_max"] is not None \
            and b["year_min"] < b["year_max"]:
        lo = st.slider("Published from", int(b["year_min"]), int(b["year_max"]),
                       int(b["year_min"]), key="map_from")
        year_from = lo if lo > int(b["year_min"]) else None
    base = Filters(labels={"design": DESIGN_FILTER[design_set]}, include_incidental=incidental,
                   year_from=year_from)
    rows = data.evidence_matrix(base, "condition", col_facet)
    df = _cells(rows, col_facet)
    if not rows:
        st.info("No tagged records for these settings yet (run `kb tag`).",
                icon=":material/info:")
    gaps = int((df["n"] == 0).sum())
    m = st.columns(3)
    m[0].metric("Cells with evidence", f"{len(df) - gaps}")
    m[1].metric("Evidence gaps (empty cells)", f"{gaps}")
    m[2].metric("Cells with an RCT or systematic review",
                f"{int(((df['RCTs'] + df['Systematic reviews']) > 0).sum())}")

    # A new chart key after each click, so coming back here does not re-open the same cell.
    n = st.session_state.setdefault("map_click", 0)
    col_title = c.FACET_TITLES[col_facet]
    event = st.altair_chart(_chart(df, col_title), key=f"map_chart_{col_facet}_{n}",
                            on_select="rerun", selection_mode="cell", width="stretch")
    selection: dict[str, Any] = dict(event.get("selection", {})) if event else {}
    points = list(selection.get("cell", []))
    if points and points[0].get("condition") and points[0].get("col"):
        st.session_state["map_click"] = n + 1
        _open(points[0]["condition"], col_facet, points[0]["col"], base)

    with st.expander("Open a cell without the chart"):
        pick = st.columns([2, 2, 1], vertical_alignment="bottom")
        cond = pick[0].selectbox("Condition", c.facet_labels("condition"),
                                 format_func=c.label_title, key="map_pick_row")
        col = pick[1].selectbox(col_title, c.facet_labels(col_facet),
                                format_func=c.label_title, key=f"map_pick_{col_facet}")
        params = base.with_labels("condition", [cond]).with_labels(col_facet, [col])
        pick[2].page_link(c.BROWSER_PAGE, label="Open in browser", icon=":material/search:",
                          query_params=params.to_query_params())
    with st.expander("Largest gaps next to well-studied cells"):
        _gap_table(df, col_title)


def _gap_table(df: pd.DataFrame, col_title: str) -> None:
    """Empty cells in rows and columns that otherwise have much evidence."""
    row_tot = df.groupby("condition")["n"].sum()
    col_tot = df.groupby("col")["n"].sum()
    empty = df[df["n"] == 0].copy()
    if empty.empty:
        st.caption("No empty cells.")
        return
    empty["Evidence around it"] = [int(row_tot[r] + col_tot[k])
                                   for r, k in zip(empty["condition"], empty["col"],
                                                   strict=True)]
    empty = empty.sort_values("Evidence around it", ascending=False).head(12)
    st.dataframe(empty[["Condition", "Column", "Evidence around it"]]
                 .rename(columns={"Column": col_title}), hide_index=True, width="stretch")


main()
