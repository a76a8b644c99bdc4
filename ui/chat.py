"""The conversation: saved messages with clickable citation chips, the viewer of the
source a chip opens, every retrieved hit behind a list (scores behind "Details"), and a new
question streamed into the open conversation (saved on the server with its answer)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st

from app.api.chat_schemas import MessageCreate, MessageOut
from app.api.schemas import HitOut, QueryResponse, StreamError, StreamEvent, TokenChunk
from ui.citations import answer_html, cited_passages, hits_in_order
from ui.client import ApiError, MmragApi
from ui.state import UiState, UnsentTurn, open_conversation
from ui.viewer import render_source

_CHIP_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(".mmrag-answer");
  if (!root) {
    root = document.createElement("div");
    root.className = "mmrag-answer";
    parentElement.appendChild(root);
  }
  root.innerHTML = data;
  root.querySelectorAll("a.mmrag-chip").forEach((chip) => {
    chip.onclick = (event) => {
      event.preventDefault();
      setTriggerValue("clicked", chip.dataset.rank);
    };
  });
}
"""
_CHIP_CSS = """
.mmrag-answer p { margin: 0 0 0.6em 0; line-height: 1.6; }
.mmrag-chip {
  display: inline-block; padding: 0 0.5em; margin: 0 0.15em; border-radius: 0.8em;
  font-size: 0.85em; line-height: 1.5; text-decoration: none; cursor: pointer;
  color: var(--st-primary-color); border: 1px solid var(--st-primary-color);
  background: var(--st-secondary-background-color);
}
.mmrag-chip:hover, .mmrag-chip-open { color: white; background: var(--st-primary-color); }
"""
answer_with_chips = st.components.v2.component(
    "mmrag_answer", css=_CHIP_CSS, js=_CHIP_JS, isolate_styles=False
)


def _ignore() -> None:
    """Chip clicks are read from the component's result; the callback only registers them."""


def _scores(hit: HitOut) -> str:
    rerank = f" · rerank {hit.rerank_score:.2f}" if hit.rerank_score is not None else ""
    matched = f" · found by {', '.join(hit.matched)}" if hit.matched else ""
    return f"score {hit.score:.2f} · stage 1 {hit.stage1_score:.2f}{rerank}{matched}"


def evidence_line(response: QueryResponse) -> str | None:
    """What the refusal test read, in words (None for an answer saved without it). Pure."""
    if response.evidence is None:
        return None
    return (
        f"evidence {response.evidence:.2f}: the largest share of the question's words that "
        "one source holds"
    )


def _sources(ui: UiState, message: MessageOut, response: QueryResponse) -> None:
    """Every retrieved hit, cited first; each opens in the viewer; scores behind a toggle."""
    ordered = hits_in_order(response)
    if not ordered:
        return
    title = "Closest passages (not an answer)" if response.refused else "Sources"
    with st.expander(f"{title} ({len(ordered)})", expanded=False):
        details = st.toggle("Details", key=f"details-{message.id}", help="retrieval scores")
        if details and (line := evidence_line(response)):
            st.caption(line)
        for hit, cited in ordered:
            text_col, button_col = st.columns([6, 1], vertical_alignment="center")
            tag = " · cited" if cited else ""
            text_col.markdown(f"**{hit.label}**{tag}  \n{hit.text[:160]}")
            if details:
                text_col.caption(_scores(hit))
            if button_col.button("Open", key=f"source-{message.id}-{hit.rank}"):
                ui.opened[message.id] = hit.rank
                st.rerun()


def _viewer(api: MmragApi, ui: UiState, message: MessageOut, response: QueryResponse) -> None:
    rank = ui.opened.get(message.id)
    hit = next((h for h in response.hits if h.rank == rank), None)
    if hit is None:
        return
    with st.container(border=True, key=f"viewer-{message.id}"):
        title_col, close_col = st.columns([8, 1], vertical_alignment="center")
        title_col.markdown(f"**{hit.label}**")
        if close_col.button("Close", key=f"close-{message.id}", icon=":material/close:"):
            ui.opened.pop(message.id, None)
            st.rerun()
        passages = cited_passages(response.answer).get(hit.rank, [])
        render_source(api, ui.media, hit, passages)


def render_question(message: MessageOut) -> None:
    with st.chat_message("user"):
        st.text(message.text)
        names = message.filter.file_names if message.filter else None
        if names:
            st.caption("Searched only in " + ", ".join(names))


def render_answer(api: MmragApi, ui: UiState, message: MessageOut) -> None:
    """A saved answer: its text with citation chips (a refusal as plain text), the open
    source, the list of sources; or the error that stopped it."""
    with st.chat_message("assistant"):
        response = message.answer
        if response is None:
            if message.text:
                st.text(message.text)
            st.error(f"No answer: {message.error or 'unknown error'}")
            return
        if response.refused or not response.citations:
            st.markdown(response.answer_display)
        else:
            html = answer_html(response.answer, response.hits, ui.opened.get(message.id))
            result = answer_with_chips(
                data=html, key=f"answer-{message.id}", on_clicked_change=_ignore
            )
            clicked = getattr(result, "clicked", None)
            if clicked:
                ui.opened[message.id] = int(clicked)
        _viewer(api, ui, message, response)
        _sources(ui, message, response)


def render_history(api: MmragApi, ui: UiState, messages: list[MessageOut]) -> None:
    for message in messages:
        if message.role == "user":
            render_question(message)
        else:
            render_answer(api, ui, message)


def render_unsent(turns: list[UnsentTurn]) -> None:
    """Questions that never reached the server, with why."""
    for turn in turns:
        with st.chat_message("user"):
            st.text(turn.question)
        with st.chat_message("assistant"):
            st.error(turn.error)


@dataclass
class _Outcome:
    response: QueryResponse | None = None
    error: ApiError | None = None


def _tokens(events: Iterator[StreamEvent], outcome: _Outcome) -> Iterator[str]:
    try:
        for event in events:
            if isinstance(event, TokenChunk):
                yield event.text
            elif isinstance(event, QueryResponse):
                outcome.response = event
            elif isinstance(event, StreamError):
                outcome.error = ApiError(event.status, event.detail)
    except ApiError as err:
        outcome.error = err


def ask(
    api: MmragApi,
    ui: UiState,
    conversation_id: str | None,
    question: str,
    doc_ids: list[str],
) -> None:
    """Stream the answer to a new question; the server saves both turns. Then reload the
    conversation and rerun, so the answer shows with its chips. When the API cannot be
    reached, the question is kept here with the reason."""
    with st.chat_message("user"):
        st.text(question)
    outcome = _Outcome()
    try:
        if conversation_id is None:
            conversation_id = api.create_conversation().id
            open_conversation(conversation_id)
        message = MessageCreate(question=question, doc_ids=doc_ids or None)
        with st.chat_message("assistant"):
            st.write_stream(_tokens(api.ask_stream(conversation_id, message), outcome))
    except ApiError as err:
        outcome.error = err
    if outcome.error is not None and outcome.error.status == 0:
        ui.api_up = False
        reason = (
            f"Not sent: the API at {api.base_url} cannot be reached. Ask again when it is back."
        )
        ui.unsent.setdefault(conversation_id or "", []).append(UnsentTurn(question, reason))
    elif conversation_id is not None:
        try:
            ui.messages[conversation_id] = api.conversation(conversation_id).messages
        except ApiError as err:
            ui.unsent.setdefault(conversation_id, []).append(UnsentTurn(question, err.detail))
    st.rerun()
