"""The chat: streamed answers, and under each one the sources it cites (page images, and
video players that start at the clip)."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st

from app.api_schemas import HitOut, QueryRequest, QueryResponse, StreamError, TokenChunk
from ui.client import ApiError, MmragApi
from ui.state import ChatTurn, MediaCache, media_cache

MAX_SOURCES = 4
SOURCE_COLUMNS = 2


def sources_to_show(response: QueryResponse, limit: int = MAX_SOURCES) -> list[HitOut]:
    """The hits the answer validly cites, in citation order; when it cites none (a refusal),
    the closest hits, so the user sees what was found."""
    by_rank = {hit.rank: hit for hit in response.hits}
    cited: list[HitOut] = []
    for citation in response.citations:
        hit = by_rank.get(citation.source_index or 0)
        if citation.valid and hit is not None and hit not in cited:
            cited.append(hit)
    return (cited or response.hits)[:limit]


def _score_line(hit: HitOut) -> str:
    rerank = f", rerank {hit.rerank_score:.2f}" if hit.rerank_score is not None else ""
    return f"**[S{hit.rank}] {hit.label}** · score {hit.score:.2f} (stage 1 {hit.stage1_score:.2f}{rerank})"


def _image(api: MmragApi, cache: MediaCache, unit_id: str) -> bytes:
    key = (unit_id, None)
    if key not in cache.images:
        cache.images[key] = api.unit_image(unit_id)
    return cache.images[key]


def _video(api: MmragApi, cache: MediaCache, hit: HitOut) -> bytes:
    # Every clip of a document shares its source video: fetch it once per document.
    if hit.doc_id not in cache.videos:
        cache.videos[hit.doc_id] = api.unit_video(hit.unit_id)
    return cache.videos[hit.doc_id]


def render_source(api: MmragApi, hit: HitOut) -> None:
    """One source: its scores, then the page image or the video at the clip's start."""
    st.markdown(_score_line(hit))
    cache = media_cache()
    try:
        if hit.kind == "page":
            st.image(_image(api, cache, hit.unit_id), caption=hit.label, width="stretch")
        else:
            video_format = mimetypes.guess_type(hit.file_name)[0] or "video/mp4"
            st.video(
                _video(api, cache, hit),
                format=video_format,
                start_time=int(hit.start_s or 0),
            )
            st.caption(hit.text)
    except ApiError as err:
        st.warning(f"{hit.label}: media unavailable ({err.detail})")


def render_sources(api: MmragApi, response: QueryResponse) -> None:
    """The sources panel of one answer (expanded unless the answer is a refusal)."""
    shown = sources_to_show(response)
    if not shown:
        return
    title = "Closest sources" if response.refused else "Sources"
    with st.expander(f"{title} ({len(shown)})", expanded=not response.refused):
        columns = st.columns(SOURCE_COLUMNS)
        for position, hit in enumerate(shown):
            with columns[position % SOURCE_COLUMNS]:
                render_source(api, hit)


def render_turn(api: MmragApi, turn: ChatTurn) -> None:
    """A past message, as it was shown when it arrived."""
    with st.chat_message(turn.role):
        if turn.response is not None:
            st.markdown(turn.response.answer_display)
        elif turn.text:
            st.markdown(turn.text)
        if turn.error:
            st.error(turn.error)
        if turn.response is not None:
            render_sources(api, turn.response)


@dataclass
class _Outcome:
    response: QueryResponse | None = None
    error: str | None = None


def _tokens(api: MmragApi, request: QueryRequest, outcome: _Outcome) -> Iterator[str]:
    try:
        for event in api.query_stream(request):
            if isinstance(event, TokenChunk):
                yield event.text
            elif isinstance(event, QueryResponse):
                outcome.response = event
            elif isinstance(event, StreamError):
                outcome.error = event.detail
    except ApiError as err:
        outcome.error = err.detail


def answer(api: MmragApi, request: QueryRequest) -> ChatTurn:
    """Stream the answer into an assistant message, then show it with readable citations
    and its sources; returns the turn for the history."""
    with st.chat_message("assistant"):
        outcome = _Outcome()
        placeholder = st.empty()
        with placeholder.container():
            streamed = st.write_stream(_tokens(api, request, outcome))
        text = streamed if isinstance(streamed, str) else ""
        if outcome.response is not None:
            # Swap the raw `[S1]` markers for labels such as `[paper.pdf p.3]`.
            placeholder.markdown(outcome.response.answer_display)
        if outcome.error:
            st.error(outcome.error)
        if outcome.response is not None:
            render_sources(api, outcome.response)
    return ChatTurn("assistant", text, outcome.response, outcome.error)
