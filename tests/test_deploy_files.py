"""docker-compose.yml, .env.example and Dockerfile: valid and consistent with each other.

Nothing can run Docker here. The compose file is checked by `docker-compose config -q`
(Debian's docker-compose package, or the `docker compose` plugin) when one is installed, and
always against the Compose Specification JSON schema vendored in tests/data/compose_spec.json
(from the docker-compose 1.29.2 wheel, Apache-2.0), plus the structural rules below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
SCHEMA = Path(__file__).parent / "data" / "compose_spec.json"
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["depend_on"] = ["qdrant"]
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert any("depend_on" in e.message for e in validator.iter_errors(broken))


@pytest.mark.skipif(_compose_cli() is None, reason="no docker-compose / docker compose plugin")
def test_docker_compose_config_accepts_the_file_and_requires_an_api_key() -> None:
    cli = _compose_cli()
    assert cli is not None
    command = [*cli, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMRAG_", "VLLM_"))}
    ok = subprocess.run(
        [*command, "--profile", "vllm-embed", "config", "-q"],
        env={**env, "MMRAG_API_KEY": "test-key"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        [*command, "config", "-q"], env=env, capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0 and "MMRAG_API_KEY" in missing.stderr


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"qdrant", "vllm", "vllm-embed", "api", "ui"} <= services.keys()
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency]
    assert services["api"]["depends_on"].keys() == {"qdrant", "vllm"}
    assert services["ui"]["depends_on"].keys() == {"api"}
    assert services["vllm-embed"]["profiles"] == ["vllm-embed"]


def test_gpu_services_reserve_a_gpu(compose: dict[str, Any]) -> None:
    for name in ("vllm", "vllm-embed", "api"):
        devices = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"], name
    assert "deploy" not in compose["services"]["ui"]
    assert "--runner" in compose["services"]["vllm-embed"]["command"]


def test_images_are_pinned_and_the_app_is_wired_to_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("qdrant", "vllm", "vllm-embed"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
    api_env = services["api"]["environment"]
    assert api_env["MMRAG_PROFILE"] == "gpu"
    assert api_env["MMRAG_QDRANT_URL"] == "http://qdrant:6333"
    assert api_env["MMRAG_GENERATION__VLLM_BASE_URL"] == "http://vllm:8000/v1"
    assert services["ui"]["environment"]["MMRAG_API_URL"] == "http://api:8000"
    for name in ("api", "ui"):
        assert services[name]["ports"][0].startswith("${MMRAG_BIND:-127.0.0.1}:"), name


def _env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    documented = set(_env_example())
    assert used - documented == set()
    assert documented - used == set()  # nothing stale either


def test_compose_defaults_agree_with_env_example() -> None:
    documented = _env_example()
    for match in re.finditer(r"\$\{([A-Z0-9_]+):-([^}]*)\}", COMPOSE.read_text()):
        name, default = match.groups()
        assert documented[name] == default, name


def _stages(dockerfile: str) -> list[str]:
    return re.split(r"(?m)^FROM ", dockerfile)[1:]


def test_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    builder, runtime = _stages(DOCKERFILE.read_text())
    assert "AS builder" in builder.splitlines()[0] and "build-essential" in builder
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in builder
    assert "-slim" in runtime.splitlines()[0]
    assert "build-essential" not in runtime and "gcc" not in runtime
    assert {"tesseract-ocr", "ffmpeg"} <= set(re.findall(r"[\w.-]+", runtime))
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    user = re.search(r"(?m)^USER (\S+)", runtime)
    assert user is not None and user.group(1) not in ("root", "0")
    assert re.search(r"(?m)^HEALTHCHECK ", runtime)


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", "mmrag-data"} <= ignored
