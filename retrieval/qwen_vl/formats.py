"""The prompt formats of the reference VLM embedders and of Qwen3-VL-Reranker, as data.

Each format says what a query and a unit (page or clip) look like to the model. Strings
and order follow the reference code (see docs/parity.md for the exact sources):

- `qwen3-vl-embedding`: QwenLM/Qwen3-VL-Embedding `src/models/qwen3_vl_embedding.py`
  (`format_model_input`): system turn = instruction, user turn = images then text,
  assistant prompt; documents get the default instruction "Represent the user's input.".
- `dse`: texttron/tevatron `examples/dse/qwen/collator.py`: Qwen2-VL template with its
  default system turn, no generation prompt, `<|endoftext|>` appended; queries carry a
  blank placeholder image and `Query: `, pages are squashed to 748x748 and asked
  "What is shown in this image?".
- `vlm2vec`: TIGER-AI-Lab/VLM2Vec `src/model/processor.py` (`process_input_text`) and
  `src/data/eval_dataset/vidore_dataset.py`: no chat template, `<|image_pad|> ` before
  the instruction, the text after it.

Our one addition everywhere: the unit's own text (text layer, OCR, transcript) after the
reference prompt when `include_unit_text` is on; turn it off for exact parity.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

import numpy as np
from PIL import Image

from ingest.types import Unit, UnitKind
from retrieval.qwen_vl.processing import ImageSizing
from retrieval.qwen_vl.prompts import ChatStyle, ImagePart, Part, PromptSpec

PromptFormat = Literal["qwen3-vl-embedding", "dse", "vlm2vec"]

QWEN3_VL_DOCUMENT_INSTRUCTION = "Represent the user's input."
EMPTY_INPUT = "NULL"  # what Qwen3-VL-Embedding/Reranker put in place of an empty input

DSE_QUERY_PREFIX = "Query: "
DSE_DOCUMENT_PROMPT = "What is shown in this image?"
DSE_PAGE_SIZE = (748, 748)  # (height, width) asked of qwen-vl-utils: 756x756 after rounding
DSE_PLACEHOLDER_SIZE = (1, 1)  # rounded up to the smallest image: 2x2 patches of the factor

VLM2VEC_PAGE_INSTRUCTION = "Understand the content of the provided document image."
VLM2VEC_CLIP_INSTRUCTION = "Understand the content of the provided video."

RERANK_SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".'
)
RERANK_DEFAULT_INSTRUCTION = (
    "Given a search query, retrieve relevant candidates that answer the query."
)

_CONTROL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")
T = TypeVar("T")


class PromptOptions(Protocol):
    """What the formats read from settings (VLMSettings and VLLMEmbedSettings have it)."""

    prompt_format: PromptFormat
    query_instruction: str
    include_unit_text: bool
    max_unit_text_chars: int
    max_pixels: int
    frame_max_pixels: int
    max_frames: int


def strip_control_tokens(text: str) -> str:
    """`text` without `<|...|>` special-token strings: a page that contains `<|im_end|>` or
    `<|image_pad|>` must neither end a turn nor break image placeholder expansion."""
    return _CONTROL_TOKEN.sub("", text)


def normalize_instruction(instruction: str) -> str:
    """Stripped, with a full stop added unless it already ends in punctuation
    (Qwen3-VL-Embedding's `format_model_input`)."""
    instruction = instruction.strip()
    if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    return instruction


def truncate_text(text: str, max_chars: int) -> str:
    """`text` stripped and cut to `max_chars` characters, at a word boundary when one is
    close to the cut."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars * 0.8 else cut).rstrip()


def sample_frames(frames: Sequence[T], max_frames: int) -> list[T]:
    """At most `max_frames` frames spread over the clip (first and last kept), as
    Qwen3-VL-Embedding's `sample_frames`."""
    if len(frames) <= max_frames:
        return list(frames)
    picks = np.linspace(0, len(frames) - 1, max_frames, dtype=int).tolist()
    return [frames[i] for i in picks]


def unit_text_for_prompt(unit: Unit, options: PromptOptions) -> str:
    """The unit text that goes into a prompt ("" when disabled)."""
    if not options.include_unit_text:
        return ""
    return truncate_text(strip_control_tokens(unit.text), options.max_unit_text_chars)


def unit_images(unit: Unit, options: PromptOptions) -> tuple[ImagePart, ...]:
    """A page's image under `max_pixels`, or a clip's frames (at most `max_frames`, each
    under `frame_max_pixels`), in time order."""
    if unit.kind is UnitKind.PAGE:
        if not unit.images:
            return ()
        return (ImagePart(unit.images[0], ImageSizing(options.max_pixels)),)
    sizing = ImageSizing(options.frame_max_pixels)
    return tuple(
        ImagePart(frame, sizing) for frame in sample_frames(unit.images, options.max_frames)
    )


# --- embedding formats ----------------------------------------------------------------------


def query_prompt(query: str, options: PromptOptions) -> PromptSpec:
    """How a search query is shown to the embedder."""
    query = strip_control_tokens(query)
    fmt = options.prompt_format
    if fmt == "qwen3-vl-embedding":
        instruction = normalize_instruction(options.query_instruction)
        return PromptSpec(
            ChatStyle.GENERATION,
            instruction or QWEN3_VL_DOCUMENT_INSTRUCTION,
            (query or EMPTY_INPUT,),
        )
    if fmt == "dse":
        # DSE was trained with a blank image in every query; it is part of the format.
        placeholder = Image.new("RGB", (56, 56))
        sizing = ImageSizing(max_pixels=56 * 56, fixed=DSE_PLACEHOLDER_SIZE)
        return PromptSpec(
            ChatStyle.EOS,
            None,
            (ImagePart(placeholder, sizing), f"{DSE_QUERY_PREFIX}{query}"),
        )
    if fmt == "vlm2vec":
        text = f"{options.query_instruction} {query}" if query else options.query_instruction
        return PromptSpec(ChatStyle.RAW, None, (text,))
    raise ValueError(f"unknown prompt format {fmt!r}")


def unit_prompt(unit: Unit, options: PromptOptions) -> PromptSpec:
    """How a page or clip is shown to the embedder."""
    fmt = options.prompt_format
    text = unit_text_for_prompt(unit, options)
    images = unit_images(unit, options)
    if fmt == "qwen3-vl-embedding":
        parts: tuple[Part, ...] = (*images, text) if text else images
        return PromptSpec(
            ChatStyle.GENERATION,
            QWEN3_VL_DOCUMENT_INSTRUCTION,
            parts or (EMPTY_INPUT,),
        )
    if fmt == "dse":
        if unit.kind is UnitKind.PAGE:
            images = tuple(
                ImagePart(p.source, ImageSizing(options.max_pixels, fixed=DSE_PAGE_SIZE))
                for p in images
            )
        prompt = DSE_DOCUMENT_PROMPT + (f"\n{text}" if text else "")
        return PromptSpec(ChatStyle.EOS, None, (*images, prompt))
    if fmt == "vlm2vec":
        instruction = (
            VLM2VEC_PAGE_INSTRUCTION if unit.kind is UnitKind.PAGE else VLM2VEC_CLIP_INSTRUCTION
        )
        # process_input_text puts "<image token> " before the instruction, one per image here.
        lead: list[Part] = []
        for image in images:
            lead += [image, " "]
        tail = f"{instruction} {text}" if text else instruction
        return PromptSpec(ChatStyle.RAW, None, (*lead, tail))
    raise ValueError(f"unknown prompt format {fmt!r}")


# --- reranker -------------------------------------------------------------------------------


def rerank_prompt(query: str, unit: Unit, options: PromptOptions) -> PromptSpec:
    """Qwen3-VL-Reranker's pair prompt (`format_mm_instruction` of
    QwenLM/Qwen3-VL-Embedding `src/models/qwen3_vl_reranker.py`): instruction, query, then
    the document's images and text; the model answers "yes" or "no"."""
    query = strip_control_tokens(query)
    instruction = options.query_instruction.strip() or RERANK_DEFAULT_INSTRUCTION
    text = unit_text_for_prompt(unit, options)
    images = unit_images(unit, options)
    document: tuple[Part, ...] = (*images, text) if text else images
    parts: tuple[Part, ...] = (
        f"<Instruct>: {instruction}",
        "<Query>:",
        query or EMPTY_INPUT,
        "\n<Document>:",
        *(document or (EMPTY_INPUT,)),
    )
    return PromptSpec(ChatStyle.GENERATION, RERANK_SYSTEM, parts)
