"""The one place for the answer prompt: system instructions and how sources are shown.

Sources are numbered in rank order: hit 1 is `[S1]`. Each source is a text part
(`[S1] file.pdf p.3` and the unit's text, truncated) followed by its images (the page PNG or
some of the clip's frames), all resized under `settings.image_max_pixels`, at most
`settings.max_images` images over all sources. `build_prompt` does the work once; two
renderers turn it into OpenAI chat messages (images as data URLs, for vLLM) or
transformers chat messages (PIL images, for an in-process VLM).
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from PIL import Image

from generation.config import GenerationSettings
from ingest.types import Unit, UnitKind
from retrieval.types import Hit

logger = logging.getLogger(__name__)

NO_ANSWER = "The documents do not cover this question."

SYSTEM_PROMPT = f"""You answer questions about the user's documents: PDF pages and video clips.
You are given numbered sources. Each source is a page image or frames of a video clip, with the \
text extracted from it (text layer, OCR or speech transcript).
Rules:
- Answer only from the sources. Do not use outside knowledge.
- Cite the sources that support each statement with their labels in square brackets, \
for example [S1] or [S1][S3]. Cite only labels from the list.
- Sources are the closest matches found, not necessarily answers: if they do not state the \
answer, even when they are about the same subject, reply exactly: "{NO_ANSWER}" and nothing \
else. Never guess and never fill a gap from what you know.
- Be brief: one to three sentences, in the language of the question."""

QUESTION_TEMPLATE = """Question: {question}
Answer from the sources above and cite them as [S1], [S2], ...; if they do not contain the \
answer, say "{no_answer}\""""

NO_SOURCES_TEXT = "No sources were found for this question."


# --- OpenAI chat format (vLLM and any OpenAI-compatible server) -----------------------------


class TextContent(TypedDict):
    """A text part of a message."""

    type: Literal["text"]
    text: str


class ImageURL(TypedDict):
    """An image reference: here always a `data:image/...;base64,` URL."""

    url: str


class ImageURLContent(TypedDict):
    """An image part in the OpenAI chat format."""

    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = TextContent | ImageURLContent
Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    """One OpenAI chat message: a plain string or a list of text and image parts."""

    role: Role
    content: str | list[ContentPart]


# --- transformers chat format (processor.apply_chat_template) -------------------------------


class ImageContent(TypedDict):
    """An image part in the transformers chat format: the decoded, resized image."""

    type: Literal["image"]
    image: Image.Image


VLMContentPart = TextContent | ImageContent


class VLMMessage(TypedDict):
    """One transformers chat message; content is always a list of parts."""

    role: Role
    content: list[VLMContentPart]


# --- the prompt itself ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptImage:
    """An image of a source, already resized under the pixel cap."""

    path: Path
    image: Image.Image
    format: Literal["PNG", "JPEG"]  # pages stay lossless (small text), frames are photos


@dataclass(frozen=True, slots=True)
class PromptSource:
    """One numbered source as the model sees it."""

    index: int  # 1-based: [S{index}]
    header: str  # "[S1] file.pdf p.3"
    kind: UnitKind
    text: str  # truncated unit text
    images: tuple[PromptImage, ...]

    def render_text(self) -> str:
        """The text part shown before the source's images: header, frame note, text."""
        lines = [self.header]
        if self.kind is UnitKind.CLIP and self.images:
            lines.append(f"({len(self.images)} frames of this clip follow, in time order.)")
        lines.append(self.text if self.text else "(no text extracted)")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Prompt:
    """Everything the model is shown, independent of the wire format."""

    system: str
    sources: tuple[PromptSource, ...]
    question: str

    @property
    def n_images(self) -> int:
        """How many images the prompt carries in total."""
        return sum(len(s.images) for s in self.sources)


def source_marker(index: int) -> str:
    """The citation marker of the 1-based source `index`: `[S3]`."""
    return f"[S{index}]"


def source_header(index: int, unit: Unit) -> str:
    """The heading line of a source: `[S1] file.pdf p.3` / `[S2] clip.mp4 00:10-00:20`."""
    return f"{source_marker(index)} {unit.label}"


def truncate_text(text: str, max_chars: int) -> str:
    """`text` stripped and cut to at most `max_chars` characters, at a word boundary where
    one is near, with an ellipsis marking the cut."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    # Cut at the last space unless that throws away more than a fifth of the budget.
    if space > max_chars * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def allocate_images(available: Sequence[int], budget: int) -> list[int]:
    """How many images each source gets, in rank order.

    `available[i]` is how many images source i has. Every source first gets one image (best
    ranked first) so that no source is shown as text only while another shows many frames;
    what is left of `budget` then goes round-robin, one more per source per round.
    """
    counts = [0] * len(available)
    left = budget
    while left > 0:
        progressed = False
        for i, n in enumerate(available):
            if left == 0:
                break
            if counts[i] < n:
                counts[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return counts


def pick_evenly(items: Sequence[Path], k: int) -> list[Path]:
    """`k` items spread evenly over `items` (all of them when k >= len(items))."""
    n = len(items)
    if k >= n:
        return list(items)
    if k <= 0:
        return []
    if k == 1:
        return [items[n // 2]]  # the middle frame represents a clip best
    return [items[round(i * (n - 1) / (k - 1))] for i in range(k)]


def fit_pixels(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most `max_pixels` pixels."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    # A side clamped to 1 px (extreme aspect ratios) leaves the other to give way.
    if w * h > max_pixels:
        if w >= h:
            w = max_pixels // h
        else:
            h = max_pixels // w
    return w, h


def load_image(path: Path, max_pixels: int) -> Image.Image:
    """Decode an image file as RGB, downscaled under `max_pixels` (raises OSError if the
    file is missing or not an image)."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    size = fit_pixels(image.width, image.height, max_pixels)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def image_data_url(image: Image.Image, fmt: Literal["PNG", "JPEG"]) -> str:
    """`data:image/png;base64,...` (or jpeg) of an image."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="PNG", optimize=False)
    payload = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{fmt.lower()};base64,{payload}"


def _load_source_images(unit: Unit, count: int, max_pixels: int) -> tuple[PromptImage, ...]:
    fmt: Literal["PNG", "JPEG"] = "PNG" if unit.kind is UnitKind.PAGE else "JPEG"
    images: list[PromptImage] = []
    for path in pick_evenly(unit.images, count):
        try:
            images.append(PromptImage(path, load_image(path, max_pixels), fmt))
        except OSError as err:
            # A missing blob must not cost the whole answer: the text still goes in.
            logger.warning("%s: image %s not usable for the prompt: %s", unit.label, path, err)
    return tuple(images)


def build_prompt(question: str, hits: Sequence[Hit], settings: GenerationSettings) -> Prompt:
    """The prompt for `question` over `hits` (in rank order), images loaded and resized."""
    counts = allocate_images([len(h.unit.images) for h in hits], settings.max_images)
    sources = tuple(
        PromptSource(
            index=i,
            header=source_header(i, hit.unit),
            kind=hit.unit.kind,
            text=truncate_text(hit.unit.text, settings.max_source_chars),
            images=_load_source_images(hit.unit, count, settings.image_max_pixels),
        )
        for i, (hit, count) in enumerate(zip(hits, counts, strict=True), start=1)
    )
    return Prompt(system=SYSTEM_PROMPT, sources=sources, question=question.strip())


def _question_text(prompt: Prompt) -> str:
    return QUESTION_TEMPLATE.format(question=prompt.question, no_answer=NO_ANSWER)


def to_openai_messages(prompt: Prompt) -> list[ChatMessage]:
    """Render a prompt as OpenAI chat messages with images as data URLs."""
    parts: list[ContentPart] = []
    if not prompt.sources:
        parts.append(TextContent(type="text", text=NO_SOURCES_TEXT))
    for source in prompt.sources:
        parts.append(TextContent(type="text", text=source.render_text()))
        for image in source.images:
            url = image_data_url(image.image, image.format)
            parts.append(ImageURLContent(type="image_url", image_url=ImageURL(url=url)))
    parts.append(TextContent(type="text", text=_question_text(prompt)))
    return [
        ChatMessage(role="system", content=prompt.system),
        ChatMessage(role="user", content=parts),
    ]


def to_vlm_messages(prompt: Prompt) -> list[VLMMessage]:
    """Render a prompt as transformers chat messages with PIL images (for
    `processor.apply_chat_template`)."""
    parts: list[VLMContentPart] = []
    if not prompt.sources:
        parts.append(TextContent(type="text", text=NO_SOURCES_TEXT))
    for source in prompt.sources:
        parts.append(TextContent(type="text", text=source.render_text()))
        parts.extend(ImageContent(type="image", image=image.image) for image in source.images)
    parts.append(TextContent(type="text", text=_question_text(prompt)))
    return [
        VLMMessage(role="system", content=[TextContent(type="text", text=prompt.system)]),
        VLMMessage(role="user", content=parts),
    ]


def build_messages(
    question: str, hits: Sequence[Hit], settings: GenerationSettings
) -> list[ChatMessage]:
    """OpenAI chat messages (system + user) for `question` over `hits`, images as data URLs."""
    return to_openai_messages(build_prompt(question, hits, settings))


def build_vlm_messages(
    question: str, hits: Sequence[Hit], settings: GenerationSettings
) -> list[VLMMessage]:
    """transformers chat messages (system + user) for `question` over `hits`, images as PIL."""
    return to_vlm_messages(build_prompt(question, hits, settings))
