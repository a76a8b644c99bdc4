"""Readiness probes for `GET /ready`: which dependency is down, and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from app.api_schemas import ComponentState, Readiness
from app.service import Services

log = logging.getLogger(__name__)


@runtime_checkable
class Pingable(Protocol):
    """A component that can check its backend (e.g. a vLLM server) cheaply.
    `ping` raises (ideally ingest.errors.BackendUnavailable) when the backend is down."""

    def ping(self) -> None: ...


def _probe(name: str, check: Callable[[], str]) -> ComponentState:
    try:
        detail = check()
    except Exception as err:  # any failure means "down"; the message says why
        log.warning("readiness: %s is down: %s", name, err)
        return ComponentState(name=name, ok=False, detail=f"{type(err).__name__}: {err}")
    return ComponentState(name=name, ok=True, detail=detail)


def _ping(component: object, in_process: str) -> str:
    if isinstance(component, Pingable):
        component.ping()
        return "reachable"
    return in_process


def check_readiness(services: Services) -> Readiness:
    """Probe the registry, the vector index and the generator."""

    def registry() -> str:
        services.registry.get_document("")  # one cheap query proves the file opens
        return str(services.registry.path)

    def index() -> str:
        # A count is one real request to a Qdrant server (BackendUnavailable when down).
        return f"{services.index.count()} points"

    def generator() -> str:
        if services.generator is None:
            raise RuntimeError("no generator was built")
        return f"{services.generator.name}: " + _ping(services.generator, "no health probe")

    components = [
        _probe("registry", registry),
        _probe("qdrant", index),
        _probe("generator", generator),
    ]
    return Readiness(ready=all(c.ok for c in components), components=components)
