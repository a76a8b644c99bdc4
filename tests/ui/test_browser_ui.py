"""The browser UI in a real headless Chromium, against the real REST API (its real
registry, conversation store and ingestion pipeline) with fake models (tests/support/api_fakes.py:
the tests are about the UI). Each test saves a screenshot under test-artifacts/.

- a conversation survives a page reload and an API restart;
- a question asked while a multi-page PDF ingests is answered from a ready document;
- a citation chip opens the page with a highlight over the cited passage's words;
- stopping and restarting the API keeps the history and recovers without a reload;
- delete asks first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pymupdf
import pytest

from app.config import Settings
from app.service import Services
from ingest.types import DocStatus
from retrieval.types import Hit
from tests.support.api_fakes import MemoryIndex, TinyPdfPages, fake_services
from tests.support.browser_support import (
    HAVE_BROWSER,
    ApiServer,
    chromium,
    screenshot,
    streamlit_ui,
    wait_for,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not HAVE_BROWSER, reason="chromium/chromedriver missing"),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

SLOW_PAGES = 8
SECONDS_PER_PAGE = 2.0  # only for PDFs over 3 pages: the "multi-page PDF being ingested"
CITED_LINE = "The blue whale song carries across whole ocean basins at night."
WHALE_LINES = [
    "Field notes on marine mammals",
    "Humpback calls were recorded near the reef in spring.",
    CITED_LINE,
    "Recordings were archived for the survey team.",
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class LineQuotingGenerator:
    """Quotes the line of the top hit that shares most words with the question, cited as
    [S1] (a stand-in for the extractive generator, whose answers quote whole passages)."""

    name = "line-quoting"

    def ping(self) -> None:
        return None

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        lines = [line for line in hits[0].unit.text.splitlines() if line.strip()]
        best = max(lines, key=lambda line: len(_words(line) & _words(question)))
        yield from (f"{word} " for word in best.split())
        yield "[S1]"


class SlowPages(TinyPdfPages):
    """Renders at 72 dpi; PDFs of more than 3 pages take SECONDS_PER_PAGE per page."""

    def pages(self, path: Path) -> Iterator[Any]:
        self.seconds_per_page = SECONDS_PER_PAGE if self.count_pages(path) > 3 else 0.0
        yield from super().pages(path)


def browser_services(settings: Settings) -> Services:
    """Fake services whose in-memory index is reloaded from the registry at start, like a
    persistent index would be, so a restarted API still finds the ready documents."""
    services = fake_services(settings)
    index = services.index
    assert isinstance(index, MemoryIndex)
    for doc in services.registry.list_documents(DocStatus.READY):
        index.published[doc.id] = services.registry.units(doc.id)
    services.ingestor.pdf = SlowPages(dpi=72)
    services.generator = LineQuotingGenerator()  # type: ignore[assignment]
    return services


def _pdf(path: Path, pages: list[list[str]]) -> Path:
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=420, height=300)
        for number, line in enumerate(lines):
            page.insert_text((24, 40 + 28 * number), line, fontsize=10)
    doc.save(path)
    doc.close()
    return path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("browser-ui") / "data"
    settings = Settings(_env_file=None, profile="lite", data_dir=data)  # type: ignore[call-arg]
    server = ApiServer(settings, browser_services)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def whale_pdf(tmp_path_factory: pytest.TempPathFactory, api: ApiServer) -> Path:
    """A ready one-page PDF, ingested through the API before the browser opens."""
    path = _pdf(tmp_path_factory.mktemp("pdfs") / "whales.pdf", [WHALE_LINES])
    with api.client() as http:
        job = http.post("/documents", files={"file": (path.name, path.read_bytes())}).json()
        wait_for(
            "whales.pdf", lambda: http.get(f"/jobs/{job['id']}").json()["status"] == "done", 30
        )
    return path


@pytest.fixture(scope="module")
def ui_url(api: ApiServer, whale_pdf: Path) -> Iterator[str]:
    with streamlit_ui(api.url) as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def _find(driver: Any, css: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, css)  # type: ignore[no-any-return]


def _sidebar_text(driver: Any) -> str:
    return str(_find(driver, '[data-testid="stSidebar"]')[0].text)


def _wait_confirm(driver: Any, question: str) -> None:
    """Wait for the delete confirmation to ask `question`. While Streamlit reruns, the
    container's key can sit on a node that still shows the previous element there."""
    wait_for(
        f"the question {question!r}",
        lambda: any(question in el.text for el in _find(driver, ".st-key-confirm-delete")),
        20,
    )


def _messages(driver: Any) -> list[str]:
    return [m.text for m in _find(driver, '[data-testid="stChatMessage"]')]


def _open_page(driver: Any, url: str) -> None:
    driver.get(url)
    wait_for("the page", lambda: "chat with your PDFs" in driver.page_source, 40)


def _ask(driver: Any, question: str) -> None:
    box = wait_for(
        "an enabled chat input",
        lambda: [e for e in _find(driver, '[data-testid="stChatInputTextArea"]') if e.is_enabled()],
        40,
    )
    box[0].send_keys(question)
    box[0].send_keys(Keys.ENTER)


def _wait_answer(driver: Any, count: int, timeout_s: float = 40) -> list[Any]:
    """Wait for the `count`-th answer's citation chips (the answer is saved and reloaded)."""
    return wait_for(  # type: ignore[no-any-return]
        f"answer {count} with citation chips",
        lambda: (
            len(_find(driver, '[data-testid="stChatMessage"] a.mmrag-chip')) >= count
            and _find(driver, '[data-testid="stChatMessage"] a.mmrag-chip')
        ),
        timeout_s,
    )


def _conversation_id(driver: Any) -> str:
    match = wait_for("?c= in the URL", lambda: re.search(r"[?&]c=(\w+)", driver.current_url), 20)
    return str(match.group(1))


def test_a_conversation_survives_a_reload_and_an_api_restart(
    driver: Any, ui_url: str, api: ApiServer
) -> None:
    _open_page(driver, ui_url)
    _ask(driver, "What carries across ocean basins?")
    _wait_answer(driver, 1)
    conv = _conversation_id(driver)
    assert "blue whale song" in _messages(driver)[1]

    driver.refresh()  # a new browser session: everything comes back from the server
    wait_for(
        "the history after a reload", lambda: "ocean basins" in " ".join(_messages(driver)), 40
    )
    assert _conversation_id(driver) == conv

    api.stop()
    api.start()  # a new process state over the same data dir
    driver.get(f"{ui_url}/?c={conv}")
    wait_for("the history after a restart", lambda: len(_messages(driver)) == 2, 40)
    _wait_answer(driver, 1)
    assert "What carries across ocean basins?" in _sidebar_text(driver)  # auto title
    screenshot(driver, "ui_conversation_after_restart")


def test_a_question_asked_while_a_long_pdf_ingests_is_answered(
    driver: Any, ui_url: str, api: ApiServer, tmp_path: Path
) -> None:
    long_pdf = _pdf(
        tmp_path / "long-report.pdf",
        [[f"Report page {n} about budgets and staffing."] for n in range(1, SLOW_PAGES + 1)],
    )
    _open_page(driver, ui_url)
    wait_for("the file input", lambda: _find(driver, "input[type=file]"), 20)[0].send_keys(
        str(long_pdf)
    )
    wait_for(
        "the ingestion progress of long-report.pdf",
        lambda: re.search(r"long-report\.pdf: extracting \d/8 pages", _sidebar_text(driver)),
        30,
    )
    _ask(driver, "What carries across ocean basins?")  # while the long PDF is ingesting
    chips = _wait_answer(driver, 1)
    assert chips[0].text == "whales.pdf p.1"
    with api.client() as http:
        long_doc = next(d for d in http.get("/documents").json() if d["file_name"] == long_pdf.name)
    assert long_doc["status"] == "pending", "the answer came before the long PDF was ready"
    screenshot(driver, "ui_answer_while_ingesting")
    wait_for("long-report.pdf ready", lambda: "8 pages" in _sidebar_text(driver), 60)
    with api.client() as http:  # sent once, whatever the reruns
        names = [d["file_name"] for d in http.get("/documents").json()]
    assert names.count(long_pdf.name) == 1


def _rect(driver: Any, element: Any) -> dict[str, float]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "const r = arguments[0].getBoundingClientRect();"
        "return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};",
        element,
    )


def _settled_rects(driver: Any, *elements: Any) -> list[dict[str, float]]:
    """The elements' boxes once two reads 0.3 s apart agree: the page may still scroll or
    reflow after the viewer opens, and boxes read at different moments then disagree."""
    previous: list[dict[str, float]] = []

    def settled() -> list[dict[str, float]] | None:
        nonlocal previous
        boxes = [_rect(driver, element) for element in elements]
        same = boxes == previous
        previous = boxes
        time.sleep(0.3)
        return boxes if same else None

    return wait_for("the page layout to settle", settled, 20)  # type: ignore[no-any-return]


def test_a_citation_opens_the_page_with_the_passage_highlighted(
    driver: Any, ui_url: str, whale_pdf: Path
) -> None:
    _open_page(driver, ui_url)
    _ask(driver, "Which song carries across whole ocean basins at night?")
    chips = _wait_answer(driver, 1)
    chips[0].click()
    image = wait_for(
        "the page image",
        lambda: [
            img
            for img in _find(driver, "img.mmrag-page-image")
            if driver.execute_script("return arguments[0].naturalWidth", img) > 100
        ],
        30,
    )[0]
    marks = wait_for("a highlight", lambda: _find(driver, ".mmrag-highlight"), 20)
    page_box, mark = _settled_rects(driver, image, marks[0])
    width, height = page_box["x1"] - page_box["x0"], page_box["y1"] - page_box["y0"]
    assert width > 700, "the source is shown at full width"
    # Where the cited words really are, from pymupdf's own search (another code path).
    with pymupdf.open(whale_pdf) as pdf:
        page = pdf[0]
        words = page.search_for(CITED_LINE)
        other = page.search_for(WHALE_LINES[1])
        scale_x, scale_y = width / page.rect.width, height / page.rect.height
    assert len(marks) == len(words) == 1
    target = {
        "x0": page_box["x0"] + words[0].x0 * scale_x,
        "y0": page_box["y0"] + words[0].y0 * scale_y,
        "x1": page_box["x0"] + words[0].x1 * scale_x,
        "y1": page_box["y0"] + words[0].y1 * scale_y,
    }
    overlap_w = min(mark["x1"], target["x1"]) - max(mark["x0"], target["x0"])
    overlap_h = min(mark["y1"], target["y1"]) - max(mark["y0"], target["y0"])
    assert overlap_w > 0.9 * (target["x1"] - target["x0"])
    assert overlap_h > 0.5 * (target["y1"] - target["y0"])
    assert mark["y1"] < page_box["y0"] + other[0].y1 * scale_y + 10 or mark["y0"] > (
        page_box["y0"] + other[0].y1 * scale_y
    )  # not on the neighbouring line
    screenshot(driver, "ui_citation_highlight")


def test_stopping_and_restarting_the_api_keeps_the_history_and_recovers(
    driver: Any, ui_url: str, api: ApiServer
) -> None:
    _open_page(driver, ui_url)
    _ask(driver, "Where were humpback calls recorded?")
    _wait_answer(driver, 1)
    api.stop()
    try:
        wait_for("the unreachable banner", lambda: "cannot be reached" in driver.page_source, 30)
        # The page may be mid-rerun when the banner appears: wait for it to settle.
        messages = wait_for(
            "the history", lambda: len(_messages(driver)) == 2 and _messages(driver), 20
        )
        assert "humpback" in messages[0].lower()
        assert "Where were humpback calls recorded?" in _sidebar_text(driver)
        assert "whales.pdf" in _sidebar_text(driver)
        screenshot(driver, "ui_api_down")
    finally:
        api.start()
    wait_for("the banner to go", lambda: "cannot be reached" not in driver.page_source, 40)
    _ask(driver, "What carries across ocean basins?")  # no reload: the page recovered
    _wait_answer(driver, 2)
    assert len(_messages(driver)) == 4
    screenshot(driver, "ui_api_recovered")


def test_delete_asks_first(driver: Any, ui_url: str, api: ApiServer) -> None:
    with api.client() as http:
        conv = http.post("/conversations", json={"title": "Delete me"}).json()["id"]
    _open_page(driver, ui_url)
    wait_for("the conversation", lambda: "Delete me" in _sidebar_text(driver), 20)
    wait_for(
        "the delete button", lambda: _find(driver, f".st-key-delete-conversation-{conv} button"), 20
    )[0].click()
    _wait_confirm(driver, "Delete the conversation Delete me?")
    with api.client() as http:  # nothing deleted yet
        assert conv in {c["id"] for c in http.get("/conversations").json()}
    screenshot(driver, "ui_delete_asks_first")
    _find(driver, ".st-key-confirm-delete-no button")[0].click()
    wait_for("the question to go", lambda: not _find(driver, ".st-key-confirm-delete"), 20)
    with api.client() as http:
        assert conv in {c["id"] for c in http.get("/conversations").json()}

    doc_id = next(
        d["id"] for d in httpx.get(f"{api.url}/documents").json() if d["file_name"] == "whales.pdf"
    )
    _find(driver, f".st-key-delete-{doc_id} button")[0].click()
    _wait_confirm(driver, "Delete the document whales.pdf?")
    _find(driver, ".st-key-confirm-delete-yes button")[0].click()
    wait_for("whales.pdf gone", lambda: "whales.pdf" not in _sidebar_text(driver), 20)
