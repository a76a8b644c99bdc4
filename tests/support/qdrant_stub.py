"""A stand-in Qdrant server that fails on demand: it answers the few calls a QdrantClientIndex
makes at start-up ("ok" mode), then, per `mode`, every request with a 500 or a 503, by
hanging past the client's timeout, or by dropping the connection without an answer."""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Literal

from tests.support.http_server import LocalHTTPServer

Mode = Literal["ok", "500", "503", "hang", "drop"]
FAILURE_MODES: tuple[Mode, ...] = ("500", "503", "hang", "drop")


class QdrantStub(LocalHTTPServer):
    """Run with `with QdrantStub() as stub:`; `stub.url` is its address, `stub.mode` what
    it does with the next requests, `stub.requests` what it has been asked."""

    def __init__(self, hang_s: float = 3.0) -> None:
        self.mode: Mode = "ok"
        self.hang_s = hang_s
        self.requests: list[tuple[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:  # quiet test output
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                stub.requests.append((self.command, self.path))
                mode = stub.mode
                if mode == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if mode == "hang":
                    time.sleep(stub.hang_s)
                    self.close_connection = True
                    return
                if mode in ("500", "503"):
                    self._reply(int(mode), {"status": {"error": f"stub failing with {mode}"}})
                    return
                self._reply(200, {"result": _ok_result(self.command, self.path), "status": "ok"})

            def _reply(self, code: int, body: object) -> None:
                data = json.dumps({**body, "time": 0.0}).encode()  # type: ignore[dict-item]
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return self.root_url


def _ok_result(method: str, path: str) -> object:
    """Just enough for QdrantClientIndex start-up: no collection yet, creating one succeeds."""
    if path.startswith("/collections") and path.split("?")[0].endswith("/exists"):
        return {"exists": False}
    if method == "GET" and path.split("?")[0] == "/collections":
        return {"collections": []}
    if path.split("?")[0].endswith("/index"):
        return {"operation_id": 0, "status": "completed"}
    return True
