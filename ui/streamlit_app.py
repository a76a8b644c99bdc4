"""mmrag's Streamlit UI: `streamlit run ui/streamlit_app.py` (or `mmrag ui` / `mmrag up`).

Talks to the REST API at MMRAG_API_URL (default http://127.0.0.1:8000) with MMRAG_API_KEY,
through ui.client; never to Qdrant or the models directly.
"""

from __future__ import annotations

import streamlit as st

from ui import chat, conversations, library, state
from ui.client import ApiError, MmragApi
from ui.state import UiState

HEARTBEAT_S = 2.0


def refresh(api: MmragApi, ui: UiState, current: str | None) -> None:
    """Fetch the lists and the open conversation when the API answers; otherwise keep the
    last copies (the page keeps showing them) and mark the API down."""
    ui.api_up = api.health()
    if not ui.api_up:
        return
    try:
        ui.limits = ui.limits or api.limits()
        ui.documents = api.list_documents()
        ui.conversations = api.list_conversations()
        if current is not None:
            ui.messages[current] = api.conversation(current).messages
    except ApiError as err:
        if err.status == 0:
            ui.api_up = False
        elif err.status == 404 and current is not None:
            st.toast("That conversation no longer exists; here is a new one.")
            state.open_conversation(None)
            st.rerun()
        else:
            st.error(f"The API answered with an error: {err.detail}")


def _connection(api: MmragApi, ui: UiState) -> None:
    up = api.health()
    if up != ui.api_up:
        st.rerun(scope="app")  # came back (or went away): refresh the whole page
    if not up:
        st.warning(
            f"The mmrag API at {api.base_url} cannot be reached; retrying every "
            f"{HEARTBEAT_S:.0f} s. Your conversations are kept, and this page recovers by "
            "itself when the API is back. (Start it with `mmrag serve` or `mmrag up`, or "
            "point MMRAG_API_URL at it.)",
            icon=":material/cloud_off:",
        )


def connection_banner(api: MmragApi, ui: UiState) -> None:
    """A banner while the API is unreachable, checked again every HEARTBEAT_S (fragment)."""
    st.fragment(_connection, run_every=HEARTBEAT_S)(api, ui)


def main() -> None:
    """Render one run of the page: sidebar (conversations, library), then the chat."""
    st.set_page_config(page_title="mmrag", page_icon="📄", layout="wide")
    api = state.client()
    ui = state.ui_state()
    current = state.current_conversation()
    refresh(api, ui, current)

    with st.sidebar:
        st.header("Conversations")
        conversations.conversation_list(api, ui, current)
        st.header("Documents")
        library.upload_picker(api, ui)
        library.upload_progress(api, ui)
        library.document_list(api, ui)
        st.divider()
        chosen = library.document_filter(ui.documents)

    st.title("mmrag: chat with your PDFs and videos")
    connection_banner(api, ui)
    if current is not None:
        chat.render_history(api, ui, ui.messages.get(current, []))
    chat.render_unsent(ui.unsent.get(current or "", []))

    ready = any(d.status == "ready" for d in ui.documents)
    if not ui.api_up:
        placeholder = "Waiting for the API to come back…"
    elif ready:
        placeholder = "Ask a question about your documents"
    else:
        placeholder = "Add a document first"
    # Enabled while the API is down too: a question asked then is kept, with why it was
    # not sent, instead of vanishing.
    prompt = st.chat_input(placeholder, key="question", disabled=not ready)
    if prompt:
        chat.ask(api, ui, current, prompt, chosen)


main()
