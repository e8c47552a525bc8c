"""Evidence browser: facet filters with live counts, a summary strip, full-text search, results.

The filters live in widget state and are mirrored in the URL (so a filtered view can be
shared, and the evidence map can open the browser on one of its cells).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard import components as c
from kb.browse import EVIDENCE_ORDER, SORTS, Filters
from kb.taxonomy import FACET_NAMES

FACET_KEY = {f: f"f_{f}" for f in FACET_NAMES}
TOGGLES = ("include_incidental", "show_retracted", "human_verified")
SORT_TITLES = {"newest": "Newest", "evidence": "Evidence level", "relevance": "Relevance"}
EXPANDED = ("condition", "design")


def _years(b: dict[str, Any]) -> tuple[int, int] | None:
    if b["year_min"] is None or b["year_max"] is None or b["year_min"] == b["year_max"]:
        return None
    return int(b["year_min"]), int(b["year_max"])


def _apply_url(b: dict[str, Any]) -> None:
    """Load filters from the URL when it carries new ones (a shared link, a map cell)."""
    qp = st.query_params.to_dict()
    qp.pop("page", None)
    if not qp or qp == st.session_state.get("_browser_qp"):
        return
    f = Filters.from_query_params(qp)
    for facet in FACET_NAMES:
        st.session_state[FACET_KEY[facet]] = list(f.labels.get(facet, ()))
    st.session_state["q"] = f.search
    st.session_state["sort"] = f.sort
    st.session_state["sources"] = list(f.sources)
    for name in TOGGLES:
        st.session_state[name] = bool(getattr(f, name))
    st.session_state["added_since"] = f.added_since
    span = _years(b)
    if span:
        st.session_state["years"] = (max(span[0], f.year_from or span[0]),
                                     min(span[1], f.year_to or span[1]))


def _filters(b: dict[str, Any]) -> Filters:
    """The current filters, read from widget state (widgets are drawn after this)."""
    ss = st.session_state
    year_from = year_to = None
    span = _years(b)
    if span and ss.get("years"):
        lo, hi = ss["years"]
        year_from = int(lo) if lo > span[0] else None
        year_to = int(hi) if hi < span[1] else None
    return Filters(labels={f: tuple(ss.get(FACET_KEY[f]) or ()) for f in FACET_NAMES},
                   year_from=year_from, year_to=year_to,
                   sources=tuple(ss.get("sources") or ()),
                   show_retracted=bool(ss.get("show_retracted")),
                   human_verified=bool(ss.get("human_verified")),
                   include_incidental=bool(ss.get("include_incidental")),
                   search=str(ss.get("q") or ""), sort=str(ss.get("sort") or "newest"),
                   added_since=ss.get("added_since"))


def _clear() -> None:
    for facet in FACET_NAMES:
        st.session_state[FACET_KEY[facet]] = []
    for name in TOGGLES:
        st.session_state[name] = False
    st.session_state["q"] = ""
    st.session_state["sources"] = []
    st.session_state.pop("years", None)
    st.session_state["added_since"] = None


def _clear_since() -> None:
    st.session_state["added_since"] = None


def _pick_design() -> None:
    """Clicking a bar of the evidence pyramid filters on that design."""
    state = st.session_state.get("pyramid")
    points = (state or {}).get("selection", {}).get("level", []) if state else []
    if points:
        st.session_state[FACET_KEY["design"]] = [points[0]["design"]]


def _with_count(counts: dict[str, int]) -> Callable[[str], str]:
    return lambda lab: f"{c.label_title(lab)} · {counts.get(lab, 0):,}"


def _sidebar(b: dict[str, Any], counts: dict[str, dict[str, int]]) -> None:
    ss = st.session_state
    with st.sidebar:
        st.subheader("Filters")
        st.toggle("Include incidental mentions", key="include_incidental",
                  help="By default only records where ketamine is the primary or a secondary "
                       "subject are shown.")
        for facet in FACET_NAMES:
            n = counts.get(facet, {})
            chosen = ss.get(FACET_KEY[facet]) or []
            title = c.FACET_TITLES[facet] + (f" ({len(chosen)})" if chosen else "")
            with st.expander(title, expanded=facet in EXPANDED or bool(chosen)):
                st.pills(c.FACET_TITLES[facet], c.facet_labels(facet), selection_mode="multi",
                         key=FACET_KEY[facet], label_visibility="collapsed",
                         format_func=_with_count(n))
        span = _years(b)
        if span:
            if not ss.get("years"):
                ss["years"] = span
            st.slider("Publication year", span[0], span[1], key="years")
        sources = counts.get("source", {})
        st.multiselect("Source", b["sources"], key="sources",
                       format_func=lambda s: f"{s} ({sources.get(s, 0):,})",
                       placeholder="All sources")
        if ss.get("added_since"):
            st.button(f"Added since {ss['added_since']:%Y-%m-%d %H:%M} ✕", key="clear_since",
                      on_click=_clear_since, help="Show records of any age")
        st.toggle("Show retracted records", key="show_retracted")
        st.toggle("Human-verified tags only", key="human_verified")
        st.button("Clear all filters", icon=":material/filter_alt_off:", on_click=_clear,
                  width="stretch")


def _pyramid(f: Filters, counts: dict[str, dict[str, int]]) -> alt.Chart:
    chosen = f.labels.get("design")
    rows = []
    for design in EVIDENCE_ORDER:
        n = counts.get("design", {}).get(design, 0)
        if chosen and design not in chosen:
            n = 0
        rows.append({"design": design, "level": c.label_title(design), "n": n,
                     "left": -n / 2, "right": n / 2})
    df = pd.DataFrame(rows)
    order = [c.label_title(d) for d in EVIDENCE_ORDER]
    pick = alt.selection_point(name="level", fields=["design"], on="click")
    base = alt.Chart(df).encode(y=alt.Y("level:N", sort=order, title=None,
                                        axis=alt.Axis(labelLimit=220, ticks=False,
                                                      domain=False, labelOverlap=False)))
    bars = base.mark_bar(cornerRadius=2, height={"band": 0.85}).encode(
        x=alt.X("left:Q", axis=None), x2="right:Q",
        color=alt.Color("design:N", scale=alt.Scale(domain=list(EVIDENCE_ORDER),
                                                    range=list(c.DESIGN_COLORS.values())),
                        legend=None),
        tooltip=[alt.Tooltip("level:N", title="Design"), alt.Tooltip("n:Q", title="Records")],
    ).add_params(pick)
    labels = base.mark_text(align="left", dx=4, fontSize=11, color="#444").encode(
        x="right:Q", text=alt.Text("n:Q", format=","))
    return (bars + labels).properties(height=260, title="Evidence pyramid (click a level)")


def _summary(f: Filters, total: int, counts: dict[str, dict[str, int]]) -> None:
    left, mid, right = st.columns([1.1, 2.2, 2.4], gap="medium")
    with left:
        st.metric("Matching records", f"{total:,}")
        safety = data.count(f, ("outcome", "safety_tolerability")) if total else 0
        st.metric("Safety reported", f"{safety / total:.0%}" if total else "–",
                  help=f"{safety:,} of {total:,} records measure adverse events, side effects "
                       "or tolerability.")
        top = sum(counts.get("design", {}).get(d, 0) for d in EVIDENCE_ORDER[:2]
                  if not f.labels.get("design") or d in f.labels["design"])
        st.metric("Systematic reviews + RCTs", f"{top:,}")
    with mid:
        st.altair_chart(_pyramid(f, counts), key="pyramid", on_select=_pick_design,
                        selection_mode="level", width="stretch")
    with right:
        for design, title in (("systematic_review_meta_analysis",
                               "Newest systematic reviews"), ("rct", "Newest RCTs")):
            if f.labels.get("design") and design not in f.labels["design"]:
                continue
            st.markdown(f"**{title}**")
            newest = data.newest_of_design(f, design, 3)
            if not newest:
                st.caption("None for these filters.")
            for row in newest:
                c.compact_link(row, key=f"new-{design}")


def main() -> None:
    b = data.bounds()
    st.session_state.setdefault("sort", "newest")
    _apply_url(b)
    f = _filters(b)
    counts = data.browse_counts(f)
    _sidebar(b, counts)

    st.title("Evidence browser")
    if b["tagged"] < b["records"]:
        st.info(f"{b['records'] - b['tagged']:,} of {b['records']:,} records are not tagged yet "
                "(run `kb tag`). Untagged records only show with “Include incidental "
                "mentions”.", icon=":material/info:")
    search_col, sort_col = st.columns([3, 2], vertical_alignment="bottom")
    with search_col:
        st.text_input("Search titles and abstracts", key="q", max_chars=300,
                      placeholder='e.g. esketamine "nasal spray" -rat',
                      help='Words are AND-ed; "quoted phrases", OR, and -word to exclude.')
    with sort_col:
        st.segmented_control("Sort by", SORTS, key="sort", required=True,
                             format_func=lambda s: SORT_TITLES[s])
    if f.sort == "relevance" and not f.search.strip():
        st.caption("Relevance needs a search; sorted by newest.")

    page_size = int(data.settings()["page_size"])
    # One pagination widget per filter set: a filter change starts again on page 1.
    digest = hashlib.sha256(repr((f.cache_key(), f.effective_sort)).encode()).hexdigest()[:12]
    page_key = f"page_{digest}"
    page_no = max(1, int(st.session_state.get(page_key) or 1))
    total, rows = data.browse_page(f, page_size, (page_no - 1) * page_size)
    pages = max(1, -(-total // page_size))
    if page_no > pages:
        page_no = 1
        total, rows = data.browse_page(f, page_size, 0)

    qp = f.to_query_params()
    if st.query_params.to_dict() != qp:
        st.query_params.from_dict(qp)
    st.session_state["_browser_qp"] = qp

    _summary(f, total, counts)
    st.divider()
    if not rows:
        st.warning("No records match these filters. Remove a filter or broaden the search.",
                   icon=":material/search_off:")
        return
    head, add_all = st.columns([4, 1], vertical_alignment="center")
    first = (page_no - 1) * page_size + 1
    head.markdown(f"**{first:,}–{first + len(rows) - 1:,}** of **{total:,}** records")
    anonymous = auth.current_user() is None
    add_all.button("Add page to list", icon=":material/playlist_add:", key="add_page",
                   on_click=c.add_records, args=([r["id"] for r in rows],), width="stretch",
                   disabled=anonymous, help=auth.ANONYMOUS_WRITE if anonymous else None)
    for row in rows:
        c.record_card(row, key="b")
    if pages > 1:
        st.pagination(pages, key=page_key)


main()
