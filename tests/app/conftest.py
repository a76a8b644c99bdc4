"""Fixtures of the app tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.store import BlobStore, Registry


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A fresh registry (and blob store) under tmp_path."""
    return Registry(tmp_path / "registry.sqlite3", BlobStore(tmp_path / "blobs"))
