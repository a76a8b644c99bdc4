"""What the UI keeps across Streamlit reruns (st.session_state), behind typed accessors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from app.api_schemas import QueryResponse
from app.config import Settings
from ui.client import MmragApi, MmragClient

CLIENT_KEY = "mmrag_client"
HISTORY_KEY = "mmrag_history"
UPLOADED_KEY = "mmrag_uploaded"
MEDIA_KEY = "mmrag_media"


@dataclass
class ChatTurn:
    """One message of the conversation; an assistant turn keeps the API's response."""

    role: Literal["user", "assistant"]
    text: str
    response: QueryResponse | None = None
    error: str | None = None


@dataclass
class MediaCache:
    """Image and video bytes already fetched, so reruns do not download them again."""

    images: dict[tuple[str, int | None], bytes] = field(default_factory=dict)
    videos: dict[str, bytes] = field(default_factory=dict)


def client() -> MmragApi:
    """The API client of this session: injected (tests) or built from MMRAG_* settings."""
    if CLIENT_KEY not in st.session_state:
        settings = Settings()
        key = settings.api_key.get_secret_value() if settings.api_key else None
        st.session_state[CLIENT_KEY] = MmragClient(settings.effective_api_url, key)
    api: MmragApi = st.session_state[CLIENT_KEY]
    return api


def history() -> list[ChatTurn]:
    turns: list[ChatTurn] = st.session_state.setdefault(HISTORY_KEY, [])
    return turns


def uploaded_ids() -> set[str]:
    """file_uploader ids already sent, so a rerun does not upload them again."""
    ids: set[str] = st.session_state.setdefault(UPLOADED_KEY, set())
    return ids


def media_cache() -> MediaCache:
    cache: MediaCache = st.session_state.setdefault(MEDIA_KEY, MediaCache())
    return cache
