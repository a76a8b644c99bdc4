"""Saved conversations, in the registry database (same SQLite file, their own tables).

The store keeps each message's answer and filter as opaque JSON text: their schema belongs
to the API (app/api/schemas.py), which writes and reads them; the store only guarantees
that a question and its answer are saved together (one transaction) or not at all.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ingest.errors import NotFound
from ingest.store import sqlite_connection, sqlite_transaction

Role = Literal["user", "assistant"]
DEFAULT_TITLE = "New conversation"
TITLE_CHARS = 80  # an automatic title is the first question, cut to this length

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    titled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    answer_json TEXT,
    filter_json TEXT,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, position);
"""


@dataclass(frozen=True, slots=True)
class Conversation:
    """A saved conversation; `titled` once a person named it (else the first question)."""

    id: str
    title: str
    created_at: float
    updated_at: float
    n_messages: int = 0
    titled: bool = False


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to save: `answer_json` / `filter_json` are the API's JSON, kept verbatim."""

    role: Role
    text: str
    answer_json: str | None = None
    filter_json: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A saved message, `position` 0-based within its conversation."""

    id: str
    conversation_id: str
    position: int
    role: Role
    text: str
    answer_json: str | None
    filter_json: str | None
    error: str | None
    created_at: float


def auto_title(question: str) -> str:
    """A conversation title from its first question: one line, at most TITLE_CHARS."""
    flat = " ".join(question.split())
    if len(flat) <= TITLE_CHARS:
        return flat or DEFAULT_TITLE
    return flat[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    """Conversations and their messages in the registry's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite_connection(path) as conn:
            conn.executescript(_SCHEMA)

    @staticmethod
    def _conversation(row: sqlite3.Row) -> Conversation:
        return Conversation(
            id=row["id"],
            title=row["title"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            n_messages=row["n_messages"],
            titled=bool(row["titled"]),
        )

    _SELECT = """SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
                 AS n_messages FROM conversations c"""

    def create(self, title: str | None = None) -> Conversation:
        """A new, empty conversation (titled when `title` is given)."""
        now = time.time()
        conv_id = uuid.uuid4().hex
        clean = " ".join((title or "").split())
        with sqlite_transaction(self.path) as conn:
            conn.execute(
                "INSERT INTO conversations (id, title, titled, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (conv_id, clean or DEFAULT_TITLE, int(bool(clean)), now, now),
            )
        return self.get(conv_id)

    def list_all(self) -> list[Conversation]:
        """Every conversation, most recently active first."""
        with sqlite_connection(self.path) as conn:
            rows = conn.execute(self._SELECT + " ORDER BY c.updated_at DESC, c.id").fetchall()
        return [self._conversation(r) for r in rows]

    def get(self, conv_id: str) -> Conversation:
        """One conversation; NotFound if there is none with this id."""
        with sqlite_connection(self.path) as conn:
            row = conn.execute(self._SELECT + " WHERE c.id = ?", (conv_id,)).fetchone()
        if row is None:
            raise NotFound(f"no conversation with id {conv_id!r}")
        return self._conversation(row)

    def rename(self, conv_id: str, title: str) -> Conversation:
        """Give a conversation a title of one's own (whitespace collapsed, not empty)."""
        clean = " ".join(title.split())
        if not clean:
            raise ValueError("a conversation title cannot be empty")
        with sqlite_transaction(self.path) as conn:
            changed = conn.execute(
                "UPDATE conversations SET title = ?, titled = 1, updated_at = ? WHERE id = ?",
                (clean, time.time(), conv_id),
            ).rowcount
        if not changed:
            raise NotFound(f"no conversation with id {conv_id!r}")
        return self.get(conv_id)

    def delete(self, conv_id: str) -> None:
        """Remove a conversation and its messages; NotFound if it does not exist."""
        with sqlite_transaction(self.path) as conn:
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conv_id,))
            removed = conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,)).rowcount
        if not removed:
            raise NotFound(f"no conversation with id {conv_id!r}")

    def messages(self, conv_id: str) -> list[StoredMessage]:
        """A conversation's messages in order; NotFound if the conversation does not exist."""
        self.get(conv_id)
        with sqlite_connection(self.path) as conn:
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY position",
                (conv_id,),
            ).fetchall()
        return [
            StoredMessage(
                id=r["id"],
                conversation_id=r["conversation_id"],
                position=r["position"],
                role=r["role"],
                text=r["text"],
                answer_json=r["answer_json"],
                filter_json=r["filter_json"],
                error=r["error"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def questions(self, conv_id: str) -> list[str]:
        """The texts of a conversation's user messages in order (not the saved answers,
        ~10-50 kB each: what a follow-up reads on every question); NotFound if the
        conversation does not exist."""
        self.get(conv_id)
        with sqlite_connection(self.path) as conn:
            rows = conn.execute(
                "SELECT text FROM messages WHERE conversation_id = ? AND role = 'user'"
                " ORDER BY position",
                (conv_id,),
            ).fetchall()
        return [r["text"] for r in rows]

    def append(self, conv_id: str, *new: NewMessage) -> list[StoredMessage]:
        """Save messages at the end of a conversation, all or none (one transaction). The
        first user message names an untitled conversation."""
        now = time.time()
        with sqlite_transaction(self.path) as conn:
            row = conn.execute(
                "SELECT titled, (SELECT COALESCE(MAX(position) + 1, 0) FROM messages "
                "WHERE conversation_id = ?) AS next FROM conversations WHERE id = ?",
                (conv_id, conv_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no conversation with id {conv_id!r}")
            position = int(row["next"])
            ids = []
            for offset, message in enumerate(new):
                ids.append(uuid.uuid4().hex)
                conn.execute(
                    """INSERT INTO messages (id, conversation_id, position, role, text,
                           answer_json, filter_json, error, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        ids[-1],
                        conv_id,
                        position + offset,
                        message.role,
                        message.text,
                        message.answer_json,
                        message.filter_json,
                        message.error,
                        now,
                    ),
                )
            first_question = next((m.text for m in new if m.role == "user"), None)
            if position == 0 and not row["titled"] and first_question:
                conn.execute(
                    "UPDATE conversations SET title = ? WHERE id = ?",
                    (auto_title(first_question), conv_id),
                )
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))
        saved = {m.id: m for m in self.messages(conv_id)}
        return [saved[i] for i in ids]
