"""A blocking iterator read by one worker thread for its whole length.

Starlette streams a plain iterator with one thread-pool hop per item: for a streamed
answer, one per token event. Each hop hands the GIL between the event loop and a worker
thread, which under concurrent queries is what bounded the server (docs/figures.md,
issue 12). `in_one_thread` makes it one hop per stream: a worker pulls the items and puts
each on an asyncio queue the response reads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Next(Generic[T]):
    """What the worker hands over: an item, the iterator's error, or its end."""

    kind: Literal["item", "error", "end"]
    item: T | None = None
    error: BaseException | None = None


async def in_one_thread(items: Iterator[T]) -> AsyncIterator[T]:
    """`items`, pulled in one worker thread and yielded here as they come. When the reader
    stops early (the client went away), the worker stops pulling and closes `items`."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Next[T]] = asyncio.Queue()
    stop = threading.Event()

    def hand_over(entry: _Next[T]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, entry)
        except RuntimeError:  # the event loop is closed: nobody reads any more
            stop.set()

    def pull() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                hand_over(_Next("item", item=item))
            else:
                hand_over(_Next("end"))
        except BaseException as err:  # the reader raises it in the event loop
            hand_over(_Next("error", error=err))
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()  # a generator's own clean-up (a VLM stops generating)

    worker = asyncio.ensure_future(run_in_threadpool(pull))
    try:
        while True:
            entry = await queue.get()
            if entry.kind == "error" and entry.error is not None:
                raise entry.error
            if entry.kind == "end":
                break
            yield cast(T, entry.item)
        await worker  # it has handed over its last entry: it is returning
    finally:
        stop.set()
        if not worker.done():  # the reader stopped first: the worker ends at its next item
            _unfinished.add(worker)  # asyncio keeps only a weak reference to a task
            worker.add_done_callback(_unfinished.discard)


_unfinished: set[asyncio.Future[None]] = set()
