"""Run a producer ahead of its consumer in a background thread.

Ingestion extracts units (render, text layer, OCR in page processes; ASR and frames for
video) and then embeds them (MiniLM in this process). Pulled one after the other, the page
processes wait while the encoder runs and the encoder waits while pages render; pulled by
a thread, both stages keep a core busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked producer checks whether the consumer has gone


class _Done:
    """End of the stream, with the producer's error if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Generator[T, None, None], depth: int) -> Generator[T, None, None]:
    """`items`, produced by a background thread up to `depth` ahead of the consumer.

    The producer's exception is raised in the consumer at the point it happened. When the
    consumer stops early (break, error, KeyboardInterrupt), the producer stops and
    `items` is closed in its thread, so its clean-up (a process pool's shutdown) runs."""
    buffer: queue.Queue[T | _Done] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: T | _Done) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            put(_Done(err))
        else:
            put(_Done())
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="mmrag-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
