"""`mmrag reindex` and opening old data dirs: an index made by qdrant-client's local mode
is refused with the command to run; reindex rebuilds the index from the registry and blobs
(into Qdrant Edge), and a lost or out-of-step index is set right."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.api.health import check_readiness
from app.cli import cli
from app.config import Settings
from app.index_sync import rebuild, reconcile
from app.service import build_services
from retrieval.encoders import Encoders
from retrieval.index_factory import LegacyIndex
from retrieval.index_qdrant import QdrantClientIndex, open_qdrant_client
from tests.support.fixtures_pdf import text_pdf

PAGES = ["Tomatoes need full sun and regular watering.", "Compost improves the soil."]


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Through the environment, so that the CLI sees the same settings.
    for key, value in {
        "DATA_DIR": str(tmp_path / "data"),
        "INGEST__RENDER_DPI": "48",
        "INGEST__OCR_LANGUAGES": "eng",
        "INGEST__WORKERS": "1",
        "RETRIEVAL__TEXT_EMBEDDER": "fake",
        "RETRIEVAL__RERANKER": "none",
    }.items():
        monkeypatch.setenv(f"MMRAG_{key}", value)
    settings = Settings()
    services = build_services(settings, with_generator=False)
    result = services.ingestor.ingest_file(text_pdf(tmp_path / "garden.pdf", PAGES))
    assert result.status == "ingested"
    services.close()
    return settings


def _make_legacy(settings: Settings) -> None:
    """Turn the data dir into one made before Qdrant Edge: a local-mode collection."""
    services = build_services(settings, with_generator=False)
    layout = services.index.layout
    services.close()
    client = open_qdrant_client(path=settings.qdrant_path)
    QdrantClientIndex(client, settings.retrieval, layout).close()
    shutil.rmtree(settings.index_dir)


def test_local_mode_data_dir_gets_a_one_line_message_then_reindex_converts_it(
    ingested: Settings,
) -> None:
    _make_legacy(ingested)
    with pytest.raises(LegacyIndex, match=r"local mode.*run `mmrag reindex`") as err:
        build_services(ingested, with_generator=False)
    assert "\n" not in str(err.value)
    runner = CliRunner()
    result = runner.invoke(cli, ["reindex"])
    assert result.exit_code == 0, result.output
    assert "reindexed 1 documents (2 units)" in result.output
    assert "removed the old local-mode index" in result.output
    assert not (ingested.qdrant_path / "collection" / ingested.retrieval.collection).exists()
    services = build_services(ingested, with_generator=False)
    [doc] = services.registry.list_documents()
    assert services.index.doc_counts() == {doc.id: (2, 2)}
    hits = services.retriever.search("tomatoes watering")
    assert hits and hits[0].unit.doc_id == doc.id
    services.close()


def test_reindex_replaces_a_lost_index_and_reconcile_reports_it(ingested: Settings) -> None:
    services = build_services(ingested, with_generator=False)
    [doc] = services.registry.list_documents()
    services.index.delete_document(doc.id)  # the index lost the document
    report = reconcile(services.registry, services.index)
    assert report.missing == [doc.id]
    services.close()
    services = build_services(ingested, with_generator=False)
    assert services.sync.missing == [doc.id]  # /ready says so, not only the log
    assert "run `mmrag reindex`" in check_readiness(services).warnings[0]
    services.close()
    done = rebuild(ingested)
    assert (done.documents, done.units, done.removed_legacy) == (1, 2, False)
    services = build_services(ingested, with_generator=False)
    assert services.index.doc_counts() == {doc.id: (2, 2)}
    assert not list(ingested.index_dir.glob("*.rebuild")) and not list(
        ingested.index_dir.glob("*.old")
    )
    services.close()


def test_reconcile_drops_points_of_unknown_documents(ingested: Settings) -> None:
    services = build_services(ingested, with_generator=False)
    [doc] = services.registry.list_documents()
    units = services.registry.units(doc.id)
    stray = [replace(u, doc_id="stray", id="stray:" + u.id) for u in units]
    services.index.upsert(services.indexer.embed(stray), visible=True)
    assert "stray" in services.index.doc_counts()
    services.close()
    services = build_services(ingested, with_generator=False)  # reconciles on start
    assert services.index.doc_counts() == {doc.id: (2, 2)}
    services.close()


def test_layout_helper_matches_the_services(ingested: Settings) -> None:
    services = build_services(ingested, with_generator=False)
    assert (
        services.index.layout
        == Encoders(
            text=services.retriever.encoders.text, sparse=services.retriever.encoders.sparse
        ).layout
    )
    services.close()


def test_a_domain_error_in_any_command_is_one_line_and_exit_1(ingested: Settings) -> None:
    result = CliRunner().invoke(cli, ["query", "--hits", "--doc", "ffff", "tomatoes"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: no document with id 'ffff'"]


def test_rm_refuses_a_prefix_too_short_to_be_meant_and_deletes_nothing(
    ingested: Settings,
) -> None:
    services = build_services(ingested, with_generator=False)
    [doc] = services.registry.list_documents()
    services.close()
    result = CliRunner().invoke(cli, ["rm", doc.id[:1]])
    assert result.exit_code == 1
    assert "give at least 6 characters of its id" in result.output
    services = build_services(ingested, with_generator=False)
    assert [d.id for d in services.registry.list_documents()] == [doc.id]
    services.close()


def test_query_lists_each_cited_source_under_the_number_the_answer_cites(
    ingested: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation.citations import check_citations
    from generation.types import Answer, FinalEvent, TokenEvent

    services = build_services(ingested, with_generator=False)
    hits = services.retriever.search("tomatoes watering")
    services.close()
    assert len(hits) >= 2
    checked = check_citations("Water them [S2].", hits)
    final = Answer(checked.text, checked.citations, hits, evidence=0.75)

    def ask_stream(*_args: object) -> Iterator[object]:
        yield TokenEvent(final.text)
        yield FinalEvent(final)

    monkeypatch.setattr("app.querying.ask_stream", ask_stream)
    result = CliRunner().invoke(cli, ["query", "how to water tomatoes?"])
    assert result.exit_code == 0, result.output
    assert "Sources (evidence 0.75):" in result.output
    listed = [line for line in result.output.splitlines() if line.startswith("[S")]
    assert len(listed) == 1 and listed[0].startswith(f"[S2] {hits[1].unit.label} ")


def test_rm_loads_no_model_and_removes_points_rows_and_blobs(
    ingested: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build_services(ingested, with_generator=False)
    [doc] = services.registry.list_documents()
    services.close()
    assert any(ingested.blob_dir.glob("??/*"))

    def no_models(_settings: Settings) -> None:
        raise AssertionError("rm loaded a model")

    monkeypatch.setattr("app.factory.build_encoders", no_models)
    result = CliRunner().invoke(cli, ["rm", doc.id[:8]])
    assert result.exit_code == 0, result.output
    assert f"removed {doc.id[:12]} garden.pdf" in result.output
    monkeypatch.undo()
    services = build_services(ingested, with_generator=False)
    assert services.registry.list_documents() == [] and services.index.doc_counts() == {}
    services.close()
    assert not list(ingested.blob_dir.glob("??/*"))


def test_the_index_stores_blob_keys_so_a_moved_data_dir_still_serves_images(
    ingested: Settings, tmp_path: Path
) -> None:
    shutil.move(ingested.data_dir, tmp_path / "moved")
    moved = ingested.model_copy(update={"data_dir": tmp_path / "moved"})
    services = build_services(moved, with_generator=False)
    [hit, *_] = services.retriever.search("tomatoes watering")
    assert hit.unit.images and all(p.is_file() for p in hit.unit.images)
    assert all(p.is_relative_to(moved.blob_dir) for p in hit.unit.images)
    services.close()
