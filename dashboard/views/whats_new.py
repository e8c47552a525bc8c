"""What's new: records added since the last harvest (or in the last N days), by condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import components as c
from dashboard import data
from kb.browse import Filters

WINDOWS = {"last": "Since the last harvest", "7": "Last 7 days", "30": "Last 30 days",
           "90": "Last 90 days"}
PER_CONDITION = 5


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _runs() -> None:
    runs = data.recent_runs(10)
    if not runs:
        st.caption("No harvest has run yet (`kb harvest ...`); records came from `kb import`.")
        return
    df = pd.DataFrame([{
        "Source": r["source"], "Started": r["started_at"], "Finished": r["finished_at"],
        "Status": r["status"], "Found": r["found"], "New": r["inserted"],
        "Updated": r["updated"], "Unchanged": r["unchanged"], "Quarantined": r["quarantined"],
        "Window": f"{r['window_from'] or '…'} → {r['window_to'] or '…'}"} for r in runs])
    st.dataframe(df, hide_index=True, width="stretch", column_config={
        "Started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "Finished": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})


def main() -> None:
    st.title("What's new")
    last = data.last_harvest()
    runs = data.recent_runs(1)
    since_run = _as_utc(runs[0]["started_at"]) if runs and runs[0].get("started_at") else None
    options = list(WINDOWS) if since_run else [k for k in WINDOWS if k != "last"]
    choice = st.segmented_control("Window", options, key="new_window",
                                  default=options[0], format_func=WINDOWS.__getitem__,
                                  required=True) or options[0]
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # a stable cache key
    since = since_run if choice == "last" and since_run else now - timedelta(days=int(
        choice if choice != "last" else 30))
    incidental = st.toggle("Include incidental mentions", key="new_incidental")
    f = Filters(added_since=since, include_incidental=incidental)
    total = data.count(f)
    counts = data.browse_counts(f)
    m = st.columns(3)
    m[0].metric("New records", f"{total:,}")
    m[1].metric("Last harvest", last.strftime("%Y-%m-%d %H:%M") if last else "never")
    m[2].metric("Window starts", since.strftime("%Y-%m-%d %H:%M"))
    if not total:
        st.info("Nothing new in this window.", icon=":material/inbox:")
    else:
        cond = {k: v for k, v in counts.get("condition", {}).items() if v}
        if cond:
            df = pd.DataFrame([{"Condition": c.label_title(k), "label": k, "n": v}
                               for k, v in cond.items()]).sort_values("n", ascending=False)
            st.altair_chart(alt.Chart(df).mark_bar(color="#08519c").encode(
                x=alt.X("n:Q", title="New records"),
                y=alt.Y("Condition:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
                tooltip=["Condition", alt.Tooltip("n:Q", title="New records")],
            ).properties(height=24 * len(df) + 30), width="stretch")
        st.subheader("By condition")
        for label in c.facet_labels("condition"):
            n = cond.get(label, 0)
            if not n:
                continue
            with st.expander(f"{c.label_title(label)} · {n:,} new", expanded=False):
                _, rows = data.browse_page(f.with_labels("condition", [label]), PER_CONDITION, 0)
                for row in rows:
                    c.record_card(row, key=f"new-{label}")
                if n > PER_CONDITION:
                    st.page_link(c.BROWSER_PAGE, label=f"All {n:,} in the browser",
                                 icon=":material/search:",
                                 query_params=f.with_labels("condition", [label])
                                 .to_query_params())
    st.subheader("Recent harvests")
    _runs()


main()
