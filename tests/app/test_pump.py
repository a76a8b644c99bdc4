"""app.api.pump.in_one_thread: a blocking iterator read by one worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from app.api.pump import in_one_thread


async def _all(items: AsyncIterator[int]) -> list[int]:
    return [item async for item in items]


def test_yields_every_item_in_order_from_one_other_thread() -> None:
    threads: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.get_ident())
            yield i

    assert asyncio.run(_all(in_one_thread(items()))) == list(range(50))
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_an_error_reaches_the_reader_after_the_items_before_it() -> None:
    got: list[int] = []

    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("generator failed")

    async def read() -> None:
        async for item in in_one_thread(items()):
            got.append(item)

    with pytest.raises(ValueError, match="generator failed"):
        asyncio.run(read())
    assert got == [1, 2]


def test_a_reader_that_stops_early_stops_and_closes_the_iterator() -> None:
    closed = threading.Event()
    pulled: list[int] = []

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                pulled.append(i)
                yield i
                i += 1
                threading.Event().wait(0.001)
        finally:
            closed.set()

    async def first_three() -> list[int]:
        stream = in_one_thread(endless())
        got = [await anext(stream) for _ in range(3)]
        await stream.aclose()  # what a response does when its client goes away
        await asyncio.to_thread(closed.wait, 5)
        return got

    assert asyncio.run(first_three()) == [0, 1, 2]
    assert closed.is_set()
    count = len(pulled)
    threading.Event().wait(0.05)
    assert len(pulled) == count  # nothing pulled after the close
