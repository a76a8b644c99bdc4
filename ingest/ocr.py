"""Tesseract OCR through its command line: image in on stdin, text out on stdout.

The CLI is called directly (no temp files, no pytesseract wrapper) with one OpenMP thread,
because the PDF extractor already runs one process per core.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from functools import lru_cache

from PIL import Image

from ingest.errors import ModelUnavailable

log = logging.getLogger(__name__)

TESSERACT = "tesseract"
_INSTALL_HINT = (
    "install it (apt-get install tesseract-ocr tesseract-ocr-eng) or set "
    "MMRAG_INGEST__OCR_ENABLED=false to ingest without OCR"
)
# Generous: a dense 12-megapixel page with five languages takes ~10-20 s on one core.
_OCR_TIMEOUT_S = 300.0


def _binary() -> str:
    path = shutil.which(TESSERACT)
    if path is None:
        raise ModelUnavailable(f"tesseract OCR is not installed: {_INSTALL_HINT}")
    return path


def tesseract_version() -> str | None:
    """`tesseract 5.3.0`-style version line, or None when tesseract is not installed."""
    path = shutil.which(TESSERACT)
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


@lru_cache(maxsize=4)
def _traineddata_of(path: str) -> frozenset[str]:
    out = subprocess.run(
        [path, "--list-langs"], capture_output=True, text=True, check=False, timeout=30
    )
    # First line is 'List of available languages in "...":'.
    return frozenset(line.strip() for line in out.stdout.splitlines()[1:] if line.strip())


def _languages_of(path: str) -> frozenset[str]:
    return _traineddata_of(path) - {"osd"}  # "osd" is script detection, not a language


def tesseract_languages() -> set[str]:
    """Installed tesseract language packs (e.g. {"eng", "deu"}). ModelUnavailable if
    tesseract is missing."""
    return set(_languages_of(_binary()))


@lru_cache(maxsize=16)
def usable_languages(configured: str) -> str:
    """The installed subset of a `-l` value like "eng+deu+kor", in the configured order.

    Missing packs are logged once and skipped; none installed at all is a ModelUnavailable.
    """
    wanted = [lang for lang in configured.split("+") if lang.strip()]
    available = tesseract_languages()
    usable = [lang for lang in wanted if lang in available]
    missing = [lang for lang in wanted if lang not in available]
    if missing:
        log.warning(
            "tesseract language packs missing, OCR runs without them: %s (apt-get install %s)",
            ", ".join(missing),
            " ".join(f"tesseract-ocr-{lang}" for lang in missing),
        )
    if not usable:
        raise ModelUnavailable(
            f"none of the OCR languages {configured!r} is installed for tesseract "
            f"(installed: {', '.join(sorted(available)) or 'none'})"
        )
    return "+".join(usable)


def _as_pnm(image: Image.Image) -> bytes:
    """Uncompressed PGM/PPM: tesseract reads it fast and PIL writes it without zlib."""
    if image.mode not in {"L", "RGB"}:
        image = image.convert("RGB" if "A" in image.mode or image.mode == "P" else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="PPM")
    return buffer.getvalue()


def has_osd() -> bool:
    """Whether tesseract and its script detection data (osd.traineddata) are installed."""
    path = shutil.which(TESSERACT)
    return path is not None and "osd" in _traineddata_of(path)


def run_tesseract_osd(image: Image.Image, dpi: int | None = None) -> str:
    """tesseract's orientation and script detection (`--psm 0`) report for `image`.
    Raises ModelUnavailable when tesseract fails (also: too few characters to tell)."""
    resolution = ["--dpi", str(dpi)] if dpi else []
    return _run([_binary(), "-", "-", "--psm", "0", *resolution], image)


def run_tesseract(image: Image.Image, languages: str, *args: str) -> str:
    """tesseract's stdout for `image` with the `-l` languages given (the installed ones)
    and extra arguments (`--dpi 300`, `tsv`). Raises ModelUnavailable when tesseract is
    missing, times out or fails on the image."""
    return _run([_binary(), "-", "-", "-l", usable_languages(languages), *args], image)


def _run(command: list[str], image: Image.Image) -> str:
    try:
        out = subprocess.run(
            command,
            input=_as_pnm(image),
            capture_output=True,
            check=False,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # parallelism comes from our pools
            timeout=_OCR_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        raise ModelUnavailable(f"tesseract took over {_OCR_TIMEOUT_S:.0f} s on one image") from err
    if out.returncode != 0:
        detail = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ModelUnavailable(
            f"tesseract failed (exit {out.returncode}): {detail[-1] if detail else 'no message'}"
        )
    return out.stdout.decode("utf-8", "replace")


def ocr_image(image: Image.Image, languages: str, dpi: int | None = None) -> str:
    """Text tesseract reads in `image` with the given `-l` languages ("eng+deu").

    `dpi` is the image's resolution when known (a page render): tesseract's own estimate
    misjudges upscaled scans and then drops whole table rows. Languages that are not
    installed are dropped (with a warning). Raises ModelUnavailable when tesseract is
    missing or fails on the image.
    """
    resolution = ["--dpi", str(dpi)] if dpi else []
    return normalise_ocr_text(run_tesseract(image, languages, *resolution))


def normalise_ocr_text(text: str) -> str:
    """Drop tesseract's form feed and blank-line padding; keep one blank line between blocks."""
    lines = [line.rstrip() for line in text.replace("\f", "\n").splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
