"""The load bench's clients, run in a process of their own.

Clients in the server's process would compete with it for the GIL (20 threads parsing
HTTP and JSON), so the bench would measure the load generator as much as the server. This
module imports only httpx, so the child process starts in a fraction of a second.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import httpx


def timed_query(http: httpx.Client, question: str) -> float | None:
    """Seconds for one /query, or None when it failed."""
    started = time.perf_counter()
    try:
        response = http.post("/query", json={"question": question}, timeout=300)
    except httpx.HTTPError:
        return None
    elapsed = time.perf_counter() - started
    return elapsed if response.status_code == 200 and response.json()["answer"] else None


def _run_clients(url: str, clients: int, work: list[list[str]]) -> tuple[list[float], int, float]:
    """Each client (a thread) sends its list of questions one after another, all at once."""
    barrier = threading.Barrier(clients)

    def client(questions: list[str]) -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        with httpx.Client(base_url=url, timeout=300) as http:
            barrier.wait()
            for question in questions:
                seconds = timed_query(http, question)
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
