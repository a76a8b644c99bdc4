"""Readiness probes for `GET /ready`: which dependency is down, and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol, runtime_checkable

from app.api.deps import ApiRuntime
from app.api.loading import BackgroundLoader
from app.api.schemas import ComponentState, Readiness
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


def _model(component: object | None) -> str:
    if component is None:
        return "off"
    name = getattr(component, "name", type(component).__name__)
    return f"{name}: " + _ping(component, "loaded")


def readiness_of(loader: BackgroundLoader[ApiRuntime] | None) -> Readiness:
    """ "loading" while the models load, "failed" if that failed, else every component's
    probe (`check_readiness`)."""
    if loader is None or loader.status == "loading":
        return Readiness(ready=False, status="loading", detail="loading the models")
    if loader.value is None:
        return Readiness(ready=False, status="failed", detail=loader.error)
    return check_readiness(loader.value.services)


def check_readiness(services: Services) -> Readiness:
    """Probe the registry, the vector index, each retrieval model and the generator."""

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

    parts = services.retriever.parts()
    components = [
        _probe("registry", registry),
        _probe("qdrant", index),
        *(_probe(role, partial(_model, component)) for role, component in parts),
        _probe("generator", generator),
    ]
    ok = all(c.ok for c in components)
    missing = len(services.sync.missing)
    warnings = (
        [
            f"{missing} ready documents had points missing from the index at start: run `mmrag reindex`"
        ]
        if missing
        else []
    )
    return Readiness(
        ready=ok, status="ready" if ok else "down", components=components, warnings=warnings
    )
