"""The part every fake HTTP server of the tests shares: a ThreadingHTTPServer on a free
loopback port, served from a daemon thread between `__enter__` and `__exit__`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalHTTPServer:
    """Base of the fake servers: subclasses build their handler class and call
    `super().__init__(handler)`; `root_url` is `http://127.0.0.1:<port>`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def root_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._before_shutdown()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _before_shutdown(self) -> None:
        """Release handlers that are still waiting (a hang mode), before shutting down."""
