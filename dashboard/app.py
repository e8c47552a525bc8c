"""Entry point of the dashboard: page set-up, navigation, the shared sidebar.

Run it with ``kb serve`` (which passes the database URL), or
``KB_DATABASE_URL=sqlite:///data/kb.sqlite streamlit run dashboard/app.py``.
"""

from __future__ import annotations

import streamlit as st

from dashboard import components, data

st.set_page_config(page_title="Ketamine evidence", page_icon=":material/biotech:",
                   layout="wide", initial_sidebar_state="expanded")

# The page scripts live in ``views/``, not ``pages/``: Streamlit would also pick up a ``pages/``
# folder as an old-style multipage app and run a deep-linked page without this router.
PAGES = {
    "Evidence": [
        st.Page("views/browser.py", title="Evidence browser", icon=":material/search:",
                url_path="browser", default=True),
        st.Page("views/evidence_map.py", title="Evidence map", icon=":material/grid_on:",
                url_path="evidence_map"),
        st.Page("views/trends.py", title="Trends", icon=":material/show_chart:",
                url_path="trends"),
        st.Page("views/whats_new.py", title="What's new", icon=":material/new_releases:",
                url_path="whats_new"),
        st.Page("views/trials.py", title="Trials", icon=":material/clinical_notes:",
                url_path="trials"),
    ],
    "Curate": [
        st.Page("views/reading_lists.py", title="Reading lists", icon=":material/bookmarks:",
                url_path="reading_lists"),
        st.Page("views/tag_review.py", title="Tag review", icon=":material/fact_check:",
                url_path="tag_review"),
        st.Page("views/record.py", title="Record", icon=":material/article:",
                url_path="record", visibility="hidden"),
    ],
}

# Widget state is dropped when its page is not shown; re-assigning keeps the browser's filters
# (and the active reading list) while a person visits other pages.
PERSISTENT = ("q", "sort", "sources", "years", "include_incidental", "show_retracted",
              "human_verified", "added_since", components.ACTIVE_LIST)
for _key in list(st.session_state.keys()):
    if _key in PERSISTENT or str(_key).startswith(("f_", "page_")):
        st.session_state[_key] = st.session_state[_key]

page = st.navigation(PAGES)
with st.sidebar:
    b = data.bounds()
    st.caption(f"{b['records']:,} records · {b['tagged']:,} tagged")
page.run()
components.reading_list_sidebar()
