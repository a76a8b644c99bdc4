"""Streamlit UI (AppTest, no browser) against a fake API client: conversations, uploads that
are sent once, delete that asks first, the API-down banner, answers and their sources;
and the pure helpers behind them."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.api.chat_schemas import UploadLimits
from app.api.schemas import CitationOut, HitOut, QueryResponse
from tests.support.paths import REPO
from tests.support.ui_fakes import FakeApi
from ui import library
from ui.citations import answer_html, cited_passages, hits_in_order
from ui.client import ApiError
from ui.library import human_size, plain_upload_error, precheck
from ui.state import CLIENT_KEY
from ui.viewer import page_html

APP = REPO / "ui" / "streamlit_app.py"
QUESTION = "What problem does a peer-to-peer network solve?"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library, "POLL_INTERVAL_S", 0.01)


def _app(api: FakeApi, conversation: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=20)
    at.session_state[CLIENT_KEY] = api
    if conversation:
        at.query_params["c"] = conversation
    return at.run()


def _uploaded(api: FakeApi, files: list[tuple[str, bytes, str]]) -> AppTest:
    """The app after `files` (name, content, MIME type) are dropped on the sidebar's uploader."""
    return _app(api).sidebar.file_uploader[0].set_value(files).run()


def _asked(api: FakeApi, question: str = QUESTION) -> AppTest:
    """The app after `question` is asked in the chat."""
    return _app(api).chat_input[0].set_value(question).run()


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


def test_renders_documents_and_disables_chat_without_any() -> None:
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


def test_the_uploader_states_the_servers_limit() -> None:
    api = FakeApi()
    api.max_upload_bytes = 5 * 2**20
    at = _app(api)
    assert at.sidebar.file_uploader[0].proto.max_upload_size_mb == 5
    assert "up to 5 MiB each (the server's limit)" in " ".join(c.value for c in at.sidebar.caption)


def test_a_question_starts_a_saved_conversation_and_reopens_from_the_url() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _asked(api)
    assert not at.exception
    assert list(api.conversations) == ["conv0"] and at.query_params["c"] == "conv0"
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    # A reload is a new session: the conversation comes back from the server.
    again = _app(api, conversation="conv0")
    assert [m.name for m in again.chat_message] == ["user", "assistant"]
    assert QUESTION in _texts(again)
    assert QUESTION in [b.label for b in again.sidebar.button]  # titled by its question


def test_sidebar_switches_renames_and_starts_new_conversations() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    first = api.create_conversation("First").id
    second = api.create_conversation("Second").id
    at = _app(api, conversation=first)
    at.sidebar.button(key=f"open-{second}").click().run()
    assert at.query_params["c"] == second
    at.sidebar.button(key=f"rename-{second}").click().run()
    at.sidebar.text_input(key=f"title-{second}").set_value("Renamed").run()
    at.sidebar.button(key=f"rename-save-{second}").click().run()
    assert api.conversations[second].title == "Renamed"
    at.sidebar.button(key="new-conversation").click().run()
    assert "c" not in at.query_params


def test_delete_asks_first() -> None:
    api = FakeApi()
    doc_id = api.add_document("paper.pdf")
    conv = api.create_conversation("Keep?").id
    at = _app(api, conversation=conv)
    at.sidebar.button(key=f"delete-{doc_id}").click().run()
    assert api.deleted == []  # asked, not done
    assert "Delete the document **paper.pdf**?" in _markdown(at.sidebar)
    at.sidebar.button(key="confirm-delete-no").click().run()
    assert api.deleted == [] and "Delete the document" not in _markdown(at.sidebar)
    at.sidebar.button(key=f"delete-{doc_id}").click().run()
    at.sidebar.button(key="confirm-delete-yes").click().run()
    assert api.deleted == [doc_id]
    assert "No documents yet" in " ".join(c.value for c in at.sidebar.caption)
    at.sidebar.button(key=f"delete-conversation-{conv}").click().run()
    assert conv in api.conversations
    at.sidebar.button(key="confirm-delete-yes").click().run()
    assert conv not in api.conversations and "c" not in at.query_params


TWO_PDFS = [
    ("a.pdf", b"%PDF-1.4 one", "application/pdf"),
    ("b.pdf", b"%PDF-1.4 two", "application/pdf"),
]
NOT_READABLE = [
    ("report.docx", b"PK\x03\x04 word", "application/octet-stream"),
    ("fake.pdf", b"not a pdf", "application/pdf"),
]


def test_uploads_are_sent_once_and_followed_to_the_end() -> None:
    api = FakeApi()
    at = _uploaded(api, TWO_PDFS)
    assert not at.exception
    assert [name for name, _ in api.uploads] == ["a.pdf", "b.pdf"]
    for _ in range(4):  # the progress fragment polls once per run here
        at.run()
    assert len(api.uploads) == 2  # reruns never send them again
    assert all(job.status == "done" for job in api.jobs.values())
    assert "a.pdf" in _markdown(at.sidebar) and not at.chat_input[0].disabled


def test_refused_files_say_why_once_in_plain_words() -> None:
    api = FakeApi()
    at = _uploaded(api, NOT_READABLE)
    assert api.uploads == []
    errors = [e.value for e in at.sidebar.error]
    assert errors == [
        "report.docx is a .docx file: mmrag reads PDFs and videos (MP4 or PDF).",
        "fake.pdf is not a PDF or a video mmrag can read (MP4 or PDF).",
    ]


def test_api_down_keeps_the_history_shows_a_banner_and_recovers() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _asked(api)
    api.up = False
    at.run()
    assert "cannot be reached" in at.warning[0].value and api.base_url in at.warning[0].value
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert "paper.pdf" in _markdown(at.sidebar)
    assert at.chat_input[0].placeholder == "Waiting for the API to come back…"
    api.up = True
    at.run()
    assert not at.warning and at.chat_input[0].placeholder.startswith("Ask a question")


def test_a_question_the_api_never_got_is_kept_with_the_reason() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _app(api)
    api.up = False  # went away after the page loaded
    at.chat_input[0].set_value(QUESTION).run()
    assert QUESTION in _texts(at)
    assert any("Not sent" in e.value for e in at.error)


def test_sources_list_every_hit_cited_first_with_scores_behind_details() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _asked(api)
    assert "[S1]" not in _markdown(at)  # the chip replaces the marker
    assert "paper.pdf p.2** · cited" in _markdown(at)
    assert not any("stage 1" in c.value for c in at.caption)
    assert not any("evidence" in c.value for c in at.caption)
    at.toggle(key="details-m1").set_value(True).run()
    assert any("stage 1 0.70 · rerank 3.20" in c.value for c in at.caption)
    assert any(c.value.startswith("evidence 0.75: the largest share") for c in at.caption)


def test_opening_a_page_highlights_the_cited_passage() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    at = _asked(api)
    at.button(key="source-m1-1").click().run()
    unit = f"{next(iter(api.docs))}:x1"
    assert api.box_requests == [(unit, "A peer-to-peer network solves double-spending")]
    page = next(h.proto.body for h in at.get("html") if "mmrag-page" in h.proto.body)
    assert 'class="mmrag-highlight"' in page and "left:10.000%;top:20.000%" in page


def test_a_clip_plays_only_its_span() -> None:
    api = FakeApi()
    api.add_document("talk.mp4", kind="video", pages=0, clips=6)
    at = _asked(api, "what is said about cash?")
    at.button(key="source-m1-1").click().run()
    video = at.get("video")[0].proto
    assert (video.start_time, video.end_time) == (30, 40)
    assert len(api.video_requests) == 1


def test_the_filter_restricts_the_question_and_is_shown_with_it() -> None:
    api = FakeApi()
    api.add_document("a.pdf")
    second = api.add_document("b.pdf")
    at = _app(api)
    at.sidebar.multiselect[0].set_value([second]).run()
    at.chat_input[0].set_value(QUESTION).run()
    assert api.questions[-1].doc_ids == [second]
    assert "Searched only in b.pdf" in [c.value for c in at.caption]


def test_a_failed_answer_shows_its_error() -> None:
    api = FakeApi()
    api.add_document("paper.pdf")
    api.stream_error = "service unavailable: vLLM is not reachable"
    at = _asked(api)
    assert "vLLM is not reachable" in at.error[0].value


# -- pure helpers ---------------------------------------------------------------------------


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


def test_hits_are_listed_cited_first_in_citation_order() -> None:
    def cite(index: int | None, valid: bool = True) -> CitationOut:
        return CitationOut(marker=f"[S{index}]", source_index=index, valid=valid)

    response = QueryResponse(
        answer="",
        answer_display="",
        refused=False,
        citations=[cite(3), cite(1), cite(3), cite(9, valid=False)],
        hits=[_hit(1), _hit(2), _hit(3)],
    )
    assert [(h.rank, cited) for h, cited in hits_in_order(response)] == [
        (3, True),
        (1, True),
        (2, False),
    ]


def test_answer_html_escapes_text_and_turns_markers_into_chips() -> None:
    text = 'Cash <b>"quoted"</b> [S1][S2].\n\nMore [S7].'
    html = answer_html(text, [_hit(1), _hit(2)], opened=2)
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert (
        '<a href="#" class="mmrag-chip" data-rank="1" title="Open a.pdf p.1">a.pdf p.1</a>' in html
    )
    assert 'class="mmrag-chip mmrag-chip-open" data-rank="2"' in html
    assert html.count("<p>") == 2 and "[S7]" in html  # an unknown source stays text


def test_cited_passages_are_the_text_each_citation_closes() -> None:
    answer = '"Whales sing." [S1] Cash is peer-to-peer [S2][S1]. Whales sing. [S1]'
    assert cited_passages(answer) == {
        1: ["Whales sing.", "Cash is peer-to-peer"],
        2: ["Cash is peer-to-peer"],
    }


def test_upload_messages_are_plain() -> None:
    limits = UploadLimits(max_upload_bytes=2**30, extensions=[".pdf", ".mp4"])
    assert human_size(2**30) == "1 GiB" and human_size(5_000_000) == "4.8 MiB"
    assert plain_upload_error("x.pdf", ApiError(413, "x.pdf: too big"), limits) == (
        "x.pdf is larger than the server's limit of 1 GiB."
    )
    assert plain_upload_error("x.pdf", ApiError(400, "x.pdf: Empty file"), limits) == (
        "x.pdf was refused: empty file"
    )
    assert precheck("big.mp4", 2**31, limits) == (
        "big.mp4 is 2 GiB, over the server's limit of 1 GiB."
    )
    assert precheck("ok.PDF", 10, limits) is None


def test_page_html_places_boxes_in_percent_of_the_image() -> None:
    html = page_html(b"\xff\xd8jpeg", [(0.1, 0.25, 0.5, 0.3)], 'a "b" p.1')
    assert "left:10.000%;top:25.000%;width:40.000%;height:5.000%" in html
    assert 'alt="a &quot;b&quot; p.1"' in html
