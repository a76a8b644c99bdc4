"""ingest.prefetch: a producer thread ahead of the consumer, stopped when it stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import pytest

from ingest.prefetch import prefetched


def _numbers(n: int, log: list[str], fail_at: int | None = None) -> Generator[int, None, None]:
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"bad item {i}")
            log.append(f"made {i}")
            yield i
    finally:
        log.append(f"closed in {threading.current_thread().name}")


def test_items_arrive_in_order_from_another_thread() -> None:
    log: list[str] = []
    assert list(prefetched(_numbers(50, log), depth=4)) == list(range(50))
    assert log[-1] == "closed in mmrag-prefetch"


def test_the_producer_runs_ahead_while_the_consumer_works() -> None:
    log: list[str] = []
    stream = prefetched(_numbers(10, log), depth=3)
    assert next(stream) == 0
    time.sleep(0.3)  # the consumer is busy: the producer fills the buffer meanwhile
    assert "made 3" in log and "made 6" not in log  # ahead, but at most `depth` items
    assert list(stream) == list(range(1, 10))


def test_a_producer_error_is_raised_in_the_consumer_after_the_good_items() -> None:
    log: list[str] = []
    seen: list[int] = []
    with pytest.raises(ValueError, match="bad item 3"):
        for item in prefetched(_numbers(10, log, fail_at=3), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2]
    assert log[-1] == "closed in mmrag-prefetch"


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    log: list[str] = []
    stream = prefetched(_numbers(1000, log), depth=2)
    for item in stream:
        if item == 5:
            break
    stream.close()  # what a `for` loop's exit does when the generator is collected
    assert log[-1] == "closed in mmrag-prefetch"
    assert sum(line.startswith("made") for line in log) < 20
    assert not any(t.name == "mmrag-prefetch" for t in threading.enumerate())


def test_closing_stops_the_producer_when_the_consumer_fails() -> None:
    from contextlib import closing

    log: list[str] = []
    with (
        pytest.raises(RuntimeError, match="sink failed"),
        closing(prefetched(_numbers(1000, log), depth=2)) as stream,
    ):
        for item in stream:
            if item == 3:
                raise RuntimeError("sink failed")
    assert log[-1] == "closed in mmrag-prefetch"  # closed before the error reached us
    assert not any(t.name == "mmrag-prefetch" for t in threading.enumerate())
