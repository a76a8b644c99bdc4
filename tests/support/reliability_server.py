"""The API with fake models over a real data dir, for tests that kill the server process:
`python -m tests.support.reliability_server DATA_DIR PORT SECONDS_PER_PAGE`."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from app.api.application import create_app
from app.config import Settings
from app.service import Services
from tests.support.api_fakes import TinyPdfPages, fake_services


def main(data_dir: str, port: str, delay_s: str) -> None:
    settings = Settings(data_dir=Path(data_dir), _env_file=None)  # type: ignore[call-arg]

    def services(s: Settings) -> Services:
        return fake_services(s, pdf=TinyPdfPages(seconds_per_page=float(delay_s)))

    uvicorn.run(
        create_app(settings, services), host="127.0.0.1", port=int(port), log_level="warning"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
