"""What `mmrag serve` imports before it is ready: not pymupdf, PyAV or httpx (~0.4 s of CPU
together), which only ingesting a file, a page-box route, a table row or `mmrag up` need."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from app import launch
from tests.support.api_harness import settings_for
from tests.support.paths import child_env

# The server's start: the CLI module, the launcher, the app, and the services the model
# loader builds (models, index, reconcile, ingest side, generator) on an empty data dir.
_START = """
import sys
import app.cli
import app.launch
from app.api.application import create_app
from app.config import Settings
from app.service import build_services

settings = Settings(data_dir=sys.argv[1])
create_app(settings)
services = build_services(settings)
services.load_models()
services.close()
heavy = sorted(m for m in ("pymupdf", "av", "httpx", "qdrant_client") if m in sys.modules)
assert not heavy, f"imported on the start path: {heavy}"
"""


def test_the_lite_server_starts_without_pymupdf_pyav_or_httpx(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _START, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(("level", "shown"), [("WARNING", False), ("DEBUG", True)])
def test_mupdf_messages_show_only_with_debug_logging(level: str, shown: bool) -> None:
    script = (
        "import logging\n"
        f"logging.basicConfig(level=logging.{level})\n"
        "from ingest.mupdf import pymupdf\n"
        "print(pymupdf.TOOLS.mupdf_display_errors())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=child_env()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(shown)


# `mmrag serve` pauses the cyclic GC before importing the app; the model loader turns it
# back on (freezing what start-up made) once the models are in or failed, and /ready
# stays 503 until then. GC state is per process: the checks run in a child.
_GC = """
import gc, sys, threading
from pathlib import Path
from fastapi.testclient import TestClient
from app.api.application import create_app
from app.api.loading import pause_gc_for_start
from tests.support.api_fakes import fake_services
from tests.support.api_harness import settings_for

def start(pause, build):
    if pause:
        pause_gc_for_start()
    gate = threading.Event()
    def factory(settings):
        gate.wait(30)
        return build(settings)
    app = create_app(settings_for(Path(sys.argv[1])), factory)
    with TestClient(app) as client:
        loading = client.get("/ready")
        assert loading.status_code == 503, loading.text
        assert loading.json()["status"] == "loading"
        assert gc.isenabled() is not pause, "the GC came back before the models"
        gate.set()
        status = app.state.loader.wait(30)
        return status, client.get("/ready").status_code, gc.isenabled(), gc.get_freeze_count()

def broken(settings):
    raise RuntimeError("no model")

status, code, enabled, frozen = start(False, fake_services)
assert (status, code, enabled, frozen) == ("ready", 200, True, 0), (status, code, frozen)
status, code, enabled, frozen = start(True, fake_services)
assert (status, code, enabled) == ("ready", 200, True) and frozen > 0, (status, code, frozen)
gc.unfreeze()
status, code, enabled, frozen = start(True, broken)
assert (status, code, enabled) == ("failed", 503, True) and frozen > 0, (status, code, frozen)
"""


def test_the_gc_is_paused_until_the_models_are_in(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _GC, str(tmp_path)], capture_output=True, text=True, env=child_env()
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_serve_pauses_the_gc_before_it_builds_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(launch.uvicorn, "run", lambda *_a, **_k: seen.append(gc.isenabled()))
    try:
        launch.run_api(settings_for(tmp_path), "127.0.0.1", 8000)
    finally:
        gc.enable()
    assert seen == [False]
