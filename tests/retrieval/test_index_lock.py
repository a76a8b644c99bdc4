"""The embedded shard is locked before the engine touches it: processes creating the same
new shard at once get one clear error each, and the one that wins keeps its data."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from ingest.errors import BackendUnavailable
from retrieval.config import RetrievalSettings
from retrieval.index_edge import EdgeIndex
from tests.support.shard_race import LAYOUT, UNITS, create_and_write

pytestmark = pytest.mark.reliability


def test_racing_creators_get_one_clear_error_and_the_winner_keeps_its_data(
    tmp_path: Path,
) -> None:
    shard = tmp_path / "edge" / "race"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    children = [
        ctx.Process(target=create_and_write, args=(str(shard), barrier, results)) for _ in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    outcomes = sorted(results.get(timeout=10) for _ in children)
    assert outcomes.count("ok") == 1, outcomes
    assert all("is open in another process" in o for o in outcomes if o != "ok"), outcomes
    index = EdgeIndex(shard, RetrievalSettings(collection="race"), LAYOUT)
    try:
        assert index.count(visible_only=False) == UNITS
    finally:
        index.close()


def test_a_second_open_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    shard = tmp_path / "edge" / "race"
    first = EdgeIndex(shard, RetrievalSettings(collection="race"), LAYOUT)
    with pytest.raises(BackendUnavailable, match="open in another process"):
        EdgeIndex(shard, RetrievalSettings(collection="race"), LAYOUT)
    first.close()
    EdgeIndex(shard, RetrievalSettings(collection="race"), LAYOUT).close()
