"""Shared pieces of the headless-Chromium tests: an API server that can be stopped and
started again on the same port and data dir, the Streamlit UI as a subprocess, a browser,
and a polling wait."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.api.application import ServicesFactory, create_app
from app.config import Settings
from tests.support.paths import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"
HAVE_BROWSER = CHROMIUM.exists() and CHROMEDRIVER.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout_s: float) -> Any:
    """Poll `check` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except RuntimeError:
            raise
        except Exception:  # the page is still rendering: elements come and go
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class ApiServer:
    """The REST API under uvicorn in a thread, on a fixed port: stop() and start() again
    to simulate an outage or a restart (same data dir, new process state)."""

    def __init__(self, settings: Settings, factory: ServicesFactory | None = None) -> None:
        self.settings = settings
        self.factory = factory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        app = create_app(self.settings, self.factory) if self.factory else create_app(self.settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        thread = self._thread

        def answering() -> bool:
            if not thread.is_alive():  # the lifespan failed: no point in waiting
                raise RuntimeError("the API server stopped while starting")
            return httpx.get(f"{self.url}/health").is_success

        # Model loading (the real lite profile) takes minutes on a busy 2-core machine.
        wait_for("the API", answering, 180)
        # /health answers while the models load in the background; /ready leaves "loading"
        # once they are in.
        wait_for(
            "the models", lambda: httpx.get(f"{self.url}/ready").json()["status"] != "loading", 300
        )

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(20)
        self._server = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def streamlit_ui(api_url: str) -> Iterator[str]:
    """The UI (`mmrag ui`'s command) against `api_url`; yields its URL."""
    from app.launch import ui_command, ui_env

    port = free_port()
    env = ui_env(Settings(_env_file=None), api_url)  # type: ignore[call-arg]
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    proc = subprocess.Popen(
        ui_command("127.0.0.1", port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the UI", lambda: httpx.get(f"{url}/_stcore/health").is_success, 60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium driven by selenium, with a throwaway profile."""
    from selenium import webdriver
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
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    """Save the page as test-artifacts/<name>.png (after a moment for layout to settle)."""
    time.sleep(0.8)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    return path
