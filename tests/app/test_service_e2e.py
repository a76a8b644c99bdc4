"""The whole lite stack, real models, tiny inputs: ingest -> index -> query -> answer -> delete.

Checks the acceptance rules that span layers: registry counts equal Qdrant point counts,
ingesting again adds nothing, a question finds its page (and a spoken clip), the answer
cites it, and deleting a document leaves no point, row or blob behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api.schemas import QueryRequest
from app.config import Settings
from app.conversing import ask_and_save
from app.querying import ask, search
from app.service import Services, build_services
from generation.types import FinalEvent
from ingest.types import DocStatus, UnitKind
from retrieval.types import SearchFilter
from tests.support.fixtures_pdf import text_pdf
from tests.support.fixtures_video import make_speech_video

PAGES = [
    "The warranty covers the compressor for ten years from the date of purchase.",
    "Clean the filter every two weeks with lukewarm water and a soft brush.",
    "The remote control needs two AAA batteries, which are included in the box.",
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(
        data_dir=data_dir,
        ingest={"render_dpi": 72, "ocr_languages": "eng", "workers": 1, "clip_seconds": 4.0},
    )
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture(scope="module")
def manual(services: Services, tmp_path_factory: pytest.TempPathFactory) -> str:
    pdf = text_pdf(tmp_path_factory.mktemp("docs") / "aircon-manual.pdf", PAGES)
    result = services.ingestor.ingest_file(pdf)
    assert result.status == "ingested", result.error
    assert result.doc_id is not None
    return result.doc_id


def test_registry_and_index_agree_and_reingest_is_a_no_op(services: Services, manual: str) -> None:
    doc = services.registry.get_document(manual)
    assert doc is not None and doc.status is DocStatus.READY and doc.n_pages == 3
    assert services.index.count(manual) == 3
    before = services.index.count()
    pdf_path = services.storage.blobs.path(doc.source_blob)
    again = services.ingestor.ingest_file(pdf_path)
    assert again.status == "skipped"
    assert services.index.count() == before


def test_question_finds_the_page_and_the_answer_cites_it(services: Services, manual: str) -> None:
    hits = search(services, "How often do you clean the filter?")
    assert hits[0].unit.doc_id == manual and hits[0].unit.page == 2
    assert hits[0].rerank_score is not None and hits[0].matched
    answer = ask(services, "How often do you clean the filter?")
    assert not answer.refused
    assert "every two weeks" in answer.text
    assert any(c.valid and c.unit_id == hits[0].unit.id for c in answer.citations)


def test_filters_restrict_the_search(services: Services, manual: str) -> None:
    only_clips = search(services, "warranty compressor", SearchFilter(kinds=(UnitKind.CLIP,)))
    assert all(h.unit.kind is UnitKind.CLIP for h in only_clips)
    other_doc = search(services, "warranty compressor", SearchFilter(doc_ids=("0" * 64,)))
    assert other_doc == []


def test_spoken_words_in_a_video_are_searchable(services: Services, tmp_path: Path) -> None:
    video = make_speech_video(
        tmp_path / "briefing.mp4", "The launch window opens on Tuesday morning.", 4.5, 8.0
    )
    result = services.ingestor.ingest_file(video)
    assert result.status == "ingested", result.error
    assert result.n_clips == 2
    assert result.doc_id is not None and services.index.count(result.doc_id) == 2
    hits = search(services, "When does the launch window open?")
    top = hits[0].unit
    assert top.kind is UnitKind.CLIP and top.doc_id == result.doc_id
    assert top.start_s == pytest.approx(4.0)  # the speech starts at 4.5 s: the second clip


def test_delete_leaves_no_point_row_or_blob(services: Services, tmp_path: Path) -> None:
    pdf = text_pdf(tmp_path / "to-delete.pdf", ["A page about penguins in Antarctica."])
    result = services.ingestor.ingest_file(pdf)
    assert result.doc_id is not None
    doc = services.registry.get_document(result.doc_id)
    assert doc is not None
    blobs = {services.storage.blobs.path(doc.source_blob)} | {
        image for unit in services.registry.units(doc.id) for image in unit.images
    }
    services.ingestor.delete(doc.id)
    assert services.index.count(doc.id) == 0
    assert services.registry.get_document(doc.id) is None
    assert not any(path.exists() for path in blobs)
    assert all(h.unit.doc_id != doc.id for h in search(services, "penguins Antarctica"))


def test_every_command_runs_its_model_calls_on_the_configured_torch_threads(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # build_services is the one factory of the API, the CLI, eval and the benches.
    import torch

    from app import service

    assert torch.get_num_threads() == services.settings.torch_threads == 1
    calls: list[int] = []

    def no_storage(settings: Settings) -> None:
        raise RuntimeError("stop after the threads are set")

    monkeypatch.setattr(service, "limit_torch_threads", calls.append)
    monkeypatch.setattr(service, "open_storage", no_storage)
    with pytest.raises(RuntimeError, match="stop after"):
        build_services(Settings(data_dir=tmp_path / "data", torch_threads=3, _env_file=None))
    assert calls == [3]


def test_a_follow_up_is_answered_with_the_question_it_follows(
    services: Services, manual: str
) -> None:
    """Real models: alone, the follow-up names nothing the manual holds and is refused; in
    its conversation it is asked with its topic and quotes the warranty page."""
    topic, follow_up = "What does the warranty cover?", "And for how many years does it last?"
    assert ask(services, follow_up).refused
    conv = services.storage.conversations.create().id
    answers = []
    for question in (topic, follow_up):
        events = ask_and_save(services, conv, QueryRequest(question=question))
        answers += [e.answer for e in events if isinstance(e, FinalEvent)]
    answer = answers[-1]
    assert not answer.refused and "ten years" in answer.text
    assert answer.hits[answer.citations[0].source_index - 1].unit.page == 1
