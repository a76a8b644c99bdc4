"""Child process of tests/retrieval/test_index_crash.py: ingest PDFs into a Qdrant Edge index and
stop dead at a chosen point of the last one, waiting to be SIGKILLed.

    python -m tests.support.crash_ingest DATA_DIR STOP PDF...

STOP is `mid-document` (after the last PDF's first batch is upserted, hidden) or
`after-publish` (after its points are published, before the registry marks it ready).
The marker file DATA_DIR/stopped says the child has reached the point.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.types import Document, Unit
from tests.support.crash_stack import crash_ingestor, open_crash_stack


class StopAt:
    """A UnitSink around the real indexer that freezes at `stop` on document `doc_name`."""

    def __init__(self, inner: object, stop: str, doc_name: str, marker: Path) -> None:
        self.inner = inner
        self.stop = stop
        self.doc_name = doc_name
        self.marker = marker
        self.current = ""

    def _freeze(self) -> None:
        self.marker.write_text("stopped")
        while True:
            time.sleep(1)

    def add(self, doc: Document, units: Sequence[Unit]) -> None:
        self.inner.add(doc, units)  # type: ignore[attr-defined]
        if self.stop == "mid-document" and doc.file_name == self.doc_name:
            self._freeze()

    def publish(self, doc_id: str) -> None:
        self.inner.publish(doc_id)  # type: ignore[attr-defined]
        if self.stop == "after-publish" and self.current == self.doc_name:
            self._freeze()

    def remove(self, doc_id: str) -> None:
        self.inner.remove(doc_id)  # type: ignore[attr-defined]


def main(data_dir: Path, stop: str, pdfs: list[Path]) -> None:
    stack = open_crash_stack(data_dir)
    sink = StopAt(stack.indexer, stop, pdfs[-1].name, data_dir / "stopped")

    ingestor = crash_ingestor(stack, sink)  # type: ignore[arg-type]
    for pdf in pdfs:
        sink.current = pdf.name
        result = ingestor.ingest_file(pdf)
        assert result.status == "ingested", result
    raise SystemExit("never reached the stop point")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], [Path(p) for p in sys.argv[3:]])
