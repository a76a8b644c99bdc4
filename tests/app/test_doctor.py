"""`mmrag doctor`'s check of the gpu profile's models: a local folder, a hub id in the
Hugging Face cache, or a warning with the fix (this machine may have no internet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.doctor import _vlm_model


def test_a_local_folder_is_ok(tmp_path: Path) -> None:
    check = _vlm_model("embedder", str(tmp_path), "MMRAG_RETRIEVAL__VLM__MODEL")
    assert check.ok and "local folder" in check.detail


def test_a_hub_id_that_is_not_cached_is_a_warning_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty"))
    check = _vlm_model("embedder", "Qwen/Qwen3-VL-Embedding-2B", "MMRAG_RETRIEVAL__VLM__MODEL")
    assert not check.ok and check.optional  # a warning: lite does not need it
    assert "huggingface-cli download Qwen/Qwen3-VL-Embedding-2B" in check.fix
    assert "MMRAG_RETRIEVAL__VLM__MODEL" in check.fix


def test_a_cached_hub_id_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache layout huggingface_hub reads: models--org--name/snapshots/<rev>/config.json
    repo = tmp_path / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    check = _vlm_model("reranker", "org/tiny", "MMRAG_RETRIEVAL__VLM_RERANKER__MODEL")
    assert check.ok and "cache" in check.detail
