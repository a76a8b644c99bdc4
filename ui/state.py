"""What the UI keeps across Streamlit reruns (st.session_state), behind typed accessors.

The server holds what must outlive a browser tab (conversations, documents); the session
keeps the last copy it saw of them, so the page still shows the history and the sidebar
while the API is unreachable, and the open conversation's id lives in the URL (`?c=`), so
a reload or a restart reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from app.api.chat_schemas import ConversationOut, MessageOut, UploadLimits
from app.api.schemas import DocumentOut, JobOut
from app.config import Settings
from ui.client import MmragApi, MmragClient

CLIENT_KEY = "mmrag_client"
UI_KEY = "mmrag_ui"
CONVERSATION_PARAM = "c"


@dataclass
class MediaCache:
    """Image, video and highlight data already fetched, so reruns do not fetch them again."""

    images: dict[str, bytes] = field(default_factory=dict)
    videos: dict[str, bytes] = field(default_factory=dict)
    boxes: dict[tuple[str, str], list[tuple[float, float, float, float]]] = field(
        default_factory=dict
    )


@dataclass
class TrackedUpload:
    """A file the user picked: its job once the server took it, or why it was refused."""

    name: str
    job: JobOut | None = None
    error: str | None = None
    unreachable: bool = False  # the last poll could not reach the API

    @property
    def finished(self) -> bool:
        return self.error is not None or (self.job is not None and self.job.finished)


@dataclass
class UnsentTurn:
    """A question that never reached the server (API down): shown until the next load."""

    question: str
    error: str


@dataclass
class PendingDelete:
    """A delete the user asked for and has not confirmed yet."""

    what: Literal["conversation", "document"]
    id: str
    name: str


@dataclass
class UiState:
    """Everything one browser session remembers between reruns."""

    api_up: bool = True
    conversations: list[ConversationOut] = field(default_factory=list)
    documents: list[DocumentOut] = field(default_factory=list)
    messages: dict[str, list[MessageOut]] = field(default_factory=dict)
    unsent: dict[str, list[UnsentTurn]] = field(default_factory=dict)
    limits: UploadLimits | None = None
    uploads: list[TrackedUpload] = field(default_factory=list)
    sent_files: set[str] = field(default_factory=set)
    uploader_round: int = 0  # bumped to clear the file picker once its files are sent
    opened: dict[str, int] = field(default_factory=dict)  # answer id -> rank of the open source
    pending_delete: PendingDelete | None = None
    renaming: str | None = None  # id of the conversation whose rename form is open
    media: MediaCache = field(default_factory=MediaCache)


def client() -> MmragApi:
    """The API client of this session: injected (tests) or built from MMRAG_* settings."""
    if CLIENT_KEY not in st.session_state:
        settings = Settings()
        key = settings.api_key.get_secret_value() if settings.api_key else None
        st.session_state[CLIENT_KEY] = MmragClient(settings.effective_api_url, key)
    api: MmragApi = st.session_state[CLIENT_KEY]
    return api


def ui_state() -> UiState:
    state: UiState = st.session_state.setdefault(UI_KEY, UiState())
    return state


def current_conversation() -> str | None:
    """The open conversation's id, from the URL (None: a new, unsaved conversation)."""
    value = st.query_params.get(CONVERSATION_PARAM)
    return value or None


def open_conversation(conversation_id: str | None) -> None:
    """Show another conversation (None: a new one); the URL keeps the choice."""
    if conversation_id:
        st.query_params[CONVERSATION_PARAM] = conversation_id
    else:
        st.query_params.pop(CONVERSATION_PARAM, None)
