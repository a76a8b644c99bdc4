"""Streamlit UI (AppTest, no browser) against a fake API client: rendering, upload with
progress, delete, filter, streamed answer with sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from ui_fakes import FakeApi

from app.api_schemas import CitationOut, HitOut, QueryResponse
from ui import library
from ui.chat import sources_to_show
from ui.state import CLIENT_KEY

APP = Path(__file__).resolve().parents[1] / "ui" / "streamlit_app.py"
QUESTION = "What problem does a peer-to-peer network solve?"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library, "POLL_INTERVAL_S", 0.01)


def _app(api: FakeApi) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=20)
    at.session_state[CLIENT_KEY] = api
    return at.run()


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_renders_documents_and_disables_chat_without_any(tmp_path: Path) -> None:
    api = FakeApi()
    at = _app(api)
    assert not at.exception
    assert "No documents yet" in " ".join(c.value for c in at.sidebar.caption)
    assert at.chat_input[0].disabled
    api.add_document("paper.pdf", pages=9)
    api.add_document("talk.mp4", kind="video", pages=0, clips=1)
    at.run()
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert "paper.pdf" in sidebar and "9 pages" in sidebar and "1 clip" in sidebar
    assert not at.chat_input[0].disabled


def test_unreachable_api_shows_how_to_start_it() -> None:
    api = FakeApi()
    api.up = False
    at = _app(api)
    assert "mmrag serve" in at.error[0].value and api.base_url in at.error[0].value


def test_upload_follows_the_job_to_the_end_then_lists_the_document() -> None:
    api = FakeApi()
    at = _app(api)
    at.sidebar.file_uploader[0].set_value(
        [
            ("a.pdf", b"%PDF-1.4 one", "application/pdf"),
            ("b.pdf", b"%PDF-1.4 two", "application/pdf"),
        ]
    ).run()
    assert not at.exception
    assert [name for name, _ in api.uploads] == ["a.pdf", "b.pdf"]
    bars = at.sidebar.get("progress")
    assert len(bars) == 2
    assert all(bar.proto.value == 100 for bar in bars)  # AppTest keeps percent
    assert "a.pdf" in _markdown(at.sidebar) and not at.chat_input[0].disabled
    at.run()  # a rerun must not upload the same files again
    assert len(api.uploads) == 2


def test_a_refused_upload_shows_the_reason() -> None:
    api = FakeApi()
    at = _app(api)
    at.sidebar.file_uploader[0].set_value(("fake.pdf", b"not a pdf", "application/pdf")).run()
    assert api.uploads == []
    assert "unsupported file type" in at.sidebar.error[0].value


def test_delete_button_removes_the_document() -> None:
    api = FakeApi()
    doc_id = api.add_document("paper.pdf")
    at = _app(api)
    at.sidebar.button(key=f"delete-{doc_id}").click().run()
    assert api.deleted == [doc_id]
    assert "No documents yet" in " ".join(c.value for c in at.sidebar.caption)


def test_chat_streams_the_answer_and_shows_the_cited_page() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _app(api)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    text = _markdown(at)
    assert "double-spending [paper.pdf p.2]" in text and "[S1]" in text  # label + score line
    assert len(at.image) == 1 and api.image_requests == [f"{next(iter(api.docs))}:x1"]
    at.run()  # history is kept and re-rendered from the cache
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert len(api.image_requests) == 1


def test_chat_plays_a_cited_clip_from_its_start() -> None:
    api = FakeApi()
    api.add_document("talk.mp4", kind="video", pages=0, clips=6)
    at = _app(api)
    at.chat_input[0].set_value("what is said about cash?").run()
    videos = at.get("video")
    assert len(videos) == 1 and videos[0].proto.start_time == 30
    assert len(api.video_requests) == 1


def test_document_filter_restricts_the_question() -> None:
    api = FakeApi()
    api.add_document("a.pdf")
    second = api.add_document("b.pdf")
    at = _app(api)
    at.sidebar.multiselect[0].set_value([second]).run()
    at.chat_input[0].set_value(QUESTION).run()
    assert api.questions[-1].doc_ids == [second]
    assert "[b.pdf p.2]" in _markdown(at)


def test_a_stream_error_is_shown() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    api.stream_error = "service unavailable: vLLM is not reachable"
    at = _app(api)
    at.chat_input[0].set_value(QUESTION).run()
    assert "vLLM is not reachable" in at.error[0].value


def _hit(rank: int) -> HitOut:
    return HitOut(
        rank=rank,
        unit_id=f"d:p{rank}",
        doc_id="d",
        file_name="a.pdf",
        kind="page",
        label=f"a.pdf p.{rank}",
        page=rank,
        score=1 / rank,
        stage1_score=0.5,
        matched=[],
        text="",
        image_url="",
    )


def test_sources_are_the_cited_hits_in_citation_order_else_the_closest() -> None:
    hits = [_hit(1), _hit(2), _hit(3)]

    def cite(index: int | None, valid: bool = True) -> CitationOut:
        return CitationOut(marker=f"[S{index}]", source_index=index, valid=valid)

    cited = QueryResponse(
        answer="",
        answer_display="",
        refused=False,
        citations=[cite(3), cite(1), cite(3), cite(9, valid=False)],
        hits=hits,
    )
    assert [h.rank for h in sources_to_show(cited)] == [3, 1]
    refused = cited.model_copy(update={"citations": [], "refused": True})
    assert [h.rank for h in sources_to_show(refused, limit=2)] == [1, 2]
