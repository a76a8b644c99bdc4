"""What `mmrag serve` imports before it is ready: not pymupdf, PyAV or httpx (~0.4 s of CPU
together), which only ingesting a file, a page-box route, a table row or `mmrag up` need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
