"""Start the API (`mmrag serve`), the UI (`mmrag ui`), or both (`mmrag up`).

Binding policy: without an API key the API listens on loopback only. A non-loopback host
(e.g. `--host 0.0.0.0`) without `MMRAG_API_KEY` is refused unless the caller passes
`insecure=True` (`--insecure`) or sets `MMRAG_ALLOW_INSECURE=true`, and then a warning is
logged: anyone who can reach the port could read and delete every document.
"""

from __future__ import annotations

import importlib.resources
import ipaddress
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from app.api.loading import pause_gc_for_start
from app.config import Settings
from ingest.errors import MMRagError

log = logging.getLogger(__name__)


class InsecureBind(MMRagError):
    """Refusing to expose an API without a key on a non-loopback address."""


class StartupFailed(MMRagError):
    """The API server of `mmrag up` stopped or hung while starting."""


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to a public interface


def check_bind(settings: Settings, host: str, *, insecure: bool = False) -> None:
    """Raise InsecureBind for a non-loopback host without an API key (unless allowed)."""
    has_key = settings.api_key is not None and bool(settings.api_key.get_secret_value())
    if has_key or is_loopback(host):
        return
    if insecure or settings.allow_insecure:
        log.warning(
            "serving on %s WITHOUT an API key: anyone who reaches this port can read and "
            "delete your documents",
            host,
        )
        return
    raise InsecureBind(
        f"refusing to listen on {host} without an API key: set MMRAG_API_KEY "
        "(e.g. `openssl rand -hex 32`), bind 127.0.0.1, or pass --insecure"
    )


def check_data_dir(settings: Settings) -> None:
    """BackendUnavailable (one line) when another process has this data dir's embedded
    index open: a second server would start, fail to load and answer 503 until killed."""
    if settings.qdrant_url:
        return
    from retrieval.shard_lock import ensure_free

    ensure_free(settings.shard_dir)


def client_url(host: str, port: int) -> str:
    """The URL a local client uses to reach a server bound to `host:port`."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def run_api(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    insecure: bool = False,
    log_level: str = "info",
) -> None:
    """Serve the REST API with uvicorn until interrupted (blocking). Raises InsecureBind,
    or BackendUnavailable when another process has the data dir."""
    host = host or settings.host
    port = port or settings.port
    check_bind(settings, host, insecure=insecure)
    check_data_dir(settings)
    pause_gc_for_start()  # back on once the models are in (app/api/application.py)
    from app.api.application import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def ui_script() -> Path:
    """Path of the Streamlit app (ui/streamlit_app.py; not `app.py`: Streamlit puts the
    script folder first on sys.path, where `app` would shadow the app package) of the installed package."""
    return Path(str(importlib.resources.files("ui") / "streamlit_app.py"))


def ui_command(host: str, port: int) -> list[str]:
    """The `streamlit run` command line for the UI, headless."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ui_script()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def ui_env(settings: Settings, api_url: str) -> dict[str, str]:
    """The UI's environment: where the API is and the key to send it."""
    env = dict(os.environ, MMRAG_API_URL=api_url)
    if settings.api_key is not None:
        env["MMRAG_API_KEY"] = settings.api_key.get_secret_value()
    return env


def run_ui(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    api_url: str | None = None,
) -> int:
    """Run the Streamlit UI against `api_url` (default settings.effective_api_url) until it
    exits; returns its exit code."""
    host = host or settings.host
    port = port or settings.ui_port
    url = api_url or settings.effective_api_url
    log.info("UI on %s, talking to the API at %s", client_url(host, port), url)
    # Signals set an event polled here: a KeyboardInterrupt landing inside Popen.wait can
    # leave its waitpid lock held, and stopping the child then hung (seen in CI).
    with _signals_as_stop() as stop:
        ui = subprocess.Popen(ui_command(host, port), env=ui_env(settings, url))
        try:
            while ui.poll() is None:
                if stop.wait(0.2):  # Ctrl-C, SIGINT or SIGTERM: stop the child with us
                    return 0
            return ui.returncode
        finally:
            stop_child(ui)


def stop_child(child: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate `child` if it still runs (SIGTERM, then SIGKILL after `timeout_s`), so no
    `streamlit run` is left holding its port. A second Ctrl-C while waiting kills it."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        child.kill()
        child.wait()


def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleep, or raise KeyboardInterrupt once a stop signal has come (see _signals_as_stop)."""
    if stop.wait(seconds):
        raise KeyboardInterrupt


def _wait_started(
    server: uvicorn.Server, thread: threading.Thread, timeout_s: float, stop: threading.Event
) -> None:
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise StartupFailed("the API server stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise StartupFailed(f"the API server did not start within {timeout_s:.0f} s")
        _pause(stop, 0.1)


@contextmanager
def _signals_as_stop() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the yielded event instead of raising where they land: a
    KeyboardInterrupt in the middle of an import (the API thread imports while it loads
    models) can leave a module lock held, and the shutdown then hangs on it. The waiting
    loops raise KeyboardInterrupt at a safe point instead (_pause)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_ui(
    url: str, ui: subprocess.Popen[bytes], timeout_s: float, stop: threading.Event
) -> None:
    """Wait until Streamlit answers its health check, so the URL we print works."""
    import httpx  # only `mmrag up` needs it: ~0.1 s off `mmrag serve`'s start

    deadline = time.monotonic() + timeout_s
    while ui.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2.0).is_success:
                return
        except httpx.TransportError:
            pass
        _pause(stop, 0.3)


def run_stack(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    ui_port: int | None = None,
    *,
    insecure: bool = False,
    announce: Callable[[str], None] = log.info,
    startup_timeout_s: float = 900.0,
) -> int:
    """`mmrag up`: the API in a uvicorn thread of this process (models load once, here),
    then the UI as a `streamlit run` subprocess. `announce` receives the URLs to show the
    user. Blocks until Ctrl-C/SIGTERM or either part exits; returns the UI's exit code (or
    1). Raises InsecureBind, BackendUnavailable when another process has the data dir, or
    StartupFailed when the API does not come up."""
    host = host or settings.host
    port = port or settings.port
    ui_port = ui_port or settings.ui_port
    check_bind(settings, host, insecure=insecure)
    check_data_dir(settings)
    pause_gc_for_start()  # back on once the models are in (app/api/application.py)
    from app.api.application import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    api_thread = threading.Thread(target=server.run, name="mmrag-api", daemon=True)
    ui: subprocess.Popen[bytes] | None = None
    code = 1
    with _signals_as_stop() as stop:
        api_thread.start()
        try:
            announce(
                f"starting the API on {client_url(host, port)} (models load in the background) ..."
            )
            _wait_started(server, api_thread, startup_timeout_s, stop)
            api_url = client_url(host, port)
            ui = subprocess.Popen(ui_command(host, ui_port), env=ui_env(settings, api_url))
            _wait_ui(client_url(host, ui_port), ui, 60.0, stop)
            announce(f"mmrag is up: open {client_url(host, ui_port)}  (API docs: {api_url}/docs)")
            while api_thread.is_alive():
                polled = ui.poll()
                if polled is not None:
                    code = polled
                    break
                _pause(stop, 0.5)
        except KeyboardInterrupt:
            code = 0
        finally:
            if ui is not None:
                stop_child(ui)
            server.should_exit = True
            api_thread.join(30)
    return code
