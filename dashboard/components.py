"""Small render helpers. Untrusted text (titles, abstracts, names) is always escaped.

``st.markdown`` is only ever given text passed through :func:`safe` (which escapes every
character that could start Markdown, HTML, math or a Streamlit directive) plus badges whose
text comes from the taxonomy. ``unsafe_allow_html`` is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import auth, data
from kb.browse import EVIDENCE_ORDER
from kb.exports import md_escape, short_authors
from kb.taxonomy import FACET_BY_NAME

RECORD_PAGE = "views/record.py"
BROWSER_PAGE = "views/browser.py"
LISTS_PAGE = "views/reading_lists.py"
REVIEW_PAGE = "views/tag_review.py"

FACET_TITLES = {"relevance": "Ketamine relevance", "agent": "Agent", "condition": "Condition",
                "route": "Route", "outcome": "Outcome", "design": "Study design"}
LABEL_TITLES: dict[str, str] = {
    "systematic_review_meta_analysis": "Systematic review / meta-analysis",
    "rct": "RCT",
    "nonrandomized_trial": "Non-randomised trial",
    "observational": "Observational",
    "case_report_series": "Case report / series",
    "narrative_review": "Narrative review",
    "guideline_consensus": "Guideline / consensus",
    "trd": "TRD",
    "ptsd": "PTSD",
    "ocd": "OCD",
    "anesthesia_sedation": "Anaesthesia / sedation",
    "perinatal_depression": "Perinatal depression",
    "substance_use": "Substance use",
    "sublingual_buccal": "Sublingual / buccal",
    "other_route": "Other route",
    "anxiety_ptsd_ocd_symptoms": "Anxiety / PTSD / OCD symptoms",
    "response_remission": "Response / remission",
    "relapse_maintenance": "Relapse / maintenance",
    "suicidality_outcome": "Suicidality",
    "pain_outcome": "Pain",
    "safety_tolerability": "Safety / tolerability",
    "misuse_dependence": "Misuse / dependence",
    "quality_of_life_function": "Quality of life / function",
    "biomarker_mechanism": "Biomarker / mechanism",
}
# Evidence levels, strongest first: a dark-to-light palette (colour-blind safe, ColorBrewer).
DESIGN_COLORS: dict[str, str] = dict(zip(EVIDENCE_ORDER, (
    "#3f007d", "#08519c", "#3182bd", "#2ca25f", "#99d8c9",
    "#fd8d3c", "#fdd0a2", "#bdbdbd", "#d9d9d9", "#f0f0f0"), strict=True))
_BADGE = {"systematic_review_meta_analysis": "violet", "rct": "blue",
          "nonrandomized_trial": "blue", "observational": "green",
          "case_report_series": "green", "guideline_consensus": "orange"}


def label_title(label: str | None) -> str:
    """A label as people read it (``trd`` → ``TRD``, ``acute_pain`` → ``Acute pain``)."""
    if not label:
        return ""
    return LABEL_TITLES.get(label) or label.replace("_", " ").capitalize()


def facet_labels(facet_name: str) -> tuple[str, ...]:
    return FACET_BY_NAME[facet_name].label_names


def safe(text: Any) -> str:
    """Untrusted text, escaped for ``st.markdown`` (shows exactly as typed)."""
    return md_escape(text)


def badge(text: str, color: str = "gray") -> str:
    """A Markdown badge; ``text`` must be trusted (taxonomy names, fixed words)."""
    return f":{color}-badge[{text}]"


def design_badge(design: str | None) -> str:
    if not design:
        return ""
    return badge(label_title(design), _BADGE.get(design, "gray"))


def status_badges(row: Mapping[str, Any]) -> list[str]:
    out = []
    if row.get("is_retracted"):
        out.append(badge(":material/block: Retracted", "red"))
    if row.get("has_concern"):
        out.append(badge(":material/warning: Expression of concern", "orange"))
    if row.get("is_preprint"):
        out.append(badge("Preprint", "yellow"))
    return out


def chips(labels: Iterable[Mapping[str, Any]], facets: Sequence[str] = ("agent", "condition",
                                                                        "route", "outcome"),
          limit: int = 9) -> str:
    """Tag chips (Markdown badges) of some facets; human-verified ones get a check mark."""
    out = []
    for lab in labels:
        if lab["facet"] not in facets:
            continue
        text = label_title(lab["label"])
        if lab.get("origin") == "human":
            text = ":material/verified: " + text
        out.append(badge(text, "gray" if lab["facet"] == "outcome" else "blue"))
    if len(out) > limit:
        out = [*out[:limit], badge(f"+{len(out) - limit}", "gray")]
    return " ".join(out)


def meta_line(row: Mapping[str, Any]) -> str:
    """``Journal · 2021 · source`` (escaped)."""
    parts = [f"*{safe(row['journal'])}*" if row.get("journal") else "",
             safe(row.get("pub_year") or "n.d."), safe(row.get("source") or "")]
    return " · ".join(p for p in parts if p)


# --- reading-list plumbing shared by every page ---

ACTIVE_LIST = "active_list"


def active_list() -> int | None:
    value = st.session_state.get(ACTIVE_LIST)
    return int(value) if value is not None else None


def add_records(record_ids: list[int]) -> None:
    """Add records to the active list (creating "My reading list" when there is none)."""
    list_id = active_list()
    if list_id is None or data.reading_list(list_id) is None:
        list_id = data.create_list("My reading list")
        st.session_state[ACTIVE_LIST] = list_id
    added = data.add_to_list(list_id, record_ids)
    meta = data.reading_list(list_id) or {"name": "reading list"}
    if added:
        st.toast(f"Added to “{safe(meta['name'])}”", icon=":material/playlist_add_check:")
    else:
        st.toast(f"Already on “{safe(meta['name'])}”", icon=":material/info:")


def add_button(record_id: int, key: str, *, label: str = "",
               help_text: str = "Add to the active reading list") -> None:
    anonymous = auth.current_user() is None
    st.button(label or "", key=key, icon=":material/playlist_add:",
              help=auth.ANONYMOUS_WRITE if anonymous else help_text, disabled=anonymous,
              on_click=add_records, args=([int(record_id)],))


def open_record(row: Mapping[str, Any], key: str, *, label: str | None = None,
                icon: str | None = None) -> None:
    """A record title that opens the record page (wraps, unlike ``st.page_link``)."""
    text = label if label is not None else f"**{safe(row.get('title') or '(untitled)')}**"
    if st.button(text, key=f"open-{key}-{row['id']}", type="tertiary", wrap=True, icon=icon):
        st.switch_page(RECORD_PAGE, query_params={"id": str(row["id"])})


def record_card(row: Mapping[str, Any], key: str) -> None:
    """One result row: title (opens the record page), journal, year, badges, tag chips."""
    with st.container(border=True):
        left, right = st.columns([20, 1], vertical_alignment="top")
        with left, st.container(gap="small"):
            open_record(row, key)
            parts = [meta_line(row), design_badge(row.get("design")), *status_badges(row)]
            st.markdown(" · ".join(p for p in parts if p))
            tag_line = chips(row.get("labels") or [])
            if tag_line:
                st.markdown(tag_line)
        with right:
            add_button(row["id"], key=f"add-{key}-{row['id']}")


def compact_link(row: Mapping[str, Any], key: str) -> None:
    """A one-line link to a record (summary strip, versions, trial publications)."""
    year = f" ({row['pub_year']})" if row.get("pub_year") else ""
    prefix = "RETRACTED · " if row.get("is_retracted") else ""
    open_record(row, key, label=safe(prefix + str(row.get("title") or "(untitled)") + year),
                icon=":material/article:")


def authors_line(rec: Mapping[str, Any]) -> str:
    return safe(short_authors(rec, 6))


def reading_list_sidebar() -> None:
    """The active reading list (every page's "add" button fills it) and a way to make one."""
    lists = data.reading_lists()
    ids = [int(x["id"]) for x in lists]
    names = {int(x["id"]): f"{x['name']} ({x['items']})" for x in lists}
    if st.session_state.get(ACTIVE_LIST) not in ids:
        st.session_state[ACTIVE_LIST] = ids[0] if ids else None
    with st.sidebar:
        st.divider()
        if auth.sign_in_prompt("sidebar") is None:
            return
        if ids:
            st.selectbox("Active reading list", ids, key=ACTIVE_LIST,
                         format_func=lambda i: names.get(i, str(i)),
                         help="The list that the add buttons fill.")
        else:
            st.caption("No reading list yet: the first add button creates one.")
        with st.popover("New reading list", icon=":material/add:", width="stretch"):
            st.text_input("Name", key="new_list_name", max_chars=200)
            st.button("Create", key="new_list_create", on_click=_create_from_sidebar)


def _create_from_sidebar() -> None:
    name = str(st.session_state.get("new_list_name") or "").strip()
    if not name:
        st.toast("Give the list a name first", icon=":material/error:")
        return
    st.session_state[ACTIVE_LIST] = data.create_list(name)
    st.session_state["new_list_name"] = ""
    st.toast(f"Created “{safe(name)}”", icon=":material/check:")
