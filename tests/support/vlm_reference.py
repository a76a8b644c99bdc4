"""Reference code of the embedders and rerankers we match, re-implemented literally (names
and control flow kept) for parity tests. Sources (see docs/parity.md):

- qwen-vl-utils: QwenLM/Qwen3-VL qwen-vl-utils/src/qwen_vl_utils/vision_process.py
  (`smart_resize`, `fetch_image`, `process_vision_info` for images)
- Qwen3-VL-Embedding: QwenLM/Qwen3-VL-Embedding src/models/qwen3_vl_embedding.py
- Tevatron DSE: texttron/tevatron examples/dse/qwen/dse.py
- VLM2Vec: TIGER-AI-Lab/VLM2Vec src/model/model.py

transformers' Qwen-VL processor classes demand a video processor, which needs torchvision
(not installed here); the `Ref*Processor` classes skip that class check and nothing else.
No video goes through them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer, Qwen2VLProcessor, Qwen3VLProcessor


# qwen-vl-utils, QwenLM/Qwen3-VL qwen-vl-utils/src/qwen_vl_utils/vision_process.py
def ref_round_by_factor(number: int, factor: int) -> int:
    return round(number / factor) * factor


def ref_ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def ref_floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def ref_smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    h_bar = max(factor, ref_round_by_factor(height, factor))
    w_bar = max(factor, ref_round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = ref_floor_by_factor(height / beta, factor)
        w_bar = ref_floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ref_ceil_by_factor(height * beta, factor)
        w_bar = ref_ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


# QwenLM/Qwen3-VL-Embedding src/models/qwen3_vl_embedding.py, Qwen3VLEmbedder._pooling_last
def ref_qwen3_pooling_last(
    hidden_state: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    flipped_tensor = attention_mask.flip(dims=[1])
    last_one_positions = flipped_tensor.argmax(dim=1)
    col = attention_mask.shape[1] - last_one_positions - 1
    row = torch.arange(hidden_state.shape[0], device=hidden_state.device)
    return hidden_state[row, col]


# TIGER-AI-Lab/VLM2Vec src/model/model.py, MMEBModel._pooling ('last'/'eos')
def ref_vlm2vec_pooling(
    last_hidden_state: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    left_padding = attention_mask[:, -1].sum() == attention_mask.shape[0]
    batch_size = last_hidden_state.shape[0]
    if left_padding:
        reps = last_hidden_state[torch.arange(batch_size), -1, :]
    else:
        eos_indices = attention_mask.sum(dim=1) - 1
        reps = last_hidden_state[
            torch.arange(batch_size, device=last_hidden_state.device), eos_indices
        ]
    return reps


# texttron/tevatron examples/dse/qwen/dse.py, DSEModel._pooling ('eos', left padding assumed)
def ref_dse_pooling(last_hidden_state: torch.Tensor) -> torch.Tensor:
    return last_hidden_state[:, -1]


class RefQwen3VLProcessor(Qwen3VLProcessor):  # type: ignore[misc]
    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
        return type(argument)  # the video processor (torchvision) is absent, see module doc


class RefQwen2VLProcessor(Qwen2VLProcessor):  # type: ignore[misc]
    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
        return type(argument)


def reference_processor(checkpoint: Path, cls: type, template: str) -> Any:
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    image_processor = AutoImageProcessor.from_pretrained(checkpoint)
    return cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=template,
    )


# Qwen3-VL-Embedding: qwen3_vl_embedding.py's format_model_input and qwen3_vl_reranker.py's
# format_mm_content end with this same block (control flow kept): "NULL" for an empty
# input, else the images, then the texts.
def ref_append_mm_items(
    content: list[dict[str, Any]],
    texts: list[Any],
    images: list[Any],
    min_pixels: int,
    max_pixels: int,
) -> None:
    if not texts and not images:
        content.append({"type": "text", "text": "NULL"})
        return
    for img in images:
        content.append(
            {"type": "image", "image": img, "min_pixels": min_pixels, "max_pixels": max_pixels}
        )
    for txt in texts:
        content.append({"type": "text", "text": txt})


# qwen-vl-utils fetch_image (resize part) and process_vision_info (images), literally.
def ref_fetch_image(ele: dict[str, Any], image_patch_size: int) -> Image.Image:
    image = ele["image"]
    image = (
        image.convert("RGB") if isinstance(image, Image.Image) else Image.open(image).convert("RGB")
    )
    patch_factor = image_patch_size * 2
    if "resized_height" in ele and "resized_width" in ele:
        resized_height, resized_width = ref_smart_resize(
            ele["resized_height"],
            ele["resized_width"],
            patch_factor,
            4 * patch_factor**2,
            16384 * patch_factor**2,
        )
    else:
        width, height = image.size
        min_pixels = ele.get("min_pixels", 4 * patch_factor**2)
        max_pixels = ele.get("max_pixels", 16384 * patch_factor**2)
        resized_height, resized_width = ref_smart_resize(
            height, width, patch_factor, min_pixels, max_pixels
        )
    return image.resize((resized_width, resized_height))


def ref_process_vision_info(
    conversations: list[list[dict[str, Any]]], image_patch_size: int
) -> list[Image.Image] | None:
    images = [
        ref_fetch_image(item, image_patch_size)
        for conversation in conversations
        for message in conversation
        if isinstance(message["content"], list)
        for item in message["content"]
        if item.get("type") == "image"
    ]
    return images or None
