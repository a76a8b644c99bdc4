"""Schemathesis against the API in-process, every check enabled (`--checks all`): status
codes, content types, headers and bodies must match the OpenAPI document, valid input must
be accepted, invalid input rejected with a 4xx, auth must be enforced, and nothing may be a
5xx. The server runs with an API key and a PDF and a video ingested, over fake models.

Bounded (a few examples per operation, the same ones every run) so it stays part of the
default run. `MMRAG_FUZZ_EXAMPLES=250` goes deeper (~6 min): a run of 120 random examples
an operation found two 500s the default examples had not (a message's filter ids, a
conversation title of "\x1f").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks

from app.api.application import create_app
from tests.support.api_fakes import FAKE_MP4, fake_services, make_pdf, serving
from tests.support.api_harness import Harness, settings_for

pytestmark = pytest.mark.reliability

KEY = "fuzz-key"
AUTH = {"X-API-Key": KEY}
MAX_EXAMPLES = int(os.environ.get("MMRAG_FUZZ_EXAMPLES", "12"))

# The schema is loaded at collection time, so the app (not its lifespan) exists from then.
_DATA = Path(tempfile.mkdtemp(prefix="mmrag-fuzz-"))
# Files of the types the upload declares (its `encoding.contentType`): what a client sends.
_PDF = make_pdf(_DATA / "generated.pdf", ["Generated upload about whales."]).read_bytes()
schemathesis.openapi.media_type("application/pdf", st.just(_PDF))
schemathesis.openapi.media_type("video/mp4", st.just(FAKE_MP4))
APP = create_app(settings_for(_DATA, api_key=KEY, max_upload_bytes=100_000), fake_services)


class SharedLifespan:
    """APP for schemathesis' own clients: their lifespan events are acknowledged without
    starting the app again (it runs once, in `running_app`, models loaded)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


schema = schemathesis.openapi.from_asgi("/openapi.json", SharedLifespan(APP), headers=AUTH)


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    """The app's lifespan (models, ingest worker) around the module, with a PDF and a
    video ingested so that lookups can succeed."""
    try:
        with serving(APP) as client:
            client.headers.update(AUTH)
            api = Harness(client, APP.state.loader.value.services)
            pdf = make_pdf(_DATA / "doc.pdf", ["Whales sing long songs.", "Bitcoin cash."])
            api.ingest("doc.pdf", pdf.read_bytes())
            api.ingest("talk.mp4", FAKE_MP4)
            yield
    finally:
        shutil.rmtree(_DATA, ignore_errors=True)


def all_checks() -> list[Any]:
    """Every built-in check (what `--checks all` runs)."""
    load_all_checks()
    return list(CHECKS.get_all())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    case.call_and_validate(headers=AUTH, checks=all_checks())
