"""The one explicit factory: settings in, components out. Implementations are imported
lazily so the lite profile never imports GPU-only code (and vice versa)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from generation.base import Generator
    from generation.generators.scoring import SentenceScorer
    from ingest.asr import Transcriber
    from ingest.pipeline import PdfExtractor, VideoExtractor
    from ingest.store import Registry
    from retrieval.embedders.base import Embedder, SparseEncoder
    from retrieval.encoders import Encoders
    from retrieval.rerankers.base import Reranker


def _resolve(settings: Settings, choice: str, *, gpu: str, lite: str) -> str:
    """A configured implementation name, with `auto` resolved by the profile."""
    if choice != "auto":
        return choice
    return gpu if settings.profile == "gpu" else lite


def build_pdf_extractor(settings: Settings) -> PdfExtractor:
    from ingest.pdf import PdfPages

    return PdfPages(settings.ingest)


def build_transcriber(settings: Settings) -> Transcriber | None:
    if not settings.ingest.asr_enabled:
        return None
    from ingest.asr import WhisperTranscriber

    return WhisperTranscriber(settings.ingest)


def build_video_extractor(settings: Settings) -> VideoExtractor:
    from ingest.video import VideoClips

    return VideoClips(
        settings.ingest, build_transcriber(settings), settings.ingest.frame_ocr_languages
    )


def _visual_choice(settings: Settings) -> str:
    return _resolve(settings, settings.retrieval.visual_embedder, gpu="vlm", lite="none")


def _generator_choice(settings: Settings) -> str:
    return _resolve(settings, settings.generation.generator, gpu="vllm", lite="extractive")


def talks_http(settings: Settings) -> bool:
    """Whether a component these settings pick calls a server through httpx (the vLLM
    embedder or generator), so the API must treat httpx's errors as dependency failures."""
    return "vllm" in (_visual_choice(settings), _generator_choice(settings))


def build_visual_embedder(settings: Settings) -> Embedder | None:
    choice = _visual_choice(settings)
    if choice == "none":
        return None
    if choice == "vlm":
        from retrieval.embedders.vlm import VLMEmbedder

        return VLMEmbedder(settings.retrieval.vlm)
    if choice == "vllm":
        from retrieval.embedders.vllm_client import VLLMEmbedder

        return VLLMEmbedder(settings.retrieval.vllm_embed)
    from retrieval.embedders.fake import FakeEmbedder

    return FakeEmbedder()


def window_cache(settings: Settings) -> Path:
    """Where MiniLM window vectors persist, per text model, so a restart, `mmrag reindex`
    or a second eval run does not encode them again."""
    model_tag = hashlib.sha256((settings.retrieval.text_model or "packaged-minilm").encode())
    return settings.data_dir / "cache" / f"lite-windows-{model_tag.hexdigest()[:12]}.sqlite3"


def build_text_embedder(settings: Settings) -> Embedder | None:
    choice = _resolve(settings, settings.retrieval.text_embedder, gpu="minilm", lite="minilm")
    if choice == "none":
        return None
    if choice == "minilm":
        from retrieval.embedders.minilm import MiniLMEmbedder

        return MiniLMEmbedder(
            settings.retrieval.text_model,
            precision=settings.retrieval.text_precision,
            cache_path=window_cache(settings),
            query_lanes=settings.retrieval.query_lanes,
            query_backlog=settings.retrieval.query_backlog,
        )
    from retrieval.embedders.fake import FakeEmbedder

    return FakeEmbedder()


def build_sparse_encoder(settings: Settings) -> SparseEncoder | None:
    if settings.retrieval.sparse == "none":
        return None
    from retrieval.embedders.bm25 import BM25Encoder

    return BM25Encoder()


def build_encoders(settings: Settings) -> Encoders:
    """The visual, text and sparse encoders the profile turns on (models load lazily)."""
    from retrieval.encoders import Encoders

    return Encoders(
        build_visual_embedder(settings),
        build_text_embedder(settings),
        build_sparse_encoder(settings),
    )


def build_reranker(settings: Settings, text_embedder: Embedder | None) -> Reranker | None:
    choice = _resolve(settings, settings.retrieval.reranker, gpu="vlm", lite="lite")
    if choice == "none":
        return None
    if choice == "lite":
        from retrieval.rerankers.lite import LiteReranker

        return LiteReranker.from_embedder(
            text_embedder, settings.retrieval.text_model, window_cache(settings)
        )
    if choice == "vlm":
        from retrieval.rerankers.vlm import VLMReranker

        return VLMReranker(settings.retrieval.vlm_reranker)
    from retrieval.rerankers.fake import FakeReranker

    return FakeReranker()


def _source_path(registry: Registry) -> Callable[[str], Path | None]:
    """doc id -> the stored original file (for reading a PDF page's layout)."""

    def source_path(doc_id: str) -> Path | None:
        document = registry.get_document(doc_id)
        return registry.blobs.path(document.source_blob) if document is not None else None

    return source_path


def build_sentence_scorer(reranker: Reranker | None) -> SentenceScorer:
    """How extractive answers score sentences: with the lite reranker's MiniLM MaxSim (its
    model and window cache, already loaded) when that is the reranker, lexically otherwise."""
    from generation.generators.scoring import LexicalSentenceScorer
    from retrieval.rerankers.lite import LiteReranker  # light: models load lazily

    if isinstance(reranker, LiteReranker):
        return reranker.sentence_scorer
    return LexicalSentenceScorer()


def build_generator(
    settings: Settings, scorer: SentenceScorer | None = None, registry: Registry | None = None
) -> Generator:
    """The answer generator the profile names. `scorer` scores sentences of extractive
    answers (build_sentence_scorer; lexical when None); `registry` gives extractive answers
    the table rows of PDF pages."""
    choice = _generator_choice(settings)
    if choice == "vllm":
        from generation.generators.vllm import VLLMGenerator

        return VLLMGenerator(settings.generation)
    if choice == "transformers":
        from generation.generators.transformers_vlm import TransformersVLMGenerator

        return TransformersVLMGenerator(settings.generation)
    if choice == "extractive":
        from generation.generators.extractive import ExtractiveGenerator
        from generation.rows import NoRows, PageRows, PdfPageRows

        rows: PageRows = PdfPageRows(_source_path(registry)) if registry is not None else NoRows()
        from generation.generators.scoring import LexicalSentenceScorer

        return ExtractiveGenerator(
            scorer or LexicalSentenceScorer(), settings.generation, rows=rows
        )
    from generation.generators.fake import FakeGenerator

    return FakeGenerator()
