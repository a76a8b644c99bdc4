"""End to end in a real headless Chromium: the REST API (lite profile, real models, temp
data dir) and the Streamlit UI on random ports; upload a PDF through the page, wait for it
to be ready, ask a question, see the answer and its source image; save a screenshot.

Skips when chromium/chromedriver or the shared corpus is missing. MMRAG_E2E_WIRING=fake
swaps the models for tests/support/api_fakes.py (checks the browser path without model loading).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from app.config import Settings
from tests.support.browser_support import (
    HAVE_BROWSER,
    REPO,
    ApiServer,
    chromium,
    screenshot,
    streamlit_ui,
)
from tests.support.browser_support import wait_for as _wait

CORPUS = REPO.parent / "shared" / "corpus"
PDF = CORPUS / "pdf" / "bitcoin-paper-p1.pdf"
QUESTION = "What problem does Satoshi Nakamoto propose to solve using a peer-to-peer network?"
SCREENSHOT = REPO / "test-artifacts" / "browser_e2e.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(400),
    pytest.mark.skipif(not HAVE_BROWSER, reason="chromium/chromedriver missing"),
    pytest.mark.skipif(not PDF.exists(), reason=f"corpus file {PDF} missing"),
]

webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, profile="lite", data_dir=tmp_path_factory.mktemp("e2e") / "data"
    )
    if os.environ.get("MMRAG_E2E_WIRING") == "fake":
        from tests.support.api_fakes import fake_services

        server = ApiServer(settings, fake_services)
    else:
        server = ApiServer(settings)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ui_url(api_url: str) -> Iterator[str]:
    with streamlit_ui(api_url) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(1400, 1600) as driver:
        yield driver


def test_upload_ask_and_see_the_cited_page(browser: object, ui_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    driver.get(ui_url)  # type: ignore[attr-defined]

    def find(css: str) -> list[object]:
        return driver.find_elements(By.CSS_SELECTOR, css)  # type: ignore[attr-defined,no-any-return]

    _wait("the page title", lambda: "chat with your PDFs" in driver.page_source, 30)  # type: ignore[attr-defined]
    file_input = _wait("the file input", lambda: find("input[type=file]"), 20)
    file_input[0].send_keys(str(PDF))  # type: ignore[index]

    sidebar = '[data-testid="stSidebar"]'
    _wait(
        "the document to be ready",
        lambda: (
            "1 page" in find(sidebar)[0].text and "bitcoin-paper-p1.pdf" in find(sidebar)[0].text
        ),  # type: ignore[attr-defined]
        60,
    )
    box = _wait(
        "an enabled chat input",
        lambda: [e for e in find('[data-testid="stChatInputTextArea"]') if e.is_enabled()],  # type: ignore[attr-defined]
        60,
    )
    box[0].send_keys(QUESTION)  # type: ignore[index]
    box[0].send_keys(Keys.ENTER)  # type: ignore[index]

    def assistant_text() -> str:
        messages = find('[data-testid="stChatMessage"]')
        return messages[1].text if len(messages) >= 2 else ""  # type: ignore[attr-defined]

    chip = _wait(
        "a cited answer",
        lambda: [c for c in find("a.mmrag-chip") if c.text == "bitcoin-paper-p1.pdf p.1"],  # type: ignore[attr-defined]
        60,
    )
    chip[0].click()  # type: ignore[index]
    image = _wait(
        "the source page image, loaded",
        lambda: [
            img
            for img in find("img.mmrag-page-image")
            if driver.execute_script("return arguments[0].naturalWidth", img) > 100  # type: ignore[attr-defined]
        ],
        60,
    )
    assert image
    if os.environ.get("MMRAG_E2E_WIRING") != "fake":
        assert "double-spending" in assistant_text().lower()
    screenshot(driver, SCREENSHOT.stem)
