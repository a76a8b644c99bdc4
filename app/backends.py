"""Dependency failures as the project's own error type.

Whatever raised it (qdrant-client talking to a server, an httpx call, another index
backend that raises BackendUnavailable itself), a failing dependency reaches the API and the
CLI as `ingest.errors.BackendUnavailable` naming the part: a 503 over HTTP, one line in the
CLI. Use cases wrap their dependency calls in `backend_guard`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from types import ModuleType

from ingest.errors import BackendUnavailable, MMRagError

QDRANT_EXCEPTIONS = "qdrant_client.http.exceptions"


def backend_exception_types(
    *, qdrant_server: bool, http_clients: bool
) -> tuple[type[Exception], ...]:
    """The dependencies' own exception classes that `as_backend_error` recognises: the
    qdrant-client ones only with a Qdrant server (importing qdrant-client takes ~1 s, and
    the embedded index never raises them), httpx's only when something talks HTTP (a
    Qdrant server or `http_clients`: importing httpx takes ~0.1 s of the API's start)."""
    if not (qdrant_server or http_clients):
        return ()
    import httpx

    if not qdrant_server:
        return (httpx.TransportError,)
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    return (UnexpectedResponse, ResponseHandlingException, httpx.TransportError)


def _loaded(module: str) -> ModuleType | None:
    """A dependency's module when something imported it (else none of its exceptions can
    have been raised, and it is not worth importing to find out)."""
    return sys.modules.get(module)


def as_backend_error(err: BaseException) -> BackendUnavailable | None:
    """A dependency's exception as the project's BackendUnavailable (None when `err` is not
    a dependency failure). Covers qdrant-client's server mode: an HTTP error status
    (UnexpectedResponse), a timeout or dropped connection (ResponseHandlingException)."""
    if isinstance(err, BackendUnavailable):
        return err
    qdrant = _loaded(QDRANT_EXCEPTIONS)
    if qdrant is not None and isinstance(err, qdrant.UnexpectedResponse):
        reason = err.reason_phrase or _phrase(err.status_code)
        return BackendUnavailable(f"Qdrant answered HTTP {err.status_code} {reason}")
    if qdrant is not None and isinstance(err, qdrant.ResponseHandlingException):
        cause = err.source
        return BackendUnavailable(f"Qdrant request failed ({type(cause).__name__}: {cause})")
    httpx = _loaded("httpx")
    if httpx is not None and isinstance(err, httpx.TransportError):
        return BackendUnavailable(f"a backend request failed ({type(err).__name__}: {err})")
    return None


def _phrase(code: int | None) -> str:
    try:
        return HTTPStatus(code).phrase if code is not None else "(no status)"
    except ValueError:
        return "(non-standard status)"


@contextmanager
def backend_guard() -> Iterator[None]:
    """Re-raise a dependency's own failure as BackendUnavailable (a 503 naming the part)."""
    try:
        yield
    except MMRagError:
        raise
    except Exception as err:
        mapped = as_backend_error(err)
        if mapped is None:
            raise
        raise mapped from err
