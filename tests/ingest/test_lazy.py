"""LoadOnce: built on first use, once, even when threads ask together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ingest.lazy import LoadOnce


def test_builds_on_first_use_and_once_under_concurrent_first_calls() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def build() -> object:
        with lock:
            calls.append(1)
        time.sleep(0.05)  # long enough for the other threads to arrive meanwhile
        return object()

    once = LoadOnce(build)
    assert not once.loaded and calls == []
    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: once.get(), range(8)))
    assert len(calls) == 1 and once.loaded
    assert all(v is values[0] for v in values)


def test_a_given_value_is_never_rebuilt() -> None:
    def fail() -> str:
        raise AssertionError("built")

    assert LoadOnce(fail, "ready").get() == "ready"
