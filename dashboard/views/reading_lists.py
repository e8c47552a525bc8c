"""Reading lists: create, order, annotate and export (RIS, BibTeX, CSV, Markdown)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import auth, data
from dashboard import components as c
from kb.exports import FORMATS, export, filename, to_markdown

EXPORT_HELP = {"ris": "Zotero, EndNote, Mendeley", "bibtex": "LaTeX, JabRef",
               "csv": "spreadsheets (formulas neutralised)", "md": "notes, slides, handouts"}


def _create() -> None:
    name = str(st.session_state.get("rl_new_name") or "").strip()
    if not name:
        st.toast("Give the list a name first", icon=":material/error:")
        return
    st.session_state[c.ACTIVE_LIST] = data.create_list(
        name, str(st.session_state.get("rl_new_desc") or ""))
    st.session_state["rl_new_name"] = ""
    st.session_state["rl_new_desc"] = ""


def _pick() -> None:
    st.session_state[c.ACTIVE_LIST] = st.session_state.get("rl_pick")


def _save_meta(list_id: int) -> None:
    name = str(st.session_state.get(f"rl_name_{list_id}") or "").strip()
    if not name:
        st.toast("A list needs a name", icon=":material/error:")
        return
    data.rename_list(list_id, name, str(st.session_state.get(f"rl_desc_{list_id}") or ""))


def _delete(list_id: int) -> None:
    data.delete_list(list_id)
    st.session_state[c.ACTIVE_LIST] = None


def _save_note(list_id: int, record_id: int) -> None:
    data.set_note(list_id, record_id, str(st.session_state.get(f"note_{list_id}_{record_id}")
                                          or ""))


def _new_list_form(expanded: bool) -> None:
    with st.expander("New reading list", expanded=expanded, icon=":material/add:"):
        st.text_input("Name", key="rl_new_name", max_chars=200,
                      placeholder="e.g. Esketamine in TRD: teaching set")
        st.text_area("Description (optional)", key="rl_new_desc", height=80)
        st.button("Create list", key="rl_create", on_click=_create, type="primary")


def _item_readonly(item: dict[str, Any], n: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{n}.**")
        c.open_record(item, key="rl-ro")
        parts = [c.meta_line(item), c.design_badge(item.get("design")), *c.status_badges(item)]
        st.markdown(" · ".join(p for p in parts if p))
        if item.get("note"):
            st.markdown(c.safe(item["note"]))


def _item(list_id: int, item: dict[str, Any], n: int) -> None:
    rid = int(item["id"])
    with st.container(border=True):
        cols = st.columns([0.5, 12, 2.2], vertical_alignment="top")
        cols[0].markdown(f"**{n}.**")
        with cols[1]:
            c.open_record(item, key=f"rl-{list_id}")
            parts = [c.meta_line(item), c.design_badge(item.get("design")),
                     *c.status_badges(item)]
            st.markdown(" · ".join(p for p in parts if p))
            st.text_area("Note", value=item.get("note") or "", key=f"note_{list_id}_{rid}",
                         on_change=_save_note, args=(list_id, rid), height=68,
                         placeholder="Why this paper? What to discuss?",
                         label_visibility="collapsed")
        with cols[2]:
            b = st.columns(3)
            b[0].button("", key=f"up_{list_id}_{rid}", icon=":material/arrow_upward:",
                        help="Move up", on_click=data.move_in_list, args=(list_id, rid, -1))
            b[1].button("", key=f"down_{list_id}_{rid}", icon=":material/arrow_downward:",
                        help="Move down", on_click=data.move_in_list, args=(list_id, rid, 1))
            b[2].button("", key=f"rm_{list_id}_{rid}", icon=":material/delete:",
                        help="Remove from the list", on_click=data.remove_from_list,
                        args=(list_id, rid))


def _exports(meta: dict[str, Any], items: list[dict[str, Any]]) -> None:
    st.subheader("Export")
    cols = st.columns(len(FORMATS))
    for col, (fmt, spec) in zip(cols, FORMATS.items(), strict=True):
        body = (to_markdown(items, title=meta["name"], description=meta["description"])
                if fmt == "md" else export(items, fmt))
        col.download_button(spec.name, body.encode("utf-8"), file_name=filename(meta["name"], fmt),
                            mime=spec.mime, key=f"export_{fmt}", icon=":material/download:",
                            help=EXPORT_HELP[fmt], width="stretch", on_click="ignore")
    if any(i.get("is_retracted") for i in items):
        st.warning("This list holds a retracted publication; every export flags it.",
                   icon=":material/block:")


def main() -> None:
    st.title("Reading lists")
    user = auth.sign_in_prompt("lists")
    lists = data.reading_lists()
    if user is None:
        _readonly(lists)
        return
    if not lists:
        st.info("No reading list yet. Create one here, or press the add button next to any "
                "record (that creates “My reading list”).", icon=":material/bookmarks:")
        _new_list_form(expanded=True)
        return
    ids = [int(x["id"]) for x in lists]
    names = {int(x["id"]): f"{x['name']} ({x['items']})" for x in lists}
    if st.session_state.get(c.ACTIVE_LIST) not in ids:
        st.session_state[c.ACTIVE_LIST] = ids[0]
    top = st.columns([3, 2], vertical_alignment="bottom")
    st.session_state["rl_pick"] = st.session_state[c.ACTIVE_LIST]
    list_id = int(top[0].selectbox("List", ids, key="rl_pick", on_change=_pick,
                                   format_func=lambda i: names.get(i, str(i))))
    with top[1]:
        _new_list_form(expanded=False)
    meta = data.reading_list(list_id)
    if meta is None:
        st.rerun()
        return
    items = data.reading_list_items(list_id)
    st.markdown(f"### {c.safe(meta['name'])}")
    if meta["description"]:
        st.markdown(c.safe(meta["description"]))
    with st.expander("Rename, describe or delete"):
        st.text_input("Name", value=meta["name"], key=f"rl_name_{list_id}", max_chars=200)
        st.text_area("Description", value=meta["description"], key=f"rl_desc_{list_id}",
                     height=80)
        cols = st.columns([1, 1, 3])
        cols[0].button("Save", key=f"rl_save_{list_id}", on_click=_save_meta, args=(list_id,))
        confirm = cols[2].checkbox("Yes, delete this list", key=f"rl_confirm_{list_id}")
        cols[1].button("Delete list", key=f"rl_del_{list_id}", disabled=not confirm,
                       on_click=_delete, args=(list_id,), type="primary")
    if not items:
        st.info("This list is empty. Use the add buttons in the evidence browser, on a record "
                "page or in What's new.", icon=":material/playlist_add:")
        return
    st.caption(f"{len(items)} record{'s' if len(items) != 1 else ''} · notes save when you "
               "leave the box · order with the arrows")
    for n, item in enumerate(items, 1):
        _item(list_id, item, n)
    _exports(meta, items)


def _readonly(lists: list[dict[str, Any]]) -> None:
    """What an anonymous visitor sees under sign-in: lists to read and export, no editing."""
    if not lists:
        st.caption("No reading lists yet.")
        return
    ids = [int(x["id"]) for x in lists]
    names = {int(x["id"]): f"{x['name']} ({x['items']})" for x in lists}
    list_id = int(st.selectbox("List", ids, key="rl_view",
                               format_func=lambda i: names.get(i, str(i))))
    meta = data.reading_list(list_id)
    if meta is None:
        return
    items = data.reading_list_items(list_id)
    st.markdown(f"### {c.safe(meta['name'])}")
    if meta["description"]:
        st.markdown(c.safe(meta["description"]))
    for n, item in enumerate(items, 1):
        _item_readonly(item, n)
    if items:
        _exports(meta, items)


main()
