"""Prompts as data: a system text and an ordered list of text and image parts, plus the
chat style that turns them into the exact string a reference implementation feeds its model.

The same `PromptSpec` renders to a token string for the in-process model (`render_prompt`)
and to OpenAI chat messages for a vLLM server (`retrieval.embedders.vllm_client`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from retrieval.qwen_vl.processing import IMAGE_BLOCK, IMAGE_PAD, ImageSizing, ImageSource

QWEN2_DEFAULT_SYSTEM = "You are a helpful assistant."
END_OF_TEXT = "<|endoftext|>"


class ChatStyle(StrEnum):
    """How parts become one string.

    GENERATION: ChatML, optional system turn, user turn, then the assistant prompt
        (`apply_chat_template(..., add_generation_prompt=True)` of Qwen3-VL; Qwen3-VL-Embedding
        and Qwen3-VL-Reranker).
    EOS: the Qwen2-VL chat template without generation prompt (its default system turn when
        none is given) followed by `<|endoftext|>` (Tevatron DSE).
    RAW: no chat turns; an image is a bare `<|image_pad|>` (VLM2Vec).
    """

    GENERATION = "generation"
    EOS = "eos"
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image (a file or a PIL image) and how to size it."""

    source: ImageSource
    sizing: ImageSizing


# A prompt part: literal text, or an image.
Part = str | ImagePart


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """One model input: chat style, optional system text, user parts in order."""

    style: ChatStyle
    system: str | None
    parts: tuple[Part, ...]

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The image parts, in prompt order."""
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


def render_content(parts: tuple[Part, ...], style: ChatStyle) -> str:
    """The user content: texts as they are, each image as its placeholder."""
    placeholder = IMAGE_PAD if style is ChatStyle.RAW else IMAGE_BLOCK
    return "".join(p if isinstance(p, str) else placeholder for p in parts)


def render_prompt(spec: PromptSpec) -> str:
    """The exact prompt string (one `<|image_pad|>` per image, expanded later)."""
    content = render_content(spec.parts, spec.style)
    if spec.style is ChatStyle.RAW:
        return content
    if spec.style is ChatStyle.EOS:
        system = spec.system if spec.system is not None else QWEN2_DEFAULT_SYSTEM
        return (
            f"<|im_start|>system\n{system}<|im_end|>\n"
            f"<|im_start|>user\n{content}<|im_end|>\n{END_OF_TEXT}"
        )
    system_turn = (
        f"<|im_start|>system\n{spec.system}<|im_end|>\n" if spec.system is not None else ""
    )
    return f"{system_turn}<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
