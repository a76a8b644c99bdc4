"""One index shared by query threads and an ingest writer (the API's situation): under
concurrent load no read fails and none ever sees a document partly published or deleted
(the lock policy of retrieval/index_gate.py)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from ingest.errors import BackendUnavailable
from retrieval.index_gate import AccessGate
from tests.support.fixtures_retrieval import document, fake_stack, page
from tests.support.index_suite import query_of

WORDS = [
    "tomatoes",
    "compost",
    "mulch",
    "pasta",
    "basil",
    "network",
    "chain",
    "proof",
    "cash",
    "garden",
]


def _units(doc_id: str, n: int) -> list:  # type: ignore[type-arg]
    return [
        page(doc_id, f"{doc_id}.pdf", i, " ".join(WORDS[(i + j) % len(WORDS)] for j in range(4)))
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_queries_never_see_a_document_half_published_or_half_deleted(
    tmp_path: Path, backend: str
) -> None:
    index, indexer = fake_stack(backend, tmp_path)
    sizes = {f"doc{i:02d}": 2 + i % 5 for i in range(24)}
    query = query_of(indexer, "tomatoes compost network")
    errors: list[BaseException] = []
    partial: list[str] = []
    reads = Counter[str]()
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                # Dense search returns every visible point (limit above the total).
                hits = index.search_channels(query, limit=500)["text"]
                seen = Counter(h.unit.doc_id for h in hits)
                partial.extend(f"{d}: {n}/{sizes[d]}" for d, n in seen.items() if n != sizes[d])
                for doc_id, (_, visible) in index.doc_counts().items():
                    if visible not in (0, sizes[doc_id]):
                        partial.append(f"{doc_id}: {visible} visible of {sizes[doc_id]}")
                reads["search"] += 1
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    def writer() -> None:
        try:
            for number, (doc_id, size) in enumerate(sizes.items()):
                units = _units(doc_id, size)
                doc = document(doc_id, f"{doc_id}.pdf")
                for start in range(0, size, 2):  # batches, as the ingestor sends them
                    indexer.add(doc, units[start : start + 2])
                indexer.publish(doc_id)
                if number % 3 == 2:  # delete an earlier document now and then
                    indexer.remove(f"doc{number - 2:02d}")
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
        finally:
            done.set()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert not partial, partial[:5]
    assert reads["search"] >= 10  # the readers really ran alongside the writer
    deleted = {f"doc{n - 2:02d}" for n in range(len(sizes)) if n % 3 == 2}
    expected = {d: (n, n) for d, n in sizes.items() if d not in deleted}
    assert index.doc_counts() == expected
    index.close()


def test_close_waits_for_readers_and_then_refuses() -> None:
    gate = AccessGate("test index")
    inside = threading.Event()
    release = threading.Event()
    closed = threading.Event()

    def read() -> None:
        with gate.shared():
            inside.set()
            release.wait(10)

    def close() -> None:
        with gate.closing():
            closed.set()

    reader = threading.Thread(target=read)
    reader.start()
    inside.wait(10)
    closer = threading.Thread(target=close)
    closer.start()
    assert not closed.wait(0.2)  # a query in flight holds the close back
    release.set()
    reader.join(10)
    closer.join(10)
    assert closed.is_set()
    with pytest.raises(BackendUnavailable, match="test index is closed"), gate.shared():
        pass


def test_a_waiting_publish_is_not_starved_by_readers() -> None:
    gate = AccessGate("test index")
    stop = threading.Event()
    published = threading.Event()

    def read_forever() -> None:
        while not stop.is_set():
            with gate.shared():
                stop.wait(0.001)

    readers = [threading.Thread(target=read_forever) for _ in range(4)]
    for reader in readers:
        reader.start()
    with gate.visible_change():
        published.set()
    stop.set()
    for reader in readers:
        reader.join(10)
    assert published.is_set()
