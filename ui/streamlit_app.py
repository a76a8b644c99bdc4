"""mmrag's Streamlit UI: `streamlit run ui/streamlit_app.py` (or `mmrag ui` / `mmrag up`).

Talks to the REST API at MMRAG_API_URL (default http://127.0.0.1:8000) with MMRAG_API_KEY,
through ui.client; never to Qdrant or the models directly.
"""

from __future__ import annotations

import streamlit as st

from app.api_schemas import DocumentOut, QueryRequest
from ui import chat, library, state
from ui.client import ApiError, MmragApi


def _documents(api: MmragApi) -> list[DocumentOut]:
    try:
        return api.list_documents()
    except ApiError as err:
        st.error(f"Cannot list documents: {err.detail}")
        return []


def main() -> None:
    """Render one run of the page: sidebar (library), then the conversation."""
    st.set_page_config(page_title="mmrag", page_icon="📄", layout="wide")
    api = state.client()
    st.title("mmrag: chat with your PDFs and videos")
    if not api.health():
        st.error(
            f"The mmrag API at {api.base_url} does not answer. Start it with `mmrag serve` "
            "(or `mmrag up`), or point MMRAG_API_URL at it."
        )
        st.stop()

    with st.sidebar:
        st.header("Documents")
        library.upload_section(api)
        docs = _documents(api)
        library.document_list(api, docs)
        st.divider()
        chosen = library.document_filter(docs)
        if st.button("Clear conversation", disabled=not state.history()):
            state.history().clear()
            st.rerun()

    for turn in state.history():
        chat.render_turn(api, turn)

    ready = any(d.status == "ready" for d in docs)
    prompt = st.chat_input(
        "Ask a question about your documents" if ready else "Add a document first",
        disabled=not ready,
    )
    if prompt:
        turn = state.ChatTurn("user", prompt)
        state.history().append(turn)
        chat.render_turn(api, turn)
        request = QueryRequest(question=prompt, doc_ids=chosen or None)
        state.history().append(chat.answer(api, request))


main()
