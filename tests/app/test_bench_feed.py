"""bench.feed: the CPU feed measurement end to end on synthetic pages, and the arithmetic of
its 16-core projection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import feed


def test_projection_arithmetic() -> None:
    stages = [
        feed.Stage("prepare", 0.5, 2000.0),
        feed.Stage("decode", 20.0, 50.0),
        feed.Stage("pin (copy)", 1.0, 1000.0),
    ]
    one_thread = feed.Scaling(1, 15.0, serial_cpu_ms=1.0, parallel_cpu_ms=14.0)
    report = feed.project(stages, [one_thread], "test", 600.0, 414.0, 400.0, (1191, 1684))
    # collate: 1 serial + 1 pin + 14 / 14 threads = 3 ms -> 333 pages/s of feed; the GPU
    # at 110 pages/s then bounds the pipeline: 1000 / (0.5 + 1000 / 110).
    assert report["projected_collate_ms_per_page"] == 3.0
    assert report["projected_feed_pages_per_s"] == pytest.approx(333.3, abs=0.1)
    assert report["projected_pipeline_pages_per_s"] == pytest.approx(104.3, abs=0.1)
    assert report["projected_ratio_to_target"] == pytest.approx(0.95, abs=0.01)


def test_feed_bench_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "CORPUS", tmp_path / "no-corpus")  # synthetic pages
    out = tmp_path / "feed.json"
    report = feed.main(
        ["--pages", "3", "--batch", "2", "--threads", "2", "--repeats", "1", "--out", str(out)]
    )
    assert report["source"] == "3 synthetic 1191x1684 pages"
    names = [s["name"] for s in report["stages"]]
    assert names == ["prepare", "decode", "resize", "patchify", "pin (copy)"]
    assert all(s["ms_per_page"] > 0 for s in report["stages"])
    assert [s["threads"] for s in report["collate_scaling"]] == [1, 2]
    assert 350 < report["visual_tokens_per_page"] <= 414  # ~414-token pages, Qwen3-VL
    assert report["projected_feed_pages_per_s"] > 0
    assert json.loads(out.read_text()) == report
