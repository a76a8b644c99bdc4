"""Parity with the reference embedders on the same tiny weights.

Each reference's input formatting is re-implemented below literally from its code (names
and control flow kept; see docs/parity.md for the repositories and paths), run through
transformers' own Qwen-VL processor (the family's real chat template, the checkpoint's
tokenizer and image processor) and pooled with the reference's pooling. Our VLMEmbedder
must produce the same token ids and the same vectors.

Shared reference pieces (qwen-vl-utils image fetching, pooling functions, processors) live
in tests/support/vlm_reference.py.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ingest.types import Unit
from retrieval.config import VLMSettings
from retrieval.embedders.vlm import VLMEmbedder
from retrieval.qwen_vl import chat_templates
from retrieval.qwen_vl.formats import query_prompt, unit_prompt
from retrieval.qwen_vl.prompts import render_prompt
from retrieval.qwen_vl.synthetic import BOS_TOKEN
from tests.support.tiny_vlm import make_page_unit
from tests.support.vlm_reference import (
    RefQwen2VLProcessor,
    RefQwen3VLProcessor,
    ref_append_mm_items,
    ref_dse_pooling,
    ref_process_vision_info,
    ref_qwen3_pooling_last,
    ref_vlm2vec_pooling,
    reference_processor,
)

QUERY = "Where do whales sing?"


# --- Qwen3-VL-Embedding: QwenLM/Qwen3-VL-Embedding src/models/qwen3_vl_embedding.py ----------


def ref_qwen3_format_model_input(
    text: str | None,
    image: Any,
    instruction: str | None,
    min_pixels: int,
    max_pixels: int,
    default_instruction: str = "Represent the user's input.",
) -> list[dict[str, Any]]:
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction = instruction + "."
    content: list[dict[str, Any]] = []
    conversation = [
        {
            "role": "system",
            "content": [{"type": "text", "text": instruction or default_instruction}],
        },
        {"role": "user", "content": content},
    ]
    texts = [] if text is None else [text]
    images = [] if image is None else [image]
    ref_append_mm_items(content, texts, images, min_pixels, max_pixels)
    return conversation


def ref_qwen3_embed(
    processor: Any, model: Any, inputs: list[dict[str, Any]], max_pixels: int
) -> tuple[Any, torch.Tensor]:
    min_pixels = 4 * 32 * 32
    conversations = [
        ref_qwen3_format_model_input(
            e.get("text"), e.get("image"), e.get("instruction"), min_pixels, max_pixels
        )
        for e in inputs
    ]
    text = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)
    images = ref_process_vision_info(conversations, image_patch_size=16)
    processor.tokenizer.padding_side = "right"
    batch = processor(text=text, images=images, padding=True, do_resize=False, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    embeddings = F.normalize(ref_qwen3_pooling_last(hidden, batch["attention_mask"]), p=2, dim=-1)
    return batch, embeddings


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Unit:
    return make_page_unit(tmp_path_factory.mktemp("parity"), 1, size=(180, 120))


def ids_of(batch: Any, row: int) -> list[int]:
    """One row of a right- or left-padded batch without its padding."""
    mask = batch["attention_mask"][row].bool()
    return [int(t) for t in batch["input_ids"][row][mask]]


# The "bos" checkpoint's tokenizer adds a token when asked for special tokens: the reference
# tokenises with the processor's default (add them), so ours must too.
@pytest.mark.parametrize("checkpoint", ["tiny_qwen3_vl", "tiny_qwen3_vl_bos"])
def test_qwen3_vl_embedding_parity(
    checkpoint: str, page: Unit, request: pytest.FixtureRequest
) -> None:
    tiny: Path = request.getfixturevalue(checkpoint)
    settings = VLMSettings(
        model=str(tiny), device="cpu", query_instruction="Find the page that answers"
    )
    ours = VLMEmbedder(settings)
    encoder = ours.load()
    processor = reference_processor(tiny, RefQwen3VLProcessor, chat_templates.QWEN3_VL)
    ref_batch, ref_vectors = ref_qwen3_embed(
        processor,
        encoder.backbone,
        [
            {"text": QUERY, "instruction": settings.query_instruction},
            {"text": page.text, "image": str(page.images[0])},
        ],
        max_pixels=settings.max_pixels,
    )
    specs = [query_prompt(QUERY, settings), unit_prompt(page, settings)]
    bos = (
        processor.tokenizer.convert_tokens_to_ids(BOS_TOKEN) if checkpoint.endswith("bos") else None
    )
    for row, spec in enumerate(specs):
        ids = list(encoder.prepare(spec).token_ids)
        assert ids == ids_of(ref_batch, row)
        assert (ids[0] == bos) == (bos is not None)
    vectors = np.vstack([ours.embed_queries([QUERY]), ours.embed_units([page])])
    np.testing.assert_allclose(vectors, ref_vectors.numpy(), atol=1e-5)


# --- DSE: texttron/tevatron examples/dse/qwen/collator.py (EncodeCollator), dse.py ----------


def ref_dse_encode(
    processor: Any, model: Any, texts: list[str], is_query: bool
) -> tuple[Any, torch.Tensor]:
    messages = []
    for text in texts:
        if is_query:
            message = [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "image": Image.new("RGB", (28, 28)),
                            "resized_height": 1,
                            "resized_width": 1,
                        },
                        {"type": "text", "text": f"Query: {text}"},
                    ],
                }
            ]
        else:
            message = [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "image": text,
                            "resized_height": 748,
                            "resized_width": 748,
                        },
                        {"type": "text", "text": "What is shown in this image?"},
                    ],
                }
            ]
        messages.append(message)
    prompts = [
        processor.apply_chat_template(msg, tokenize=False, add_generation_prompt=False)
        + "<|endoftext|>"
        for msg in messages
    ]
    images = ref_process_vision_info(messages, image_patch_size=14)
    processor.tokenizer.padding_side = "left"
    # Sizes are final after fetch_image (the processor's own resize would keep them);
    # text= by keyword: transformers 5 takes images first positionally.
    batch = processor(
        text=prompts, images=images, padding="longest", do_resize=False, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
    reps = F.normalize(ref_dse_pooling(hidden), p=2, dim=-1)  # pooling 'eos', left padding
    return batch, reps


def test_dse_parity(tiny_qwen2_vl: Path, page: Unit) -> None:
    settings = VLMSettings(
        model=str(tiny_qwen2_vl), device="cpu", prompt_format="dse", include_unit_text=False
    )
    ours = VLMEmbedder(settings)
    encoder = ours.load()
    processor = reference_processor(tiny_qwen2_vl, RefQwen2VLProcessor, chat_templates.QWEN2_VL)
    from transformers import AutoModelForImageTextToText

    full = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl).eval()
    q_batch, q_ref = ref_dse_encode(processor, full, [QUERY, "whales?"], is_query=True)
    p_batch, p_ref = ref_dse_encode(processor, full, [str(page.images[0])], is_query=False)
    assert list(encoder.prepare(query_prompt(QUERY, settings)).token_ids) == ids_of(q_batch, 0)
    assert list(encoder.prepare(unit_prompt(page, settings)).token_ids) == ids_of(p_batch, 0)
    assert ids_of(q_batch, 0)[-1] == processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    np.testing.assert_allclose(ours.embed_queries([QUERY, "whales?"]), q_ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.embed_units([page]), p_ref.numpy(), atol=1e-5)


# --- VLM2Vec: TIGER-AI-Lab/VLM2Vec src/model/processor.py, src/model/model.py --------------

VLM2VEC_TASK_INST_QRY = "Find a document image that matches the given query:"  # vidore_dataset.py
VLM2VEC_TASK_INST_TGT = "Understand the content of the provided document image."


def ref_process_input_text(
    instruction: str, text: str | None = None, add_image_token: bool = False
) -> str:
    prompt = instruction
    if text:
        prompt = prompt + " " + text
    if add_image_token:
        prompt = "<|image_pad|>" + " " + prompt
    return prompt


def ref_vlm2vec_encode(
    processor: Any, model: Any, texts: list[str], images: list[Any]
) -> tuple[list[list[int]], torch.Tensor]:
    # Qwen2_VL_process_fn: one processor call per item, then tokenizer.pad
    input_ids, pixel_values, grids = [], [], []
    for text, image in zip(texts, images, strict=True):
        if image is None:
            inputs = processor(text=[text], images=None, return_tensors="np")
        else:
            inputs = processor(text=[text], images=[image], return_tensors="np")
            pixel_values.append(torch.from_numpy(inputs["pixel_values"]))
            grids.append(torch.from_numpy(inputs["image_grid_thw"]))
        input_ids.append(inputs["input_ids"].squeeze(0).tolist())
    batch = processor.tokenizer.pad({"input_ids": input_ids}, return_tensors="pt")
    kwargs: dict[str, Any] = {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
    }
    if pixel_values:
        kwargs["pixel_values"] = torch.cat(pixel_values)
        kwargs["image_grid_thw"] = torch.cat(grids)
        kwargs["mm_token_type_ids"] = (batch["input_ids"] == processor.image_token_id).int()
    with torch.no_grad():
        hidden = model(**kwargs).last_hidden_state
    reps = F.normalize(ref_vlm2vec_pooling(hidden, batch["attention_mask"]), p=2, dim=-1)
    return input_ids, reps


def test_vlm2vec_parity(tiny_qwen2_vl: Path, page: Unit) -> None:
    settings = VLMSettings(
        model=str(tiny_qwen2_vl),
        device="cpu",
        prompt_format="vlm2vec",
        query_instruction=VLM2VEC_TASK_INST_QRY,
        include_unit_text=False,
    )
    ours = VLMEmbedder(settings)
    encoder = ours.load()
    processor = reference_processor(tiny_qwen2_vl, RefQwen2VLProcessor, chat_templates.QWEN2_VL)
    image = Image.open(page.images[0]).convert("RGB")
    q_ids, q_ref = ref_vlm2vec_encode(
        processor,
        encoder.backbone,
        [ref_process_input_text(VLM2VEC_TASK_INST_QRY, text=QUERY)],
        [None],
    )
    p_ids, p_ref = ref_vlm2vec_encode(
        processor,
        encoder.backbone,
        [ref_process_input_text(VLM2VEC_TASK_INST_TGT, add_image_token=True)],
        [image],
    )
    assert render_prompt(unit_prompt(page, settings)) == f"<|image_pad|> {VLM2VEC_TASK_INST_TGT}"
    assert list(encoder.prepare(query_prompt(QUERY, settings)).token_ids) == q_ids[0]
    assert list(encoder.prepare(unit_prompt(page, settings)).token_ids) == p_ids[0]
    np.testing.assert_allclose(ours.embed_queries([QUERY]), q_ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.embed_units([page]), p_ref.numpy(), atol=1e-4)
