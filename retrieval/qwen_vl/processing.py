"""Qwen-VL input processing without `AutoProcessor`: image sizing, placeholder expansion,
tokenisation, padding and pixel patches.

transformers' Qwen-VL processors insist on a video processor, which needs torchvision; the
product never feeds video tensors (clip frames go in as images), so this module does the
processor's job from the tokenizer and the image processor alone. It also knows every
prompt's exact length before any pixel is decoded, which is what token-budget batching needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import torch
from PIL import Image

from ingest.errors import CorruptFile
from retrieval.cores import usable_cores

IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_BLOCK = f"{VISION_START}{IMAGE_PAD}{VISION_END}"

RGB_CHANNELS = 3  # every image is converted to RGB before patching
# qwen-vl-utils refuses images thinner than this; so do we, with a clear error.
MAX_ASPECT_RATIO = 200

PaddingSide = Literal["left", "right"]
ImageSource = Path | Image.Image


@dataclass(frozen=True, slots=True)
class VisionGeometry:
    """How a Qwen-VL vision tower cuts an image: `patch_size` pixels per patch side,
    `merge_size`² patches merged into one LM token. Sides must be multiples of `factor`."""

    patch_size: int
    merge_size: int

    @property
    def factor(self) -> int:
        """Pixel multiple of an image side: 28 for Qwen2/2.5-VL, 32 for Qwen3-VL."""
        return self.patch_size * self.merge_size

    def tokens(self, height: int, width: int) -> int:
        """LM tokens of one image of `height` x `width` (both multiples of `factor`)."""
        return (height // self.factor) * (width // self.factor)


@dataclass(frozen=True, slots=True)
class ImageSizing:
    """How to size one image: under `max_pixels`, over `min_pixels` (None = 4 tokens, as
    qwen-vl-utils), or asked for a `fixed` (height, width) before rounding (DSE pages)."""

    max_pixels: int
    min_pixels: int | None = None
    fixed: tuple[int, int] | None = None


def _round_by(value: float, factor: int) -> int:
    return round(value / factor) * factor


def _floor_by(value: float, factor: int) -> int:
    return math.floor(value / factor) * factor


def _ceil_by(value: float, factor: int) -> int:
    return math.ceil(value / factor) * factor


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) rounded to multiples of `factor` with the pixel count kept inside
    [min_pixels, max_pixels] and the aspect ratio kept as close as possible (the algorithm
    of qwen-vl-utils' `smart_resize`, which the reference embedders use)."""
    if min(height, width) <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio over {MAX_ASPECT_RATIO}: {height}x{width}")
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, _floor_by(height / beta, factor))
        w_bar = max(factor, _floor_by(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


def target_size(
    width: int, height: int, sizing: ImageSizing, geometry: VisionGeometry
) -> tuple[int, int]:
    """(height, width) an image of `width` x `height` is resized to before patching."""
    factor = geometry.factor
    min_pixels = sizing.min_pixels if sizing.min_pixels is not None else 4 * factor * factor
    max_pixels = max(sizing.max_pixels, min_pixels)
    asked_h, asked_w = sizing.fixed if sizing.fixed is not None else (height, width)
    return smart_resize(asked_h, asked_w, factor, min_pixels, max_pixels)


def _source_name(source: ImageSource) -> Path:
    return source if isinstance(source, Path) else Path("<in-memory image>")


def read_image_size(source: ImageSource) -> tuple[int, int]:
    """(width, height) of an image file (header only) or PIL image; CorruptFile if unreadable."""
    if isinstance(source, Image.Image):
        return source.size
    try:
        with Image.open(source) as image:
            return image.size
    except (OSError, ValueError) as err:
        raise CorruptFile(source, f"image not readable: {err}") from err


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of `image`; transparency is flattened onto white (as qwen-vl-utils does)."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


def decode_rgb(source: ImageSource) -> Image.Image:
    """`source` (a path or an image) decoded as RGB; CorruptFile naming the file when it
    cannot be decoded."""
    try:
        if isinstance(source, Image.Image):
            return to_rgb(source)
        with Image.open(source) as opened:
            return to_rgb(opened)
    except (OSError, ValueError) as err:
        raise CorruptFile(_source_name(source), f"image not decodable: {err}") from err


@dataclass(frozen=True, slots=True)
class SizedImage:
    """An image source and the size it will be fed at."""

    source: ImageSource
    height: int
    width: int

    def load(self) -> Image.Image:
        """The image as RGB resized to exactly `height` x `width` (bicubic, like the
        reference pipelines); CorruptFile naming the file when it cannot be decoded."""
        rgb = decode_rgb(self.source)
        if rgb.size != (self.width, self.height):
            rgb = rgb.resize((self.width, self.height), Image.Resampling.BICUBIC)
        return rgb


@dataclass(frozen=True, slots=True)
class EncodedPrompt:
    """One prompt ready for batching: token ids (image placeholders expanded) and its images."""

    token_ids: tuple[int, ...]
    images: tuple[SizedImage, ...]

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """A padded batch as the Qwen-VL forward takes it."""

    input_ids: torch.Tensor  # (batch, seq) long
    attention_mask: torch.Tensor  # (batch, seq) long, 1 = real token
    mm_token_type_ids: torch.Tensor  # (batch, seq) int: 0 text, 1 image, 2 video
    pixel_values: torch.Tensor | None  # (patches, channels * temporal * patch * patch)
    image_grid_thw: torch.Tensor | None  # (images, 3)

    def to(self, device: torch.device, non_blocking: bool = False) -> ModelInputs:
        """The same batch on `device`."""
        return map_tensors(self, lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> ModelInputs:
        """Page-locked copy, so the host-to-GPU copy can overlap compute."""
        return map_tensors(self, torch.Tensor.pin_memory)

    def forward_kwargs(self, with_mm_token_types: bool = True) -> dict[str, Any]:
        """Keyword arguments for a Qwen-VL model forward / generate."""
        kwargs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        return {**kwargs, **media_kwargs(self, with_mm_token_types)}


class _Batch(Protocol):
    """What padded and packed batches share."""

    @property
    def mm_token_type_ids(self) -> torch.Tensor: ...
    @property
    def pixel_values(self) -> torch.Tensor | None: ...
    @property
    def image_grid_thw(self) -> torch.Tensor | None: ...


BatchT = TypeVar("BatchT")


def map_tensors(
    batch: BatchT, fn: Callable[[torch.Tensor], torch.Tensor], keep: Sequence[str] = ()
) -> BatchT:
    """A copy of the dataclass `batch` with `fn` applied to every tensor field but `keep`
    (None fields stay None)."""
    changes = {
        f.name: fn(value)
        for f in fields(batch)  # type: ignore[arg-type]
        if f.name not in keep and isinstance(value := getattr(batch, f.name), torch.Tensor)
    }
    return replace(batch, **changes)  # type: ignore[type-var]


def media_kwargs(batch: _Batch, with_mm_token_types: bool) -> dict[str, Any]:
    """The forward keyword arguments about images: token types and pixels."""
    kwargs: dict[str, Any] = {}
    if with_mm_token_types:
        kwargs["mm_token_type_ids"] = batch.mm_token_type_ids
    if batch.pixel_values is not None:
        kwargs["pixel_values"] = batch.pixel_values
        kwargs["image_grid_thw"] = batch.image_grid_thw
    return kwargs


@dataclass(frozen=True, slots=True)
class PixelNormalization:
    """How the image processor turns 0-255 pixels into model input."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    rescale: float  # 1/255
    temporal_patch_size: int

    @staticmethod
    def of(image_processor: Any) -> PixelNormalization | None:
        """Read from a Qwen-VL image processor; None when it does not describe itself."""
        try:
            if not (image_processor.do_rescale and image_processor.do_normalize):
                return None
            return PixelNormalization(
                mean=tuple(float(x) for x in image_processor.image_mean),
                std=tuple(float(x) for x in image_processor.image_std),
                rescale=float(image_processor.rescale_factor),
                temporal_patch_size=int(image_processor.temporal_patch_size),
            )
        except (AttributeError, TypeError, ValueError):
            return None


def patchify(
    image: Image.Image,
    geometry: VisionGeometry,
    norm: PixelNormalization,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """(patches, channels * temporal * patch * patch) pixel values of one RGB image whose
    sides are multiples of `geometry.factor`, in the Qwen-VL image processors' layout
    (patches ordered merge-block-wise; a still image repeated over the temporal patch).
    Written into `out` when given (a slice of a batch tensor: no concatenation copy)."""
    p, m, t = geometry.patch_size, geometry.merge_size, norm.temporal_patch_size
    pixels = np.asarray(image, dtype=np.uint8)  # (H, W, C)
    height, width, channels = pixels.shape
    gh, gw = height // p, width // p
    # Rearrange bytes first (a quarter of the traffic of floats), then one fused affine pass.
    blocks = pixels.reshape(gh // m, m, p, gw // m, m, p, channels)
    blocks = blocks.transpose(0, 3, 1, 4, 6, 2, 5)  # (gh/m, gw/m, m, m, C, p, p)
    patches = np.ascontiguousarray(blocks).reshape(gh * gw, channels, 1, p * p)
    repeated = np.broadcast_to(patches, (gh * gw, channels, t, p * p))
    flat = torch.from_numpy(repeated.reshape(gh * gw, channels * t * p * p))
    per_column = t * p * p  # columns are channel-major
    mean = torch.tensor(norm.mean, dtype=torch.float32).repeat_interleave(per_column)
    std = torch.tensor(norm.std, dtype=torch.float32).repeat_interleave(per_column)
    if out is None:
        out = torch.empty(flat.shape, dtype=torch.float32)
    # (x * rescale - mean) / std computed as x * (rescale / std) - mean / std in one pass.
    return torch.addcmul(-mean / std, flat, norm.rescale / std, out=out)


def special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after a text with `add_special_tokens=True`
    (the default the references call it with): a BOS for some checkpoints, none for Qwen."""
    probe = "a"
    core = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(core) + 1):
        if full[start : start + len(core)] == core:
            return list(full[:start]), list(full[start + len(core) :])
    raise ValueError("tokenizer changes the text itself when adding special tokens")


def default_decode_workers() -> int:
    """Image-decoding threads: every core but the two that drive the GPU and collate
    batches (decode, resize and patching take ~60 ms of CPU per page, so a GPU at 110
    pages/s needs ~7 cores of it; see bench.feed), at least two."""
    cores = usable_cores()
    return min(cores, max(2, cores - 2))


class QwenVLProcessor:
    """Tokenizer + image processor of one Qwen-VL checkpoint, and its chat template."""

    def __init__(
        self,
        tokenizer: Any,
        image_processor: Any,
        geometry: VisionGeometry,
        chat_template: str | None = None,
        decode_workers: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.decode_workers = max(1, decode_workers or default_decode_workers())
        self._pool: ThreadPoolExecutor | None = None
        self.image_processor = image_processor
        self.geometry = geometry
        self.chat_template = chat_template
        # Patching in torch is ~10x faster than the PIL image processor and gives the same
        # values (tested); processors that do not describe their normalisation are called.
        self.normalization = PixelNormalization.of(image_processor)
        self.image_token_id = self._token_id(IMAGE_PAD)
        self.video_token_id = self._token_id(VIDEO_PAD)
        pad_id = tokenizer.pad_token_id
        self.pad_token_id: int = int(pad_id) if pad_id is not None else 0
        self._special_prefix, self._special_suffix = special_affixes(tokenizer)

    def _token_id(self, token: str) -> int:
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if not isinstance(token_id, int) or token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no {token} token: not a Qwen-VL tokenizer")
        return token_id

    def size_image(self, source: ImageSource, sizing: ImageSizing) -> SizedImage:
        """The size `source` will be fed at (reads the file header only)."""
        width, height = read_image_size(source)
        try:
            h, w = target_size(width, height, sizing, self.geometry)
        except ValueError as err:
            raise CorruptFile(_source_name(source), str(err)) from err
        return SizedImage(source, h, w)

    def encode(self, text: str, images: Sequence[SizedImage]) -> EncodedPrompt:
        """Token ids of `text`, whose k-th `<|image_pad|>` becomes as many pads as image k
        has tokens. Raises ValueError when placeholders and images do not pair up."""
        pieces = text.split(IMAGE_PAD)
        if len(pieces) - 1 != len(images):
            raise ValueError(
                f"prompt has {len(pieces) - 1} image placeholders for {len(images)} images"
            )
        # Special tokens split the text before BPE, so tokenising the pieces between the
        # placeholders and splicing in the image ids gives the ids of the expanded text,
        # without the tokenizer scanning hundreds of pad strings (~4x faster per page).
        encoded = self.tokenizer(pieces, add_special_tokens=False)["input_ids"]
        ids: list[int] = [*self._special_prefix, *encoded[0]]
        for image, piece_ids in zip(images, encoded[1:], strict=True):
            ids.extend([self.image_token_id] * self.geometry.tokens(image.height, image.width))
            ids.extend(piece_ids)
        ids.extend(self._special_suffix)
        return EncodedPrompt(tuple(int(i) for i in ids), tuple(images))

    def pixel_inputs(self, images: Sequence[SizedImage]) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel_values, image_grid_thw) of `images`, decoded and resized to their sizes.
        Images are decoded on a few threads (PIL and the patching release the GIL)."""
        p = self.geometry.patch_size
        grid = torch.tensor([[1, img.height // p, img.width // p] for img in images])
        if self.normalization is None:
            decoded = [img.load() for img in images]
            # Sizes are already multiples of the patch factor: no second resize.
            out = self.image_processor(images=decoded, do_resize=False, return_tensors="pt")
            return out["pixel_values"], out["image_grid_thw"]
        norm = self.normalization
        counts = (grid[:, 1] * grid[:, 2]).tolist()
        width = RGB_CHANNELS * norm.temporal_patch_size * p * p
        pixel_values = torch.empty((sum(counts), width), dtype=torch.float32)
        starts = [0, *np.cumsum(counts).tolist()]

        def fill(index: int) -> None:
            img = images[index]
            rgb = img.load()
            patchify(rgb, self.geometry, norm, out=pixel_values[starts[index] : starts[index + 1]])

        if len(images) == 1:
            fill(0)
        else:
            list(self._decoder_pool().map(fill, range(len(images))))
        return pixel_values, grid

    def _decoder_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="vlm-decode")
        return self._pool

    def collate(
        self, prompts: Sequence[EncodedPrompt], padding_side: PaddingSide = "right"
    ) -> ModelInputs:
        """Pad `prompts` into one batch and patch their images, in prompt order."""
        longest = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), longest), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids = torch.tensor(prompt.token_ids, dtype=torch.long)
            span = (
                slice(longest - len(ids), longest) if padding_side == "left" else slice(0, len(ids))
            )
            input_ids[row, span] = ids
            attention_mask[row, span] = 1
        mm_types = torch.zeros_like(input_ids, dtype=torch.int32)
        mm_types[(input_ids == self.image_token_id) & (attention_mask == 1)] = 1
        mm_types[(input_ids == self.video_token_id) & (attention_mask == 1)] = 2
        images = [img for p in prompts for img in p.images]
        pixel_values, grid = self.pixel_inputs(images) if images else (None, None)
        return ModelInputs(input_ids, attention_mask, mm_types, pixel_values, grid)
