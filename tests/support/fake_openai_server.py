"""A tiny real HTTP server that streams chat completions the way `vllm serve` does.

It listens on 127.0.0.1 on a random port in a daemon thread. `POST /v1/chat/completions`
with `stream: true` answers `text/event-stream` with chunked transfer encoding: a role-only
first chunk, one chunk per token, a finish chunk, a usage chunk when
`stream_options.include_usage` is set, then `data: [DONE]`. `mode` picks a failure:

- "normal": the stream above.
- "error_500": HTTP 500 with an OpenAI error object (engine dead).
- "error_400": HTTP 400 with an error object (bad request: not retryable).
- "hang": headers never come (the client must time out).
- "stall": two tokens, then silence (a read timeout after the first token).
- "trickle": a keep-alive comment every `trickle_interval_s`, never an answer.
- "malformed": a chunk that is not JSON after the first token.
- "error_in_stream": an error object mid-stream, then [DONE] (what vLLM does on errors).
- "drop": two tokens, then the connection closes mid-body (incomplete chunked read).
- "no_done": two tokens, then a clean end of body without `data: [DONE]`.

`fail_first` makes the first N requests use `fail_mode` before falling back to `mode`, to
test retries. `requests` records every request body (`request_headers` their headers); `responder` makes the answer text from
the request (by default it quotes the first words of the first two sources and cites them).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from generation.prompts import NO_ANSWER
from tests.support.http_server import LocalHTTPServer

Responder = Callable[[dict[str, Any]], str]

_SOURCE = re.compile(r"^\[S(\d+)\] [^\n]*\n(?:\([^\n]*\)\n)?(.*)", re.DOTALL)


def user_text(body: dict[str, Any]) -> str:
    """All text parts of the request's user messages, joined."""
    parts: list[str] = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(p["text"] for p in content if p.get("type") == "text")
    return "\n".join(parts)


def cite_sources(body: dict[str, Any]) -> str:
    """Default answer: the first words of the first two sources, each cited."""
    sentences: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") != "user" or isinstance(content, str):
            continue
        for part in content:
            match = _SOURCE.match(part.get("text", "")) if part.get("type") == "text" else None
            if match and len(sentences) < 2:
                words = match.group(2).split()[:8] or ["(no text)"]
                sentences.append(f"{' '.join(words).rstrip('.')} [S{match.group(1)}].")
    return " ".join(sentences) or NO_ANSWER


def tokens_of(text: str) -> list[str]:
    """Cut text like a tokenizer would: words with their leading space."""
    return re.findall(r"\s*\S+", text)


class FakeOpenAIServer(LocalHTTPServer):
    """Start with `with FakeOpenAIServer() as server:`; `server.base_url` ends in /v1."""

    def __init__(self, mode: str = "normal", responder: Responder = cite_sources) -> None:
        self.mode = mode
        self.responder = responder
        self.fail_first = 0
        self.fail_mode = "error_500"
        self.trickle_interval_s = 0.05
        self.model = "fake/qwen3-vl"
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _before_shutdown(self) -> None:
        self.stop.set()  # releases handlers waiting in "hang"/"stall"

    def mode_for_next_request(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        """Record the request and say how to answer it."""
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
            if len(self.requests) <= self.fail_first:
                return self.fail_mode
            return self.mode


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _events(server: FakeOpenAIServer, body: dict[str, Any], mode: str) -> Iterator[bytes]:
    """The SSE byte strings of one response, in order."""
    model = body.get("model", server.model)

    def data(payload: object) -> bytes:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return f"data: {text}\n\n".encode()

    yield data(_chunk(model, {"role": "assistant", "content": ""}))
    tokens = tokens_of(server.responder(body))
    for i, token in enumerate(tokens):
        if i == 1 and mode == "malformed":
            yield b'data: {"choices": [{"delta": {"content": "oops"\n\n'
            return
        if i == 1 and mode == "error_in_stream":
            error = {"message": "CUDA out of memory", "type": "InternalServerError", "code": 500}
            yield data({"error": error})
            yield data("[DONE]")
            return
        if i == 2 and mode in ("stall", "drop", "no_done"):
            return
        yield data(_chunk(model, {"content": token}))
    yield data(_chunk(model, {"content": ""}, finish="stop"))
    if body.get("stream_options", {}).get("include_usage"):
        usage = {"prompt_tokens": 100, "completion_tokens": len(tokens), "total_tokens": 100}
        yield data({**_chunk(model, {}), "choices": [], "usage": usage})
    yield data("[DONE]")


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": server.model}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found"}})
                return
            mode = server.mode_for_next_request(body, dict(self.headers))
            if mode == "hang":
                server.stop.wait(30)
                return
            if mode in ("error_500", "error_400"):
                code = 500 if mode == "error_500" else 400
                error = {"message": f"fake {code}", "type": "Error", "param": None, "code": code}
                self._json(code, {"error": error})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if mode == "trickle":
                while not server.stop.wait(server.trickle_interval_s):
                    self._write_chunk(b": keep-alive\n\n")
                return
            for event in _events(server, body, mode):
                self._write_chunk(event)
            if mode == "stall":
                server.stop.wait(30)
                return
            if mode == "drop":
                self.wfile.flush()
                self.close_connection = True
                return  # no terminating zero-length chunk
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _write_chunk(self, payload: bytes) -> None:
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        def _json(self, code: int, payload: object) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@contextmanager
def running_server(
    mode: str = "normal", responder: Responder = cite_sources
) -> Iterator[FakeOpenAIServer]:
    """A started server, stopped on exit."""
    with FakeOpenAIServer(mode, responder) as server:
        yield server
