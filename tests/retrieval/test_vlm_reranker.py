"""VLMReranker on a tiny random Qwen3-VL checkpoint: the yes/no score equals a manual full
forward's last-position logits, and matches Qwen3-VL-Reranker's reference code
(QwenLM/Qwen3-VL-Embedding src/models/qwen3_vl_reranker.py, formatting re-implemented
literally below) on the same weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ingest.errors import ModelUnavailable
from ingest.types import Unit
from retrieval.config import VLMSettings
from retrieval.qwen_vl import chat_templates
from retrieval.qwen_vl.formats import rerank_prompt
from retrieval.qwen_vl.synthetic import BOS_TOKEN
from retrieval.rerankers.base import Reranker
from retrieval.rerankers.vlm import VLMReranker, answer_token_id
from tests.support.reranker_suite import RerankerSuite
from tests.support.tiny_vlm import make_clip_unit, make_page_unit
from tests.support.vlm_reference import (
    RefQwen3VLProcessor,
    ref_append_mm_items,
    ref_process_vision_info,
    reference_processor,
)

QUERY = "Where do whales sing?"
INSTRUCTION = "Retrieve pages relevant to the user's query."


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> list[Unit]:
    d = tmp_path_factory.mktemp("rerank")
    return [
        make_page_unit(d, 1, size=(120, 90)),
        make_page_unit(d, 2, text="Bitcoin is a peer-to-peer electronic cash system."),
        make_clip_unit(d, 0, frames=2),
    ]


@pytest.fixture(scope="module")
def reranker(tiny_qwen3_vl: Path) -> VLMReranker:
    settings = VLMSettings(model=str(tiny_qwen3_vl), device="cpu", query_instruction=INSTRUCTION)
    return VLMReranker(settings)


def test_score_is_yes_minus_no_of_a_full_forward(
    reranker: VLMReranker, units: list[Unit], tiny_qwen3_vl: Path
) -> None:
    assert isinstance(reranker, Reranker)
    scores = reranker.score(QUERY, units)
    assert len(scores) == 3 and all(0.0 < s < 1.0 for s in scores)
    from transformers import AutoModelForImageTextToText

    full = AutoModelForImageTextToText.from_pretrained(tiny_qwen3_vl).eval()
    scorer = reranker._load()
    processor = scorer.encoder.processor
    yes, no = answer_token_id(processor, "yes"), answer_token_id(processor, "no")
    for unit, score in zip(units, scores, strict=True):
        prepared = scorer.encoder.prepare(rerank_prompt(QUERY, unit, reranker.settings))
        inputs = processor.collate([prepared])
        with torch.no_grad():
            logits = full(**inputs.forward_kwargs()).logits[0, -1]  # (vocab,)
        manual = torch.sigmoid(logits[yes] - logits[no]).item()
        assert score == pytest.approx(manual, abs=1e-5)
    assert reranker.score(QUERY, []) == []


# QwenLM/Qwen3-VL-Embedding src/models/qwen3_vl_reranker.py, literally (images only)
def ref_format_mm_content(
    text: Any, image: Any, prefix: str, min_pixels: int, max_pixels: int
) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": prefix}]
    texts = [] if text is None else ([text] if isinstance(text, str) else text)
    images = [] if image is None else (image if isinstance(image, list) else [image])
    ref_append_mm_items(content, texts, images, min_pixels, max_pixels)
    return content


def ref_format_mm_instruction(
    query_text: str, doc_text: Any, doc_image: Any, instruction: str, max_pixels: int
) -> list[dict[str, Any]]:
    min_pixels = 4 * 32 * 32
    contents: list[dict[str, Any]] = [{"type": "text", "text": "<Instruct>: " + instruction}]
    contents.extend(ref_format_mm_content(query_text, None, "<Query>:", min_pixels, max_pixels))
    contents.extend(
        ref_format_mm_content(doc_text, doc_image, "\n<Document>:", min_pixels, max_pixels)
    )
    return [
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": 'Judge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or "no".',
                }
            ],
        },
        {"role": "user", "content": contents},
    ]


def test_matches_reference_reranker(
    reranker: VLMReranker, units: list[Unit], tiny_qwen3_vl: Path
) -> None:
    pages = units[:2]  # the reference sends clip frames as a video: not comparable
    ours = reranker.score(QUERY, pages)
    scorer = reranker._load()
    processor = reference_processor(tiny_qwen3_vl, RefQwen3VLProcessor, chat_templates.QWEN3_VL)
    backbone = scorer.encoder.backbone
    for unit, score in zip(pages, ours, strict=True):
        pair = ref_format_mm_instruction(
            QUERY, unit.text, Image.open(unit.images[0]), INSTRUCTION, reranker.settings.max_pixels
        )
        text = processor.apply_chat_template([pair], tokenize=False, add_generation_prompt=True)
        images = ref_process_vision_info([pair], image_patch_size=16)
        inputs = processor(text=text, images=images, do_resize=False, return_tensors="pt")
        ours_ids = scorer.encoder.prepare(rerank_prompt(QUERY, unit, reranker.settings)).token_ids
        assert list(ours_ids) == inputs["input_ids"][0].tolist()
        with torch.no_grad():
            last = backbone(**inputs).last_hidden_state[:, -1]
        ref = torch.sigmoid(last.float() @ scorer.direction).item()  # score_linear = w_yes - w_no
        assert score == pytest.approx(ref, abs=1e-5)
    assert np.isfinite(ours).all()


def test_special_tokens_are_added_as_the_reference_adds_them(
    units: list[Unit], tiny_qwen3_vl_bos: Path
) -> None:
    # This tokenizer prepends a BOS when asked to add special tokens; the reference's
    # processor call asks (its default), so our prompt must start with it too.
    settings = VLMSettings(
        model=str(tiny_qwen3_vl_bos), device="cpu", query_instruction=INSTRUCTION
    )
    scorer = VLMReranker(settings)._load()
    processor = reference_processor(tiny_qwen3_vl_bos, RefQwen3VLProcessor, chat_templates.QWEN3_VL)
    page = units[0]
    pair = ref_format_mm_instruction(
        QUERY, page.text, Image.open(page.images[0]), INSTRUCTION, settings.max_pixels
    )
    text = processor.apply_chat_template([pair], tokenize=False, add_generation_prompt=True)
    images = ref_process_vision_info([pair], image_patch_size=16)
    inputs = processor(text=text, images=images, do_resize=False, return_tensors="pt")
    ours = list(scorer.encoder.prepare(rerank_prompt(QUERY, page, settings)).token_ids)
    assert ours == inputs["input_ids"][0].tolist()
    assert ours[0] == processor.tokenizer.convert_tokens_to_ids(BOS_TOKEN)


def test_tokenizer_without_single_yes_token_is_rejected() -> None:
    class NoYes:
        tokenizer = type("T", (), {"get_vocab": staticmethod(lambda: {"no": 5})})()

    with pytest.raises(ModelUnavailable, match="'yes'"):
        answer_token_id(NoYes(), "yes")  # type: ignore[arg-type]


class TestVLMReranker(RerankerSuite):
    semantic = False  # a tiny random checkpoint
    atol = 1e-4

    @pytest.fixture
    def units(self, tmp_path: Path) -> list[Unit]:
        return [
            make_page_unit(tmp_path, 1, size=(120, 90)),
            make_page_unit(tmp_path, 2, text="Bitcoin is a peer-to-peer electronic cash system."),
            make_clip_unit(tmp_path, 0, frames=2),
        ]
