"""A TestClient over the API with the fake services of tests/support/api_fakes.py, shared by the
API, reliability and fuzzing tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.config import Settings
from app.service import Services
from tests.support.api_fakes import MemoryIndex, QuotingGenerator


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings over `<tmp_path>/data`, ignoring any .env file."""
    return Settings(data_dir=tmp_path / "data", _env_file=None, **overrides)  # type: ignore[call-arg]


class Harness:
    """A TestClient plus the fake services behind it."""

    def __init__(self, client: TestClient, services: Services) -> None:
        self.client = client
        self.services = services

    @property
    def index(self) -> MemoryIndex:
        assert isinstance(self.services.index, MemoryIndex)
        return self.services.index

    @property
    def generator(self) -> QuotingGenerator:
        assert isinstance(self.services.generator, QuotingGenerator)
        return self.services.generator

    def upload(self, name: str, data: bytes) -> dict[str, object]:
        response = self.client.post("/documents", files={"file": (name, data)})
        assert response.status_code == 202, response.text
        return response.json()

    def wait_job(self, job_id: str, timeout_s: float = 10.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.client.get(f"/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish")

    def ingest(self, name: str, data: bytes) -> str:
        job = self.wait_job(str(self.upload(name, data)["id"]))
        assert job["status"] == "done", job
        return str(job["doc_id"])


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None, **overrides)  # type: ignore[call-arg]
