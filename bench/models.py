"""Random-weight Qwen-VL checkpoints of real size, for the GPU benchmarks: the published
config.json of each model is kept as data in bench/configs (nothing can be downloaded on
the GPU machine); weights are random (they cost the same time as trained ones).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from retrieval.qwen_vl.synthetic import (
    SPECIAL_TOKENS,
    model_config,
    published_config,
    train_tokenizer,
    write_processor_files,
)

CONFIGS = Path(__file__).resolve().parent / "configs"
# What each product role runs, and the published config it is built from.
ROLE_CONFIGS = {
    "embedder": "qwen3_vl_2b",  # Qwen3-VL-Embedding-2B
    "reranker": "qwen3_vl_2b",  # Qwen3-VL-Reranker-2B
    "generator": "qwen3_vl_4b",  # Qwen3-VL-4B-Instruct
}


def published(name: str) -> dict[str, Any]:
    """The published config.json `name` (a file of bench/configs, without .json)."""
    data: dict[str, Any] = json.loads((CONFIGS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def config_for(name: str, tokenizer: Any, tiny: bool) -> Any:
    """The transformers config of `name` wired to `tokenizer`; the 2-layer test size when
    `tiny`."""
    if tiny:
        return model_config("qwen3_vl", "tiny", tokenizer)
    return published_config(published(name), tokenizer)


def _answerable_vocabulary(model: Any, tokenizer: Any) -> None:
    """Zero the output rows of ids the tiny tokenizer cannot decode and of the special
    tokens, so a random model streams decodable text and never stops early."""
    head = model.get_output_embeddings()
    weight = head.weight if head is not None else model.get_input_embeddings().weight
    special = [int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS]
    with torch.no_grad():
        weight[len(tokenizer) :] = 0
        weight[special] = 0


def write_random_checkpoint(
    directory: Path, config: Any, tokenizer: Any, device: torch.device, dtype: torch.dtype
) -> Path:
    """A random model of `config` built on `device` in `dtype` and saved with `tokenizer`,
    the image processor and the chat template: loadable like a downloaded checkpoint."""
    from transformers import AutoModelForImageTextToText

    auto: Any = AutoModelForImageTextToText
    torch.manual_seed(0)
    with torch.device(device):
        model = auto.from_config(config, dtype=dtype)
    _answerable_vocabulary(model, tokenizer)
    write_processor_files(directory, "qwen3_vl", tokenizer)
    model.save_pretrained(directory)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return directory


def bench_tokenizer() -> Any:
    """The tiny BPE tokenizer every benchmark checkpoint uses (only its ids are fed)."""
    return train_tokenizer()
