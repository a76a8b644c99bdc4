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

from tests.support.paths import REPO, TEST_DATA

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
SCHEMA = TEST_DATA / "compose_spec.json"
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


def _compose_schema() -> dict[str, Any]:
    """The vendored schema plus `depends_on.<service>.required` (a boolean, default true),
    which the Compose Specification added after docker-compose 1.29 (Docker Compose 2.20)."""
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    depends_on = schema["definitions"]["service"]["properties"]["depends_on"]["oneOf"][1]
    rule = depends_on["patternProperties"]["^[a-zA-Z0-9._-]+$"]
    rule["properties"]["required"] = {"type": "boolean", "default": True}
    return schema


def test_compose_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft201909Validator(_compose_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["depend_on"] = ["qdrant"]
    broken["services"]["ui"]["depends_on"]["api"]["requird"] = False
    validator = jsonschema.Draft201909Validator(_compose_schema())
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("depend_on" in m for m in messages) and any("requird" in m for m in messages)


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
            assert rule["condition"] == "service_healthy", (name, dependency)
            assert "healthcheck" in services[dependency]
            # only a dependency behind a profile may be optional
            assert rule.get("required", True) or "profiles" in services[dependency]
    assert services["api"]["depends_on"].keys() == {"qdrant", "vllm", "vllm-embed"}
    assert services["ui"]["depends_on"].keys() == {"api"}
    assert services["vllm-embed"]["profiles"] == ["vllm-embed"]


def _start_order(services: dict[str, Any], enabled: set[str]) -> list[str]:
    """The order Compose starts `enabled` services in (dependencies first; a missing
    dependency that is not `required: false` is an error, as in Compose)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency, rule in services[name].get("depends_on", {}).items():
            if dependency in enabled:
                visit(dependency)
            else:
                assert rule.get("required", True) is False, f"{name} needs disabled {dependency}"
        order.append(name)

    for name in sorted(enabled):
        visit(name)
    return order


def test_start_order_is_vllm_then_vllm_embed_then_api(compose: dict[str, Any]) -> None:
    services = compose["services"]
    default = {name for name, s in services.items() if "profiles" not in s}
    order = _start_order(services, default)
    assert order.index("vllm") < order.index("api") < order.index("ui")
    assert order.index("qdrant") < order.index("api")
    # with the profile: vLLM instances profile GPU memory one after the other, then the api
    order = _start_order(services, default | {"vllm-embed"})
    assert order.index("vllm") < order.index("vllm-embed") < order.index("api")
    # without it the api must still start: its dependency on vllm-embed is optional
    assert services["api"]["depends_on"]["vllm-embed"]["required"] is False


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


def test_the_image_cap_reaches_the_api(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    limit = next(a for a in services["vllm"]["command"] if str(a).startswith('{"image"'))
    assert "${VLLM_MAX_IMAGES:-8}" in limit
    cap = services["api"]["environment"]["MMRAG_GENERATION__MAX_IMAGES"]
    assert cap == "${VLLM_MAX_IMAGES:-8}"
    # and the api reads that variable as its per-prompt image cap
    from app.config import Settings

    monkeypatch.setenv("MMRAG_GENERATION__MAX_IMAGES", "3")
    assert Settings(_env_file=None).generation.max_images == 3  # type: ignore[call-arg]


def test_api_health_checks_liveness_not_model_loading(compose: dict[str, Any]) -> None:
    # /health answers while the models load (tests/app/test_api.py), so the health windows no
    # longer have to cover a model download.
    check = compose["services"]["api"]["healthcheck"]
    assert "/health'" in check["test"][-1]
    assert _seconds(check["start_period"]) <= 120
    runtime = _stages(DOCKERFILE.read_text())[1]
    period = re.search(r"HEALTHCHECK .*--start-period=(\d+)s", runtime)
    assert period is not None and int(period.group(1)) <= 120
    assert "/health" in runtime.split("HEALTHCHECK", 1)[1]


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


# torch 2.13.0 on download.pytorch.org: CUDA 12.6 and 13.0 (cu128 ended with 2.11; see
# pytorch/pytorch#178665 and the 2.12/2.13 release matrices), plus CPU. The NVIDIA driver each
# needs, as docs/deploy.md states it.
TORCH_2_13_VARIANTS = {"cu126": "525", "cu130": "580", "cpu": None}


def test_the_torch_build_exists_and_its_driver_is_documented(compose: dict[str, Any]) -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"(?m)^ARG TORCH_VERSION=2\.13\.0$", dockerfile)
    default = re.search(r"(?m)^ARG TORCH_VARIANT=(\S+)$", dockerfile)
    assert default is not None and default.group(1) in TORCH_2_13_VARIANTS
    build_arg = compose["x-mmrag-image"]["build"]["args"]["TORCH_VARIANT"]
    assert build_arg == "${TORCH_VARIANT:-" + default.group(1) + "}"
    assert _env_example()["TORCH_VARIANT"] == default.group(1)
    deploy = (REPO / "docs" / "deploy.md").read_text()
    for variant, driver in TORCH_2_13_VARIANTS.items():
        if driver is not None:
            assert re.search(rf"`{variant}`[^\n]*driver >= {driver}", deploy), variant
    assert "cu128" not in dockerfile and "cu128" not in COMPOSE.read_text()


def test_download_script_fills_the_cache_each_service_mounts(tmp_path: Path) -> None:
    """scripts/download-models.sh against a fake `docker` that records its arguments."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)

    def run(**env_file: str) -> list[str]:
        calls.unlink(missing_ok=True)
        dotenv = tmp_path / "test.env"
        dotenv.write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))
        env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "MMRAG_ENV_FILE": str(dotenv)}
        script = REPO / "scripts" / "download-models.sh"
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines()

    def downloads(lines: list[str]) -> list[tuple[str, str]]:
        found = [re.search(r"--entrypoint hf (\S+) download (\S+)$", line) for line in lines]
        assert all(m is not None for m in found), lines
        assert all("run --rm --no-deps" in line for line in lines)
        return [(m.group(1), m.group(2)) for m in found if m is not None]

    in_process = run(MMRAG_GENERATOR_MODEL="org/gen", MMRAG_EMBEDDER_MODEL="org/emb")
    assert downloads(in_process) == [
        ("vllm", "org/gen"),
        ("api", "org/emb"),
        ("api", "Qwen/Qwen3-VL-Reranker-2B"),
    ]
    served = run(MMRAG_VISUAL_EMBEDDER="vllm", MMRAG_RERANKER="lite", MMRAG_EMBEDDER_MODEL="e")
    assert downloads(served) == [("vllm", "Qwen/Qwen3-VL-4B-Instruct"), ("vllm-embed", "e")]
    assert "--profile vllm-embed" in served[1]
    local = run(MMRAG_GENERATOR_MODEL="/models/gen", MMRAG_RERANKER="none")
    assert downloads(local) == [("api", "Qwen/Qwen3-VL-Embedding-2B")]


def test_each_download_lands_where_its_service_loads_from(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("vllm", "vllm-embed"):
        assert "hf-cache:/root/.cache/huggingface" in services[name]["volumes"], name
    assert "mmrag-models:/models" in services["api"]["volumes"]
    assert "HF_HOME=/models/hf" in DOCKERFILE.read_text()


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


def test_pyproject_requires_a_qdrant_client_with_collection_metadata() -> None:
    """retrieval/index.py passes `create_collection(metadata=...)`, which qdrant-client
    accepts from 1.16 on (1.15 raises "Unknown arguments")."""
    import inspect
    import tomllib

    from packaging.requirements import Requirement
    from qdrant_client import QdrantClient

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    qdrant = next(r for r in requirements if r.name == "qdrant-client")
    assert "1.15.9" not in qdrant.specifier and "1.16.0" in qdrant.specifier
    assert "metadata" in inspect.signature(QdrantClient.create_collection).parameters
    decord = next(r for r in requirements if r.name == "decord2")
    assert [s.operator for s in decord.specifier] == ["=="]  # pinned: see ingest/frames.py
