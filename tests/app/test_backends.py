"""Dependency failures as BackendUnavailable (app.backends), and qdrant-client kept out of
the embedded default's start."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from app import factory
from app.backends import as_backend_error, backend_exception_types, backend_guard
from app.config import Settings
from ingest.errors import BackendUnavailable


def test_qdrant_and_transport_failures_become_backend_unavailable() -> None:
    status = UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers())
    mapped = as_backend_error(status)
    assert isinstance(mapped, BackendUnavailable)
    assert "HTTP 503 Service Unavailable" in str(mapped)
    dropped = as_backend_error(ResponseHandlingException(ConnectionResetError("reset")))
    assert dropped is not None and "ConnectionResetError" in str(dropped)
    assert as_backend_error(httpx.ConnectError("refused")) is not None
    assert as_backend_error(ValueError("a bug, not a backend")) is None
    with pytest.raises(BackendUnavailable), backend_guard():
        raise status


def test_qdrant_exception_types_are_handled_only_with_a_server() -> None:
    assert UnexpectedResponse in backend_exception_types(qdrant_server=True, http_clients=False)
    assert httpx.TransportError in backend_exception_types(qdrant_server=True, http_clients=False)
    assert backend_exception_types(qdrant_server=False, http_clients=True) == (
        httpx.TransportError,
    )
    assert backend_exception_types(qdrant_server=False, http_clients=False) == ()


def test_http_clients_are_the_vllm_ones() -> None:
    assert not factory.talks_http(Settings(profile="lite"))
    assert factory.talks_http(Settings(profile="gpu"))  # the vLLM generator
    lite_vllm = Settings(profile="lite", retrieval={"visual_embedder": "vllm"})
    assert factory.talks_http(lite_vllm)


def test_the_embedded_default_starts_without_importing_qdrant_client() -> None:
    # A fresh interpreter: this one imported qdrant-client above.
    script = (
        "import sys\n"
        "from app.api.application import create_app\n"
        "from app.config import Settings\n"
        "from app.service import build_services, open_vector_index\n"
        "create_app(Settings())\n"
        "assert 'qdrant_client' not in sys.modules, 'qdrant_client imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
