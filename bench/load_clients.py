"""The load bench's clients, run in a process of their own.

Clients in the server's process would compete with it for the GIL (20 threads parsing
HTTP and JSON), so the bench would measure the load generator as much as the server.

The clients speak HTTP/1.1 with the standard library's `http.client`, one keep-alive
connection each. With httpx they cost 9 ms of CPU per request alone and 14-16 ms as 20
threads (measured beside the server in docs/figures.md, issue 12): 0.6-0.7 of the
machine's two cores, and one GIL, went to the load generator, which then capped the
concurrent rate it was measuring. This module imports nothing outside the standard
library, so the child process starts in a fraction of a second.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from urllib.parse import urlsplit


class QueryClient:
    """`POST /query` over one keep-alive HTTP/1.1 connection (reopened after an error)."""

    def __init__(self, url: str, timeout: float = 300) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def timed_query(self, question: str) -> float | None:
        """Seconds for one /query, or None when it failed (an error status, no answer,
        or a broken connection)."""
        body = json.dumps({"question": question}).encode()
        headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            self._connection.request("POST", "/query", body, headers)
            response = self._connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return None
        elapsed = time.perf_counter() - started
        if response.status != 200:
            return None
        return elapsed if json.loads(payload).get("answer") else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> QueryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _run_clients(url: str, clients: int, work: list[list[str]]) -> tuple[list[float], int, float]:
    """Each client (a thread) sends its list of questions one after another, all at once."""
    barrier = threading.Barrier(clients)

    def client(questions: list[str]) -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        with QueryClient(url) as http:
            barrier.wait()
            for question in questions:
                seconds = http.timed_query(question)
                if seconds is None:
                    errors += 1
                else:
                    latencies.append(seconds)
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, work))
    elapsed = time.perf_counter() - started
    return [x for lat, _ in results for x in lat], sum(e for _, e in results), elapsed


def run_clients(url: str, clients: int, work: list[list[str]]) -> tuple[list[float], int, float]:
    """`clients` concurrent clients in a child process: (latencies, errors, seconds)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_run_clients, url, clients, work).result()
