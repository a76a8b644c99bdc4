"""TransformersVLMGenerator on a tiny random Qwen3-VL checkpoint: the prompt carries the
sources' images and labels, the stream equals a plain greedy generate, an early close
stops the worker, and failures surface as GenerationError."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from generation.base import Generator
from generation.config import GenerationSettings
from generation.errors import GenerationError
from generation.generators.transformers_vlm import StopOnEvent, TransformersVLMGenerator
from retrieval.types import Hit
from tests.support.generator_suite import GeneratorSuite
from tests.support.tiny_vlm import make_clip_unit, make_page_unit

QUESTION = "Where do whales sing?"


@pytest.fixture(scope="module")
def hits(tmp_path_factory: pytest.TempPathFactory) -> list[Hit]:
    d = tmp_path_factory.mktemp("gen")
    units = [make_page_unit(d, 1, size=(120, 90)), make_clip_unit(d, 0, frames=4)]
    return [Hit(unit=u, score=0.9 - 0.1 * i, stage1_score=0.5) for i, u in enumerate(units)]


@pytest.fixture(scope="module")
def generator(tiny_qwen3_vl: Path) -> TransformersVLMGenerator:
    settings = GenerationSettings(
        transformers_model=str(tiny_qwen3_vl), device="cpu", max_new_tokens=12, max_images=3
    )
    return TransformersVLMGenerator(settings)


def test_prompt_has_sources_images_and_generation_turn(
    generator: TransformersVLMGenerator, hits: list[Hit]
) -> None:
    assert isinstance(generator, Generator)
    inputs = generator.prepare(QUESTION, hits)
    processor = generator._load().processor
    assert inputs.image_grid_thw is not None and inputs.image_grid_thw.shape[0] == 3  # max_images
    n_pads = int((inputs.input_ids == processor.image_token_id).sum())
    expected = sum(int(t * h * w) // 4 for t, h, w in inputs.image_grid_thw.tolist())
    assert n_pads == expected
    text = processor.tokenizer.decode(inputs.input_ids[0])
    assert "[S1] report.pdf p.1" in text and "[S2] clip.mp4 00:00-00:10" in text
    assert QUESTION in text and text.endswith("<|im_start|>assistant\n")


def test_stream_equals_greedy_generate(
    generator: TransformersVLMGenerator, hits: list[Hit]
) -> None:
    chunks = list(generator.stream(QUESTION, hits))
    assert chunks and all(chunks)
    loaded = generator._load()
    inputs = generator.prepare(QUESTION, hits)
    out = loaded.model.generate(
        **inputs.forward_kwargs(loaded.mm_token_types),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=loaded.processor.pad_token_id,
    )
    new_tokens = out[0, inputs.input_ids.shape[1] :]
    expected = loaded.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)
    assert "".join(chunks) == expected


def test_closing_the_stream_early_releases_the_generator(
    generator: TransformersVLMGenerator, hits: list[Hit]
) -> None:
    stream = generator.stream(QUESTION, hits)
    assert next(stream)
    stream.close()  # joins the worker after asking it to stop
    assert list(generator.stream(QUESTION, hits))  # the run lock was released
    event = threading.Event()
    criterion = StopOnEvent(event)
    import torch

    ids = torch.zeros((2, 3), dtype=torch.long)
    assert not criterion(ids, torch.zeros(2, 5)).any()
    event.set()
    assert criterion(ids, torch.zeros(2, 5)).all()


def test_generation_failure_is_a_generation_error(
    generator: TransformersVLMGenerator, hits: list[Hit], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(**_: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(generator._load().model, "generate", boom)
    with pytest.raises(GenerationError, match="out of memory"):
        list(generator.stream(QUESTION, hits))


@pytest.fixture(scope="module")
def suite_generator(tiny_qwen3_vl: Path) -> TransformersVLMGenerator:
    settings = GenerationSettings(
        transformers_model=str(tiny_qwen3_vl), device="cpu", max_new_tokens=24
    )
    return TransformersVLMGenerator(settings)


class TestTransformersVLMGeneratorContract(GeneratorSuite):
    """The shared Generator contract; random weights cannot be steered to cite or refuse."""

    expects_grounded_text = False

    @pytest.fixture
    def generator(self, suite_generator: TransformersVLMGenerator) -> TransformersVLMGenerator:
        return suite_generator
