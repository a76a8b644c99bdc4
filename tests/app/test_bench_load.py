"""The load bench's HTTP client (bench/load_clients.py) against a stub server: what it
counts as an answer, an error, and that it keeps (and recovers) its connection."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load_clients import QueryClient


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API
    connections: set[tuple[str, int]] = set()

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.connections.add(self.client_address)
        question = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["question"]
        status, body = 200, {"answer": f"about {question}"}
        if question == "fail":
            status, body = 503, {"detail": "index: down"}
        elif question == "empty":
            body = {"answer": ""}
        elif question == "drop":
            self.close_connection = True  # hang up without a response
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture()
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.connections = set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_is_timed_and_failures_are_none(url: str) -> None:
    with QueryClient(url) as client:
        seconds = client.timed_query("What is it?")
        assert seconds is not None and 0 < seconds < 30
        assert client.timed_query("fail") is None  # an error status
        assert client.timed_query("empty") is None  # 200 without an answer


def test_one_connection_is_kept_and_reopened_after_a_hang_up(url: str) -> None:
    with QueryClient(url) as client:
        for _ in range(3):
            assert client.timed_query("What is it?") is not None
        assert len(_Stub.connections) == 1  # keep-alive: one connection for three
        assert client.timed_query("drop") is None
        assert client.timed_query("What is it?") is not None  # a new connection
    assert len(_Stub.connections) == 2


def test_a_server_that_is_not_there_is_an_error_not_a_crash() -> None:
    with QueryClient("http://127.0.0.1:9", timeout=2) as client:
        assert client.timed_query("What is it?") is None


def test_the_speed_up_pairs_each_sequential_phase_with_the_concurrent_one_after_it() -> None:
    from bench.load import Phase, pair_ratios

    def phase(name: str, per_s: float) -> Phase:
        return Phase(name, 1, 10, 0, 1.0, per_s, 1.0, 1.0, 1.0)

    phases = [phase("s1", 40), phase("c1", 100), phase("s2", 50), phase("c2", 90)]
    assert pair_ratios(phases) == [2.5, 1.8]
    assert pair_ratios([phase("s", 0), phase("c", 10)]) == [0.0]  # no sequential answers


def test_each_phase_of_the_pairs_asks_new_texts() -> None:
    from bench.load import fresh_questions

    questions = ["What is A?", "What is B?", "What is C?"]
    total = 60
    per_phase = -(-total // len(questions))
    phases = [fresh_questions(questions, total, k * per_phase) for k in range(7)]
    seen: set[str] = set()
    for texts in phases:
        assert len(set(texts)) == total
        assert not seen & set(texts)
        seen |= set(texts)
