"""A tiny real HTTP server answering `POST /v1/embeddings` the way `vllm serve --runner
pooling` does, on 127.0.0.1 (random port) in a daemon thread.

The embedding is a deterministic function of the request's messages (same request, same
vector; different content, different vector). `mode` picks a behaviour: "normal",
"error_500", "error_400", "malformed" (not JSON), "no_data" (JSON without embeddings),
"hang" (answers after `hang_s`). `fail_first` makes the first N requests use "error_500".
`bodies` and `headers` record every request.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from tests.support.http_server import LocalHTTPServer


def vector_for(body: dict[str, Any], dim: int) -> list[float]:
    """Unit vector seeded by the request's messages."""
    digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


class FakeVLLMEmbedServer(LocalHTTPServer):
    """`with FakeVLLMEmbedServer() as server:`; `server.base_url` ends in /v1."""

    def __init__(self, mode: str = "normal", dim: int = 48, hang_s: float = 2.0) -> None:
        self.mode = mode
        self.dim = dim
        self.hang_s = hang_s
        self.model = "served-embedder"  # what GET /v1/models lists
        self.fail_first = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _mode_for_next(self) -> str:
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return "error_500"
            return self.mode

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    models = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    self._send(200, json.dumps(models).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                mode = server._mode_for_next()
                if self.path != "/v1/embeddings":
                    self._send(404, b'{"error": {"message": "not found"}}')
                elif mode == "error_500":
                    self._send(500, b'{"error": {"message": "engine dead"}}')
                elif mode == "error_400":
                    self._send(400, b'{"error": {"message": "bad messages"}}')
                elif mode == "malformed":
                    self._send(200, b"<html>not json")
                elif mode == "no_data":
                    self._send(200, b'{"object": "list", "data": []}')
                else:
                    if mode == "hang":
                        time.sleep(server.hang_s)
                    answer = {
                        "object": "list",
                        "model": body.get("model"),
                        "data": [
                            {
                                "index": 0,
                                "object": "embedding",
                                "embedding": vector_for(body, server.dim),
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                    self._send(200, json.dumps(answer).encode())

        return Handler
