"""Concurrent queries share encoder calls (retrieval/batching.py), and an ingest's encoder
work never blocks a query's (the lite reranker's vectors hold no lock across the model)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from app.api.health import Pingable
from retrieval.batching import BatchedQueryEmbedder, MicroBatcher, batch_queries
from retrieval.embedders.base import Matrix
from retrieval.embedders.fake import FakeEmbedder
from retrieval.embedders.windows import SentenceVectors

pytestmark = pytest.mark.reliability

THREADS = 8


def _rows(items: Sequence[float]) -> Matrix:
    return np.asarray(items, dtype=np.float32).reshape(-1, 1) * np.ones((1, 3), np.float32)


def _concurrently(fn: object, args: list[object]) -> list[object]:
    barrier = threading.Barrier(len(args))
    results: list[object] = [None] * len(args)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(args[i])  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_calls_are_merged_and_each_gets_its_own_rows() -> None:
    sizes: list[int] = []

    def slow(items: list[float]) -> Matrix:
        sizes.append(len(items))
        time.sleep(0.05)
        return _rows(items)

    batcher: MicroBatcher[float] = MicroBatcher(slow)
    results = _concurrently(batcher, [[float(i), float(i) + 0.5] for i in range(THREADS)])
    for i, rows in enumerate(results):
        assert np.array_equal(rows, _rows([i, i + 0.5]))
    assert sum(sizes) == 2 * THREADS
    assert batcher.calls == len(sizes) < THREADS  # merged: fewer model calls than callers


def test_a_lone_call_runs_at_once_and_errors_reach_every_caller() -> None:
    batcher: MicroBatcher[float] = MicroBatcher(_rows)
    assert np.array_equal(batcher([1.0]), _rows([1.0])) and batcher.calls == 1

    def broken(items: list[float]) -> Matrix:
        time.sleep(0.02)
        raise RuntimeError("model failed")

    failing: MicroBatcher[float] = MicroBatcher(broken)
    outcomes = _concurrently(lambda x: _outcome(failing, x), [[1.0]] * 4)
    assert outcomes == ["model failed"] * 4
    assert _outcome(failing, [1.0]) == "model failed"  # the lead was handed back


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_at_most_lanes_model_calls_run_at_once_and_all_lanes_are_used(lanes: int) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow(items: list[float]) -> Matrix:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return _rows(items)

    batcher: MicroBatcher[float] = MicroBatcher(slow, lanes=lanes)
    results = _concurrently(batcher, [[float(i)] for i in range(THREADS)])
    assert all(np.array_equal(rows, _rows([i])) for i, rows in enumerate(results))
    assert most == lanes  # 8 callers at once: every lane ran, never one more
    assert batcher.calls < THREADS  # still merged


def test_a_second_lane_runs_while_the_first_is_busy() -> None:
    # The first call holds its lane until the second call's model call has started: with
    # one lane that never happens (the wait times out), with two it does at once.
    started = threading.Event()

    def model(items: list[float]) -> Matrix:
        if items == [1.0]:
            assert started.wait(5), "the second call did not run beside the first"
        else:
            started.set()
        return _rows(items)

    batcher: MicroBatcher[float] = MicroBatcher(model, lanes=2)
    outcome: list[str] = []
    first = threading.Thread(target=lambda: outcome.append(_outcome(batcher, [1.0])))
    first.start()
    time.sleep(0.05)  # the first call is in its lane
    assert np.array_equal(batcher([2.0]), _rows([2.0]))
    first.join(10)
    assert outcome == ["no error"] and batcher.calls == 2


@pytest.mark.parametrize(("lanes", "backlog"), [(1, 1), (2, 1), (2, 4)])
def test_many_callers_many_rounds_all_get_their_rows_within_the_lanes(
    lanes: int, backlog: int
) -> None:
    # Lanes are handed from a finishing batch to the oldest waiting call: under churn no
    # call is lost, answered twice or left asleep, and never more than `lanes` run.
    running = 0
    most = 0
    lock = threading.Lock()
    rng = np.random.default_rng(7)
    delays = iter(rng.uniform(0, 0.004, size=10_000).tolist())

    def model(items: list[float]) -> Matrix:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            delay = next(delays)
        time.sleep(delay)
        with lock:
            running -= 1
        return _rows(items)

    batcher: MicroBatcher[float] = MicroBatcher(model, max_items=5, lanes=lanes, backlog=backlog)

    def client(base: int) -> bool:
        return all(
            np.array_equal(batcher([float(base + k), -1.0]), _rows([base + k, -1.0]))
            for k in range(30)
        )

    assert _concurrently(client, [100 * i for i in range(24)]) == [True] * 24
    assert most <= lanes and batcher.calls < 24 * 30  # merged, within the lanes


def test_a_further_lane_opens_only_once_backlog_calls_wait() -> None:
    # One query's model call costs nearly what eight cost: a second lane for a lone
    # waiting query would be a second small batch. With backlog 3 the waiting calls queue
    # until the third, which opens the second lane for all three at once.
    release = threading.Event()
    batches: list[list[float]] = []

    def model(items: list[float]) -> Matrix:
        batches.append(list(items))
        if items == [1.0]:
            assert release.wait(10)
        return _rows(items)

    batcher: MicroBatcher[float] = MicroBatcher(model, lanes=2, backlog=3)
    results: dict[float, object] = {}

    def call(x: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.update({x: batcher([x])}))
        thread.start()
        time.sleep(0.05)
        return thread

    threads = [call(1.0), call(2.0), call(3.0)]
    assert batches == [[1.0]]  # two calls wait: no second lane yet
    threads.append(call(4.0))
    assert batches == [[1.0], [4.0, 2.0, 3.0]]  # the third waiter opened it, for all three
    release.set()
    for thread in threads:
        thread.join(10)
    assert all(np.array_equal(results[x], _rows([x])) for x in (1.0, 2.0, 3.0, 4.0))


def test_lanes_and_backlog_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        MicroBatcher(_rows, lanes=0)
    with pytest.raises(ValueError, match="must be at least 1"):
        MicroBatcher(_rows, backlog=0)


def _outcome(batcher: MicroBatcher[float], items: list[float]) -> str:
    try:
        batcher(items)
    except (RuntimeError, AssertionError) as err:
        return str(err)
    return "no error"


def test_batched_query_embedder_matches_the_plain_one() -> None:
    plain = FakeEmbedder(dim=32)
    batched = BatchedQueryEmbedder(plain)
    queries = [f"question number {i} about whales" for i in range(THREADS)]
    results = _concurrently(lambda q: batched.embed_queries([q])[0], queries)
    for query, vector in zip(queries, results, strict=True):
        assert np.allclose(vector, plain.embed_queries([query])[0])
    assert (batched.name, batched.dim) == (plain.name, plain.dim)


class GatedModel:
    """A sentence-encoder stand-in whose first call (the ingest's) waits until a
    second call (a query's) is inside the model at the same time."""

    def __init__(self) -> None:
        self.inside = 0
        self.overlapped = threading.Event()
        self._lock = threading.Lock()
        self.calls: list[int] = []

    dim = 4

    def encode(self, texts: list[str], **_kwargs: object) -> Matrix:
        with self._lock:
            self.inside += 1
            self.calls.append(len(texts))
            if self.inside >= 2:
                self.overlapped.set()
        try:
            if len(self.calls) == 1:
                self.overlapped.wait(5)
            else:
                time.sleep(0.05)
            return np.ones((len(texts), 4), dtype=np.float32) / 2.0
        finally:
            with self._lock:
                self.inside -= 1


def test_an_ingest_encoding_windows_does_not_block_a_query() -> None:
    model = GatedModel()
    vectors = SentenceVectors(model)  # type: ignore[arg-type]
    warm = threading.Thread(target=lambda: vectors.encode(["w1", "w2"], batched=False))
    warm.start()
    while not model.calls:
        time.sleep(0.005)
    started = time.monotonic()
    assert vectors.encode(["a query"]).shape == (1, 4)
    warm.join(10)
    assert model.overlapped.is_set()  # the query ran while the ingest was inside the model
    assert time.monotonic() - started < 4  # not after the ingest's call timed out


def test_concurrent_queries_share_sentence_model_calls() -> None:
    model = GatedModel()
    model.calls.append(0)  # no call waits for another
    vectors = SentenceVectors(model)  # type: ignore[arg-type]
    _concurrently(lambda t: vectors.encode([t]), [f"query {i}" for i in range(THREADS)])
    assert sum(model.calls) == THREADS and len(model.calls) - 1 < THREADS
    assert vectors.encode(["query 3"]).shape == (1, 4) and sum(model.calls) == THREADS


def test_the_batched_embedder_keeps_the_wrapped_embedders_health_probe() -> None:
    """/ready pings a vLLM-served embedder through the batching wrapper (a wrapper without
    `ping` reported "loaded" for a remote server)."""

    class Remote(FakeEmbedder):
        pinged = 0

        def ping(self) -> None:
            Remote.pinged += 1

    wrapped = batch_queries(Remote())
    assert isinstance(wrapped, Pingable)
    wrapped.ping()
    assert Remote.pinged == 1
    assert not isinstance(batch_queries(FakeEmbedder()), Pingable)


def test_an_embedder_that_batches_its_own_queries_is_not_wrapped_again() -> None:
    """MiniLM's queries are micro-batched by its SentenceVectors: a BatchedQueryEmbedder in
    front would add a second batcher (a thread hand-off) to every query."""

    class SelfBatching(FakeEmbedder):
        batches_queries = True

    embedder = SelfBatching()
    assert batch_queries(embedder) is embedder
    assert isinstance(batch_queries(FakeEmbedder()), BatchedQueryEmbedder)
    assert batch_queries(None) is None


def test_minilm_queries_pass_one_batcher() -> None:
    from retrieval.embedders.minilm import MiniLMEmbedder

    assert MiniLMEmbedder.batches_queries
