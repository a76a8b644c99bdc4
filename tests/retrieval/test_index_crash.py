"""Crash safety of the embedded index: a real child process ingesting into Qdrant Edge is
SIGKILLed mid-document (or between publishing and the registry commit). After a restart
nothing is half-visible, the registry and the index agree, and a resume completes it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.index_sync import reconcile
from ingest.types import DocStatus
from tests.support.api_fakes import make_pdf
from tests.support.crash_stack import crash_ingestor, open_crash_stack
from tests.support.index_suite import found_docs, query_of
from tests.support.paths import REPO, child_env


def _run_until_killed(data_dir: Path, stop: str, pdfs: list[Path]) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_ingest", str(data_dir), stop]
        + [str(p) for p in pdfs],
        env=child_env(),
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    marker = data_dir / "stopped"
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"child exited early: {child.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "child never reached the stop point"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "stop", ["mid-document", pytest.param("after-publish", marks=pytest.mark.slow)]
)
def test_sigkill_leaves_nothing_half_visible_and_resume_completes(
    tmp_path: Path, stop: str
) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["peer-to-peer electronic cash", "proof-of-work chain"])
    crash = make_pdf(
        tmp_path / "crash.pdf", ["tomatoes need sun", "compost and mulch", "stake tomatoes"]
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _run_until_killed(data_dir, stop, [good, crash])

    stack = open_crash_stack(data_dir)  # "restart": the WAL is replayed here
    docs = {d.file_name: d for d in stack.registry.list_documents()}
    assert docs["good.pdf"].status is DocStatus.READY
    assert docs["crash.pdf"].status is DocStatus.PENDING
    crashed = docs["crash.pdf"].id
    # The kill left the crashed document's points in the index: hidden mid-document,
    # visible after publish (before the registry said ready).
    points, visible = stack.index.doc_counts()[crashed]
    assert points >= 1 and (visible == 0 if stop == "mid-document" else visible == 3)

    reconcile(stack.registry, stack.index)
    assert stack.index.count(crashed, visible_only=True) == 0
    assert stack.index.count(docs["good.pdf"].id, visible_only=True) == 2
    hits = stack.index.search_channels(query_of(stack.indexer, "tomatoes compost mulch sun"))
    assert found_docs(hits) == {docs["good.pdf"].id}
    # Registry and index agree: what is visible is exactly the ready documents' units.
    ready = {d.id: d.n_pages for d in stack.registry.list_documents(DocStatus.READY)}
    assert {d: v for d, (_, v) in stack.index.doc_counts().items() if v} == ready

    ingestor = crash_ingestor(stack, stack.indexer)
    [result] = ingestor.resume()
    assert result.status == "ingested" and result.n_pages == 3
    assert stack.index.doc_counts()[crashed] == (3, 3)
    hits = stack.index.search_channels(query_of(stack.indexer, "tomatoes compost mulch sun"))
    assert crashed in found_docs(hits)
    stack.index.close()
