"""Server-sent events: the one decoder (used by the vLLM client and the UI's API client),
and chat completion chunks as OpenAI-compatible servers (vLLM) stream them.

vLLM sends `data: {json}\\n\\n` per chunk and ends with `data: [DONE]\\n\\n`. A chunk is
`{"choices": [{"index": 0, "delta": {"role"?: ..., "content"?: ...}, "finish_reason": ...}]}`;
the first may carry only the role, the last only a finish reason, a usage chunk has
`"choices": []`, and an error raised mid-stream arrives as a chunk with an `error` object
(or, in older versions, `{"object": "error", "message": ...}`). Pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from generation.errors import BadGeneratorResponse

DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One dispatched event: its `data` lines joined by newlines, and its name."""

    data: str
    event: str = "message"


class SSEDecoder:
    """Incremental SSE decoder: feed it bytes as they arrive, get every complete event.
    Lines may end in LF, CRLF or CR and may be split anywhere, even inside a UTF-8
    character; comment lines (`:`) and fields other than `event` and `data` are ignored."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = "message"

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        """Bytes in; the events completed by them out."""
        self._buffer += chunk
        events: list[ServerEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return events
            end, after = cut
            line = self._buffer[:end].decode("utf-8", errors="replace")
            self._buffer = self._buffer[after:]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def close(self) -> list[ServerEvent]:
        """At the end of the stream: an event left without its blank line."""
        if self._buffer:
            line = self._buffer.decode("utf-8", errors="replace")
            self._buffer = b""
            self._line(line)
        event = self._line("")
        return [event] if event is not None else []

    def _line(self, line: str) -> ServerEvent | None:
        if not line:  # a blank line dispatches the event (none without data)
            event = ServerEvent("\n".join(self._data), self._event) if self._data else None
            self._data, self._event = [], "message"
            return event
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def decode_events(chunks: Iterable[bytes]) -> Iterator[ServerEvent]:
    """Every event of a whole stream of byte chunks (the last one even without its blank
    line)."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """(end of the first line, start of the next) or None while no line is complete."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r", 0, lf if lf >= 0 else len(buffer))
    if cr >= 0:
        if cr + 1 == len(buffer):
            return None  # CR or CRLF: the next byte decides
        return (cr, cr + 2) if buffer[cr + 1] == 0x0A else (cr, cr + 1)
    if lf >= 0:
        return lf, lf + 1
    return None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of a finished request."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """What one chunk adds: text, a finish reason, usage."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


def _error_message(payload: dict[str, Any]) -> str | None:
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if error is not None:
        return str(error)
    if payload.get("object") == "error":
        return str(payload.get("message") or payload)
    return None


def _usage(payload: dict[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def parse_chunk(data: str) -> StreamChunk:
    """The content of one `data:` payload (not `[DONE]`).

    Raises BadGeneratorResponse for an error object, a `finish_reason` of `error`, or
    anything that is not a chat completion chunk.
    """
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as err:
        raise BadGeneratorResponse(
            f"malformed chunk (not JSON: {err.msg}): {data[:200]!r}"
        ) from err
    if not isinstance(payload, dict):
        raise BadGeneratorResponse(f"malformed chunk (not an object): {data[:200]!r}")
    message = _error_message(payload)
    if message is not None:
        raise BadGeneratorResponse(f"error during generation: {message}")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise BadGeneratorResponse(f"malformed chunk (no choices list): {data[:200]!r}")
    if not choices:
        return StreamChunk(usage=_usage(payload))  # the usage chunk
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise BadGeneratorResponse(f"malformed chunk (no delta): {data[:200]!r}")
    content = delta.get("content")
    if content is not None and not isinstance(content, str):
        raise BadGeneratorResponse(f"malformed chunk (content is not text): {data[:200]!r}")
    finish_reason = choice.get("finish_reason")
    if finish_reason == "error":
        raise BadGeneratorResponse("error during generation (finish_reason 'error')")
    return StreamChunk(
        content=content or "",
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        usage=_usage(payload),
    )
