"""Launch helpers: the binding policy, URLs, and the Streamlit command line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.launch import (
    InsecureBind,
    check_bind,
    client_url,
    is_loopback,
    ui_command,
    ui_env,
    ui_script,
)
from tests.support.paths import child_env
from tests.support.processes import alive


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("myhost.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_public_bind_without_a_key_is_refused_with_the_fix() -> None:
    with pytest.raises(InsecureBind) as err:
        check_bind(_settings(), "0.0.0.0")
    assert "MMRAG_API_KEY" in str(err.value) and "--insecure" in str(err.value)


def test_public_bind_is_allowed_with_a_key_or_explicitly(caplog: pytest.LogCaptureFixture) -> None:
    check_bind(_settings(api_key="k"), "0.0.0.0")
    check_bind(_settings(), "127.0.0.1")
    assert not caplog.records
    check_bind(_settings(), "0.0.0.0", insecure=True)
    check_bind(_settings(allow_insecure=True), "0.0.0.0")
    assert sum("WITHOUT an API key" in r.getMessage() for r in caplog.records) == 2


def test_an_empty_key_counts_as_no_key() -> None:
    with pytest.raises(InsecureBind):
        check_bind(_settings(api_key=""), "0.0.0.0")


def test_client_url_reaches_wildcard_binds_over_loopback() -> None:
    assert client_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert client_url("::1", 8501) == "http://[::1]:8501"
    assert client_url("10.0.0.2", 9) == "http://10.0.0.2:9"


def test_ui_command_runs_the_packaged_script_headless() -> None:
    command = ui_command("127.0.0.1", 8601)
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert Path(command[4]) == ui_script() and ui_script().is_file()
    assert command[command.index("--server.port") + 1] == "8601"
    assert command[command.index("--server.headless") + 1] == "true"


def test_ui_modules_do_not_shadow_project_packages() -> None:
    # `streamlit run` puts ui/ first on sys.path: a ui/app.py would hide the `app` package.
    names = {p.stem for p in ui_script().parent.glob("*.py")}
    assert not names & {"app", "ingest", "retrieval", "generation", "ui", "streamlit"}


def test_ui_env_carries_the_api_url_and_key() -> None:
    env = ui_env(_settings(api_key="k"), "http://api:8000")
    assert env["MMRAG_API_URL"] == "http://api:8000" and env["MMRAG_API_KEY"] == "k"


# A parent process running run_ui / run_stack with the UI command replaced by a sleeper that
# writes its pid (and, for `up`, the fake services behind the API): the test signals the
# parent and checks that the child is gone with it.
_SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
_PARENT = """
import socket, sys
from pathlib import Path

from app import launch
from app.config import Settings

mode, pid_file, data_dir = sys.argv[1:4]
launch.ui_command = lambda host, port: [sys.executable, "-c", SLEEPER, pid_file]
settings = Settings(_env_file=None, data_dir=Path(data_dir))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if mode == "ui":
    sys.exit(launch.run_ui(settings, "127.0.0.1", free_port()))
import app.api.application
from tests.support import api_fakes

real = app.api.application.create_app
app.api.application.create_app = lambda s: real(s, api_fakes.fake_services)
sys.exit(launch.run_stack(settings, "127.0.0.1", free_port(), free_port()))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("mode", ["ui", "up"])
def test_ui_and_up_stop_their_child_on_a_signal(tmp_path: Path, mode: str, sig: int) -> None:
    pid_file = tmp_path / "child.pid"
    env = child_env()
    parent = subprocess.Popen(
        [sys.executable, "-c", f"SLEEPER = {_SLEEPER!r}\n{_PARENT}", mode, str(pid_file)]
        + [str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert parent.poll() is None, parent.communicate()[0].decode()
            assert time.monotonic() < deadline, "the UI child did not start"
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert alive(child)
        parent.send_signal(sig)  # only the parent: as `kill` or `docker stop` would
        output = parent.communicate(timeout=60)[0].decode()
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 0, output
    assert not alive(child), f"{mode}: the UI child outlived the parent"
