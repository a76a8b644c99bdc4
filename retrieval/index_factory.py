"""The one place that picks an index backend from the settings."""

from __future__ import annotations

from pathlib import Path

from retrieval.config import RetrievalSettings
from retrieval.index import IndexMismatch, VectorIndex, VectorLayout
from retrieval.index_edge import EdgeIndex


class LegacyIndex(IndexMismatch):
    """The data dir holds an index made by qdrant-client's local mode (before Qdrant Edge)."""


def legacy_collection(legacy_dir: Path, collection: str) -> Path | None:
    """The local-mode collection folder under `legacy_dir`, if one exists."""
    folder = legacy_dir / "collection" / collection
    return folder if (folder / "storage.sqlite").is_file() else None


def open_index(
    settings: RetrievalSettings,
    layout: VectorLayout | None,
    *,
    blob_root: Path | None = None,
    url: str | None = None,
    api_key: str | None = None,
    edge_dir: Path | None = None,
    legacy_dir: Path | None = None,
    timeout_s: float = 10.0,
) -> VectorIndex:
    """A Qdrant server/cluster index when `url` is set, otherwise the embedded Qdrant Edge
    shard `<edge_dir>/<collection>`. An old local-mode index under `legacy_dir` with no
    shard yet is refused with the command that converts it. `layout` None opens an existing
    index as it is, without the models that define a layout; payloads hold image paths as
    keys relative to `blob_root`."""
    if url:
        # Imported here: qdrant-client takes ~1 s to import, and the embedded default
        # never needs it.
        from retrieval.index_qdrant import QdrantClientIndex, open_qdrant_client

        client = open_qdrant_client(url=url, api_key=api_key, timeout_s=timeout_s)
        return QdrantClientIndex(client, settings, layout, blob_root=blob_root)
    if edge_dir is None:
        raise ValueError("the embedded index needs a directory")
    shard_dir = edge_dir / settings.collection
    legacy = legacy_collection(legacy_dir, settings.collection) if legacy_dir else None
    if legacy is not None and not shard_dir.exists():
        raise LegacyIndex(
            f"{legacy} was made by qdrant-client's local mode, which Qdrant Edge replaced; "
            "run `mmrag reindex` to rebuild the index from your documents (nothing is lost)"
        )
    return EdgeIndex(shard_dir, settings, layout, blob_root=blob_root)
