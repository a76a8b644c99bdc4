"""In-process Qwen-VL generator (the fallback when no vLLM server is configured).

The prompt (system rules, numbered sources with their page images / clip frames, the
question) comes from `generation.prompts.build_vlm_messages`; it is rendered with the
checkpoint's own chat template, image placeholders are expanded by the shared Qwen-VL
processing layer, and `generate` runs in a worker thread feeding a TextIteratorStreamer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from generation.config import GenerationSettings
from generation.errors import GenerationError
from generation.prompts import VLMMessage, build_vlm_messages
from ingest.errors import ModelUnavailable
from ingest.lazy import LoadOnce
from retrieval.qwen_vl import loading
from retrieval.qwen_vl.formats import strip_control_tokens
from retrieval.qwen_vl.processing import ImageSizing, ModelInputs, QwenVLProcessor
from retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class _Loaded:
    model: Any  # Qwen*VLForConditionalGeneration
    processor: QwenVLProcessor
    mm_token_types: bool


class StopOnEvent(StoppingCriteria):
    """Stops `generate` once `event` is set (the reader went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


def split_images(messages: Sequence[VLMMessage]) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """Chat messages for the template (images as `{"type": "image"}` markers, texts cleaned
    of control tokens) and the images in prompt order."""
    rendered: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        for part in message["content"]:
            if part["type"] == "image":
                images.append(part["image"])
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": strip_control_tokens(part["text"])})
        rendered.append({"role": message["role"], "content": parts})
    return rendered, images


class TransformersVLMGenerator:
    """Generator over a Qwen-VL instruct checkpoint (`settings.transformers_model`). Weights
    load on first use or `load()`; one generation at a time."""

    reads_frames = True  # sees clip frames: answers LOCATE questions itself

    def __init__(self, settings: GenerationSettings) -> None:
        self.settings = settings
        self.name = f"transformers:{settings.transformers_model}"
        self._loaded = LoadOnce(self._build)
        self._run_lock = threading.Lock()

    def load(self) -> None:
        """Load processor and weights now (idempotent)."""
        self._load()

    def _load(self) -> _Loaded:
        return self._loaded.get()

    def _build(self) -> _Loaded:
        model_id = self.settings.transformers_model
        config = loading.load_config(model_id)
        processor = loading.load_processor(model_id)
        loading.check_geometry(model_id, config, processor)
        if not processor.chat_template:
            raise ModelUnavailable(f"model {model_id!r}: no chat template")
        device = loading.resolve_device(self.settings.device)
        dtype = loading.resolve_dtype("auto", device)
        model = loading.load_generative(model_id, device, dtype)
        return _Loaded(model, processor, loading.accepts_mm_token_types(model))

    def prepare(self, question: str, hits: Sequence[Hit]) -> ModelInputs:
        """The model inputs for `question` over `hits`: rendered chat, expanded image tokens,
        patched images (each under `image_max_pixels`)."""
        loaded = self._load()
        processor = loaded.processor
        messages, images = split_images(build_vlm_messages(question, hits, self.settings))
        text = processor.tokenizer.apply_chat_template(
            messages,
            chat_template=processor.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )
        sizing = ImageSizing(self.settings.image_max_pixels)
        sized = [processor.size_image(image, sizing) for image in images]
        return processor.collate([processor.encode(text, sized)], padding_side="left")

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """The answer text as the model produces it (GenerationError if generation fails)."""
        loaded = self._load()
        inputs = self.prepare(question, hits).to(loaded.model.device)
        tokenizer = loaded.processor.tokenizer
        streamer: Any = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        sampling = self.settings.temperature > 0
        kwargs: dict[str, Any] = {
            **inputs.forward_kwargs(loaded.mm_token_types),
            "max_new_tokens": self.settings.max_new_tokens,
            "do_sample": sampling,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([StopOnEvent(cancelled)]),
            "pad_token_id": loaded.processor.pad_token_id,
        }
        if sampling:
            kwargs["temperature"] = self.settings.temperature
        failure: list[BaseException] = []

        def run() -> None:
            try:
                loaded.model.generate(**kwargs)
            except Exception as err:  # surfaced to the caller after the stream closes
                failure.append(err)
                streamer.end()

        with self._run_lock:
            worker = threading.Thread(target=run, name="vlm-generate", daemon=True)
            worker.start()
            try:
                yield from (piece for piece in streamer if piece)
            finally:
                cancelled.set()  # a reader that stops early should not wait for the whole answer
                worker.join()
        if failure:
            err = failure[0]
            raise GenerationError(f"{self.name}: generation failed: {type(err).__name__}: {err}")
