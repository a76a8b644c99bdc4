"""The sidebar's conversation list: start a new one, switch, rename, delete (asks first).

Conversations live on the server; the open one's id is in the URL (`?c=<id>`), so a reload
or a server restart reopens it. Without an id the page is a new conversation, saved on the
server when its first question is asked.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.api.chat_schemas import ConversationOut
from ui.client import ApiError, MmragApi
from ui.library import confirm_delete
from ui.state import PendingDelete, UiState, open_conversation


def _switch(conversation_id: str | None) -> None:
    open_conversation(conversation_id)
    st.rerun()


def _rename_form(api: MmragApi, ui: UiState, conversation: ConversationOut) -> None:
    with st.container(border=True, key=f"rename-form-{conversation.id}"):
        title = st.text_input("New title", value=conversation.title, key=f"title-{conversation.id}")
        save, cancel = st.columns(2)
        if save.button("Rename", key=f"rename-save-{conversation.id}", type="primary"):
            try:
                api.rename_conversation(conversation.id, title)
            except ApiError as err:
                st.error(f"Not renamed: {err.detail}")
                return
            ui.renaming = None
            st.rerun()
        if cancel.button("Cancel", key=f"rename-cancel-{conversation.id}"):
            ui.renaming = None
            st.rerun()


def _icon_button(column: Any, icon: str, key: str, help: str, ui: UiState) -> bool:
    """A small icon button beside a conversation's title (off while the API is down)."""
    return bool(
        column.button(
            "",
            icon=f":material/{icon}:",
            key=key,
            help=help,
            type="tertiary",
            disabled=not ui.api_up,
        )
    )


def conversation_list(api: MmragApi, ui: UiState, current: str | None) -> None:
    """ "New conversation", then every saved conversation (the open one highlighted), each
    with a menu to rename or delete it."""
    if st.button(
        "New conversation",
        icon=":material/add_comment:",
        key="new-conversation",
        disabled=current is None,
        width="stretch",
    ):
        _switch(None)
    # Titles read from the left, like a list (buttons centre their label by default).
    st.html("<style>[class*='st-key-open-'] button {justify-content: flex-start}</style>")
    for conversation in ui.conversations:
        title_col, rename_col, delete_col = st.columns([5, 1, 1], vertical_alignment="center")
        is_open = conversation.id == current
        if title_col.button(
            conversation.title,
            key=f"open-{conversation.id}",
            type="primary" if is_open else "tertiary",
            width="stretch",
        ):
            _switch(conversation.id)
        if _icon_button(rename_col, "edit", f"rename-{conversation.id}", "Rename", ui):
            ui.renaming = conversation.id
            st.rerun()
        if _icon_button(
            delete_col, "delete", f"delete-conversation-{conversation.id}", "Delete", ui
        ):
            ui.pending_delete = PendingDelete("conversation", conversation.id, conversation.title)
            st.rerun()
        if ui.renaming == conversation.id:
            _rename_form(api, ui, conversation)
        pending = ui.pending_delete
        if pending is not None and pending.what == "conversation" and pending.id == conversation.id:
            confirm_delete(api, ui, pending)
