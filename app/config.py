"""Settings: one pydantic-settings value built at start-up and passed down (no global)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from generation.config import GenerationSettings
from ingest.config import IngestSettings
from retrieval.config import RetrievalSettings

# The VLM reranker's score is P("yes"): the evidence is on its own side of 0.5.
GPU_REFUSAL_THRESHOLD = 0.5


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
    # Empty = embedded Qdrant under data_dir; otherwise a server or cluster URL.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None

    # REST API and UI.
    host: str = "127.0.0.1"
    port: int = 8000
    ui_port: int = 8501
    api_url: str = Field("", description="where the UI finds the API; empty = http://host:port")
    api_key: SecretStr | None = None
    max_upload_bytes: int = 1024**3
    # Listen on a non-loopback host without api_key (see app/api_launch.py).
    allow_insecure: bool = False

    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    generation: GenerationSettings = GenerationSettings()

    @model_validator(mode="after")
    def _gpu_refusal_threshold(self) -> Settings:
        # The default refusal threshold is fitted on the lite reranker's scale; the gpu
        # profile's VLM reranker scores a yes-probability, where 0.5 is its own boundary.
        gen = self.generation
        if self.profile == "gpu" and "refusal_threshold" not in gen.model_fields_set:
            self.generation = gen.model_copy(update={"refusal_threshold": GPU_REFUSAL_THRESHOLD})
        return self

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def effective_api_url(self) -> str:
        return self.api_url or f"http://{self.host}:{self.port}"
