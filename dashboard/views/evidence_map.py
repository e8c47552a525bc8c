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
from kb.browse import Filters

MATRICES = {"outcome": "Condition × outcome", "route": "Condition × route"}
DESIGN_SETS = {"all": "All designs", "sr_rct": "Systematic reviews and RCTs",
               "trials": "Trials (randomised or not)"}
DESIGN_FILTER = {"all": (), "sr_rct": ("systematic_review_meta_analysis", "rct"),
                 "trials": ("rct", "nonrandomized_trial")}


GROUPS = ("Systematic reviews", "RCTs", "Other designs")
OFFSETS = (-0.28, 0.0, 0.28)
GROUP_COLORS = (c.DESIGN_COLORS["systematic_review_meta_analysis"], c.DESIGN_COLORS["rct"],
                "#9e9e9e")


def _group(design: str) -> str:
    if design == "systematic_review_meta_analysis":
        return GROUPS[0]
    return GROUPS[1] if design == "rct" else GROUPS[2]


def _cells(rows: list[dict[str, Any]], col_facet: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells (every condition × label, empty ones included) and their split by design.

    Columns are numbered (``xi``) so each cell's bubbles can sit side by side at
    ``xi - 0.28``, ``xi`` and ``xi + 0.28`` while the cell's background spans the column.
    """
    agg: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        by = agg.setdefault((r["row"], r["col"]), {})
        g = _group(r["design"])
        by[g] = by.get(g, 0) + int(r["n"])
    cells, parts = [], []
    for cond in c.facet_labels("condition"):
        for xi, col in enumerate(c.facet_labels(col_facet)):
            by = agg.get((cond, col), {})
            n = sum(by.values())
            base = {"condition": cond, "col": col, "Condition": c.label_title(cond),
                    "Column": c.label_title(col), "xi": xi}
            split = ", ".join(f"{g.lower()} {by.get(g, 0)}" for g in GROUPS)
            cells.append({**base, "x0": xi - 0.5, "x1": xi + 0.5, "n": n,
                          **{g: by.get(g, 0) for g in GROUPS},
                          "Cell": "evidence gap" if n == 0 else f"{n:,} records",
                          "aria": f"{base['Condition']} × {base['Column']}: "
                                  + ("evidence gap" if n == 0 else f"{n} records ({split})")})
            parts += [{**base, "Design": g, "k": by[g], "xp": xi + OFFSETS[i],
                       "aria": f"{base['Condition']} × {base['Column']}, {g.lower()}: {by[g]}"}
                      for i, g in enumerate(GROUPS) if by.get(g)]
    return pd.DataFrame(cells), pd.DataFrame(parts, columns=[
        "condition", "col", "Condition", "Column", "xi", "Design", "k", "xp", "aria"])


def _chart(cells: pd.DataFrame, parts: pd.DataFrame, col_title: str) -> alt.LayerChart:
    rows = [c.label_title(x) for x in c.facet_labels("condition")]
    cols = list(dict.fromkeys(cells["Column"]))
    names = "[" + ",".join(f"'{name}'" for name in cols) + "]"
    pick = alt.selection_point(name="cell", fields=["condition", "col"], on="click",
                               clear=False)
    tooltip = [alt.Tooltip("Condition:N"), alt.Tooltip("Column:N", title=col_title),
               alt.Tooltip("Cell:N", title="Records"),
               *[alt.Tooltip(f"{g}:Q") for g in GROUPS]]
    xscale = alt.Scale(domain=[-0.5, len(cols) - 0.5], nice=False, zero=False)
    xaxis = alt.Axis(values=list(range(len(cols))), labelExpr=f"{names}[datum.value]",
                     labelAngle=-40, labelLimit=170, orient="top", grid=False, ticks=False,
                     domain=False, labelOverlap=False, labelAlign="left")
    y = alt.Y("Condition:N", sort=rows, title=None,
              axis=alt.Axis(labelLimit=200, labelOverlap=False, ticks=False, domain=False))
    grid = alt.Chart(cells).mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        x=alt.X("x0:Q", scale=xscale, axis=xaxis, title=col_title), x2="x1:Q", y=y,
        color=alt.condition("datum.n == 0", alt.value("#fde7e4"), alt.value("#f3f4f7")),
        description=alt.Description("aria:N"), tooltip=tooltip).add_params(pick)
    bubbles = alt.Chart(parts).mark_circle(opacity=0.95).encode(
        x=alt.X("xp:Q", scale=xscale), y=y,
        size=alt.Size("k:Q", title="Records", scale=alt.Scale(range=[12, 380]),
                      legend=alt.Legend(orient="bottom")),
        color=alt.Color("Design:N", sort=list(GROUPS),
                        scale=alt.Scale(domain=list(GROUPS), range=list(GROUP_COLORS)),
                        legend=alt.Legend(orient="bottom", title="Design")),
        description=alt.Description("aria:N"),
        tooltip=[alt.Tooltip("Condition:N"), alt.Tooltip("Column:N", title=col_title),
                 alt.Tooltip("Design:N"), alt.Tooltip("k:Q", title="Records")])
    gaps = alt.Chart(cells[cells["n"] == 0]).mark_text(text="–", color="#c62828",
                                                       fontSize=14).encode(
        x=alt.X("xi:Q", scale=xscale), y=y, tooltip=tooltip)
    # SVG: every cell is an element with an aria-label (screen readers, browser tests).
    return (grid + bubbles + gaps).properties(
        height=34 * len(rows), usermeta={"embedOptions": {"renderer": "svg"}})


def _open(condition: str, col_facet: str, col: str, base: Filters) -> None:
    params = base.with_labels("condition", [condition]).with_labels(col_facet, [col])
    st.switch_page(c.BROWSER_PAGE, query_params=params.to_query_params())


def main() -> None:
    st.title("Evidence map")
    st.caption("Where is the evidence, and where are the gaps? Each cell splits its records "
               "into systematic reviews, RCTs and other designs (bubble size: number of "
               "records); a red cell with a dash is an evidence gap. Click a cell to open "
               "those records in the browser.")
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
    df, parts = _cells(rows, col_facet)
    if not rows:
        st.info("No tagged records for these settings yet (run `kb tag`).",
                icon=":material/info:")
    gaps = int((df["n"] == 0).sum())
    m = st.columns(3)
    m[0].metric("Cells with evidence", f"{len(df) - gaps}")
    m[1].metric("Evidence gaps (empty cells)", f"{gaps}")
    m[2].metric("Cells with an RCT or systematic review",
                f"{int(((df[GROUPS[0]] + df[GROUPS[1]]) > 0).sum())}")

    # A new chart key after each click, so coming back here does not re-open the same cell.
    n = st.session_state.setdefault("map_click", 0)
    col_title = c.FACET_TITLES[col_facet]
    event = st.altair_chart(_chart(df, parts, col_title), key=f"map_chart_{col_facet}_{n}",
                            on_select="rerun", selection_mode="cell", width="stretch",
                            height=34 * len(c.facet_labels("condition")) + 190)
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
