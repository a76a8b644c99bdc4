"""End to end in a real headless Chromium: the REST API (lite profile, real models, temp
data dir) and the Streamlit UI on random ports; upload a PDF through the page, wait for it
to be ready, ask a question, see the answer and its source image; save a screenshot.

Skips when chromium/chromedriver or the shared corpus is missing. MMRAG_E2E_WIRING=fake
swaps the models for tests/api_fakes.py (checks the browser path without model loading).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
PDF = CORPUS / "pdf" / "bitcoin-paper-p1.pdf"
QUESTION = "What problem does Satoshi Nakamoto propose to solve using a peer-to-peer network?"
SCREENSHOT = REPO / "test-artifacts" / "browser_e2e.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="chromium/chromedriver missing"
    ),
    pytest.mark.skipif(not PDF.exists(), reason=f"corpus file {PDF} missing"),
]

webdriver = pytest.importorskip("selenium.webdriver")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], object], timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # the page is still rendering: elements come and go
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import httpx
    import uvicorn

    from app.api import create_app

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, profile="lite", data_dir=tmp_path_factory.mktemp("e2e") / "data"
    )
    if os.environ.get("MMRAG_E2E_WIRING") == "fake":
        from api_fakes import fake_services

        app = create_app(settings, fake_services)
    else:
        app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait("the API", lambda: server.started and httpx.get(f"{url}/health").is_success, 60)
    # models load in the background: /ready leaves "loading" once they are in
    _wait("the models", lambda: httpx.get(f"{url}/ready").json()["status"] != "loading", 300)
    yield url
    server.should_exit = True
    thread.join(20)


@pytest.fixture(scope="module")
def ui_url(api_url: str) -> Iterator[str]:
    import httpx

    from app.api_launch import ui_command, ui_env

    port = _free_port()
    env = ui_env(Settings(_env_file=None), api_url)  # type: ignore[call-arg]
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    proc = subprocess.Popen(
        ui_command("127.0.0.1", port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait("the UI", lambda: httpx.get(f"{url}/_stcore/health").is_success, 60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mmrag-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
        20,
    )
    box[0].send_keys(QUESTION)  # type: ignore[index]
    box[0].send_keys(Keys.ENTER)  # type: ignore[index]

    def assistant_text() -> str:
        messages = find('[data-testid="stChatMessage"]')
        return messages[1].text if len(messages) >= 2 else ""  # type: ignore[attr-defined]

    _wait("a cited answer", lambda: "[bitcoin-paper-p1.pdf p.1]" in assistant_text(), 60)
    image = _wait(
        "the source page image, loaded",
        lambda: [
            img
            for img in find('[data-testid="stChatMessage"] [data-testid="stExpander"] img')
            if driver.execute_script("return arguments[0].naturalWidth", img) > 100  # type: ignore[attr-defined]
        ],
        30,
    )
    assert image
    if os.environ.get("MMRAG_E2E_WIRING") != "fake":
        assert "double-spending" in assistant_text().lower()
    time.sleep(1.0)  # let the last layout pass settle before the screenshot
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))  # type: ignore[attr-defined]
