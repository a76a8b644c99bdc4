"""Launch helpers: the binding policy, URLs, and the Streamlit command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.api_launch import (
    InsecureBind,
    check_bind,
    client_url,
    is_loopback,
    ui_command,
    ui_env,
    ui_script,
)
from app.config import Settings


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
