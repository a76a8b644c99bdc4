"""Settings: one pydantic-settings value built at start-up and passed down (no global)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from generation.config import GenerationSettings
from ingest.config import IngestSettings
from ingest.errors import MMRagError
from retrieval.config import RetrievalSettings


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "mmrag"


class Settings(BaseSettings):
    """Everything configurable. Env prefix `MMRAG_`, nested with `__`
    (e.g. `MMRAG_INGEST__CLIP_SECONDS=5`), `.env` supported."""

    model_config = SettingsConfigDict(
        env_prefix="MMRAG_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    profile: Literal["lite", "gpu"] = "lite"
    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty = embedded Qdrant Edge under data_dir; otherwise a server or cluster URL.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    # Per request to a Qdrant server: a hung server is a 503 after this long, not a hang.
    qdrant_timeout_s: float = Field(10.0, gt=0)

    # REST API and UI.
    host: str = "127.0.0.1"
    port: int = 8000
    ui_port: int = 8501
    api_url: str = Field("", description="where the UI finds the API; empty = http://host:port")
    api_key: SecretStr | None = None
    # Whole request body of an upload (file, form fields, multipart framing), and of any
    # other request (JSON): every byte counts, chunked or not.
    max_upload_bytes: int = Field(1024**3, ge=0)
    max_json_bytes: int = Field(1024**2, ge=0)
    # Serve /openapi.json, /docs and /redoc without the API key (they are guarded by default).
    open_api_docs: bool = False
    # Listen on a non-loopback host without api_key (see app/launch.py).
    allow_insecure: bool = False
    # Intra-op threads of each model call, in every command (0 = torch's default, one per
    # core). The cores are shared out by calls side by side instead: concurrent queries,
    # and an ingest's MiniLM batches on `parallel_lanes` (retrieval/embedders/bert.py).
    # The threads of one call wait on each other when the CPU is busy: one MiniLM query
    # took 1.9 s with 2 threads and 0.18 s with 1 on a loaded 2-core machine
    # (bench/load.py), and a page without OCR 0.27 s on two threads against 0.20-0.26 s
    # on two one-thread lanes (bench/profile.py; docs/figures.md).
    torch_threads: int = Field(1, ge=0)

    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    generation: GenerationSettings = GenerationSettings()

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def index_dir(self) -> Path:
        """Where the embedded index (Qdrant Edge) keeps one shard per collection."""
        return self.data_dir / "edge"

    @property
    def shard_dir(self) -> Path:
        """The embedded index's shard of the configured collection (what its lock guards)."""
        return self.index_dir / self.retrieval.collection

    @property
    def qdrant_path(self) -> Path:
        """Where qdrant-client's local mode kept the index before Qdrant Edge."""
        return self.data_dir / "qdrant"

    @property
    def effective_api_url(self) -> str:
        return self.api_url or f"http://{self.host}:{self.port}"


class InvalidSettings(MMRagError):
    """Settings (environment, `.env`, command-line options) that cannot be used: one line
    naming each bad value's environment variable and the reason."""


def settings_from_env(**overrides: object) -> Settings:
    """Settings from the environment and `.env`, with `overrides` on top. InvalidSettings
    instead of pydantic's many-line ValidationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise InvalidSettings("; ".join(_problem(e) for e in err.errors())) from None


def _problem(error: Any) -> str:
    """`MMRAG_RETRIEVAL__TOP_K='abc': Input should be a valid integer` (a secret's value is
    never shown)."""
    path = [str(part) for part in error["loc"]]
    name = "MMRAG_" + "__".join(path).upper()
    secret = any("key" in part or "token" in part for part in path)
    value = "" if secret else f"={str(error.get('input'))[:60]!r}"
    return f"{name}{value}: {error['msg']}"
