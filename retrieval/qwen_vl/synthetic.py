"""Random-weight Qwen-VL checkpoints built from configs, for tests and benchmarks: no
download, same files and loading path as a real checkpoint.

`write_checkpoint` trains a tiny byte-level BPE tokenizer with the Qwen special tokens (and
"yes"/"no" as single tokens, for the reranker), saves it with an image processor config,
the family's chat template and a randomly initialised model. `model_config` gives the tiny
test sizes (2 layers, hidden 64); `published_config` turns a checkpoint's published
config.json (kept as data in bench/configs) into the real size (for throughput: random
weights cost the same time as trained ones).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from retrieval.qwen_vl import chat_templates

Family = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
Size = Literal["tiny"]

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CORPUS = (
    "yes",
    "no",
    "system user assistant",
    "You are a helpful assistant.",
    "Represent the user's input.",
    "Find a page or video clip that answers the question.",
    "What is shown in this image? Query: where when who how many",
    "Understand the content of the provided document image.",
    "Understand the content of the provided video.",
    "Judge whether the Document meets the requirements based on the Query and the Instruct",
    'provided. Note that the answer can only be "yes" or "no".',
    "<Instruct>: <Query>: <Document>: NULL",
    "The quick brown fox jumps over the lazy dog. Bitcoin whales sing long songs at sea.",
    "Answer from the sources above and cite them as [S1], [S2], page video clip 00:10",
)

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


BOS_TOKEN = "<|bos|>"


def train_tokenizer(
    extra_texts: Iterable[str] = (), vocab_size: int = 512, add_bos: bool = False
) -> Any:
    """A byte-level BPE tokenizer (transformers fast tokenizer) with the Qwen-VL special
    tokens; every byte is in the alphabet, so any text encodes. With `add_bos`, encoding
    with `add_special_tokens=True` prepends BOS_TOKEN (real Qwen tokenizers add nothing;
    this makes tests see whether code tokenises with special tokens as the reference does)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *([BOS_TOKEN] if add_bos else [])],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*_CORPUS, *extra_texts] * 4, trainer)
    if add_bos:
        bos = (BOS_TOKEN, tokenizer.token_to_id(BOS_TOKEN))
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[bos]
        )
    fast_class: Any = PreTrainedTokenizerFast
    fast = fast_class(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    for word in ("yes", "no"):
        if len(fast.encode(word, add_special_tokens=False)) != 1:
            raise RuntimeError(f"tiny tokenizer did not learn {word!r} as one token")
    return fast


def _token_ids(tokenizer: Any) -> dict[str, int]:
    ids = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }


def _text_config(family: Family, vocab_size: int, ids: dict[str, int]) -> dict[str, Any]:
    """A tiny language model (2 layers, hidden 64); real sizes come from published configs."""
    base: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "eos_token_id": ids["eos_token_id"],
        "pad_token_id": ids["pad_token_id"],
        "bos_token_id": None,  # Qwen tokenizers add no BOS
    }
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    if family == "qwen3_vl":
        return {**base, "head_dim": 16, "rope_parameters": {**rope, "mrope_interleaved": True}}
    return {**base, "rope_parameters": rope}


def _vision_config(family: Family, text_hidden: int) -> dict[str, Any]:
    """Tiny vision towers (2 blocks); real sizes come from published configs."""
    if family == "qwen2_vl":
        return {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": text_hidden,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
        }
    # Qwen2.5-VL and Qwen3-VL share the tower's shape; they differ in patching and extras.
    shared = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": text_hidden,
    }
    if family == "qwen2_5_vl":
        return {**shared, "patch_size": 14, "window_size": 56, "fullatt_block_indexes": [1]}
    return {
        **shared,
        "patch_size": 16,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }


def model_config(family: Family, size: Size, tokenizer: Any) -> Any:
    """A transformers config of `family` at `size`, wired to `tokenizer`'s special ids."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    ids = _token_ids(tokenizer)
    vocab = max(len(tokenizer), 128)
    if size != "tiny":
        raise ValueError(f"no built-in {size!r} config: real sizes come from published configs")
    text = _text_config(family, vocab, ids)
    vision = _vision_config(family, text["hidden_size"])
    config_class = {
        "qwen2_vl": Qwen2VLConfig,
        "qwen2_5_vl": Qwen2_5_VLConfig,
        "qwen3_vl": Qwen3VLConfig,
    }[family]
    vision_ids: dict[str, Any] = {
        k: v for k, v in ids.items() if k.startswith(("image", "video", "vision"))
    }
    return config_class(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=False,
        **vision_ids,
    )


def published_config(data: Mapping[str, Any], tokenizer: Any) -> Any:
    """The transformers config of a published Qwen-VL config.json, wired to `tokenizer`'s
    special ids. The vocabulary keeps its published size, so the embedding and the LM head
    cost what they cost in the real model; only the ids below the tiny vocabulary are fed."""
    from transformers import CONFIG_MAPPING

    ids = _token_ids(tokenizer)
    fields = {k: v for k, v in data.items() if not k.startswith("_") and k != "architectures"}
    text = dict(fields.pop("text_config"))
    # Published files carry the legacy rope_scaling + rope_theta pair; transformers 5 reads
    # one rope_parameters mapping.
    rope = text.pop("rope_scaling", None)
    theta = text.pop("rope_theta", None)
    if rope is not None:
        text["rope_parameters"] = {**rope, "rope_theta": theta}
    text.update(eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"])
    text["bos_token_id"] = None
    fields.update({k: v for k, v in ids.items() if k.startswith(("image", "video", "vision"))})
    config_class: Any = CONFIG_MAPPING[fields.pop("model_type")]
    return config_class(text_config=text, **fields)


def image_processor(family: Family, max_pixels: int = 1280 * 28 * 28) -> Any:
    """The image processor a checkpoint of `family` ships (Qwen3-VL: 16-pixel patches)."""
    processor_class: Any
    try:  # transformers >= 5.2x: PIL and torchvision backends are separate classes
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil as processor_class,
        )
    except ImportError:
        from transformers import Qwen2VLImageProcessor as processor_class

    qwen3 = family == "qwen3_vl"
    return processor_class(
        patch_size=16 if qwen3 else 14,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=[0.5] * 3 if qwen3 else _CLIP_MEAN,
        image_std=[0.5] * 3 if qwen3 else _CLIP_STD,
        min_pixels=4 * 28 * 28,
        max_pixels=max_pixels,
    )


def chat_template(family: Family) -> str:
    """The chat template the family's instruct checkpoints ship."""
    return chat_templates.QWEN3_VL if family == "qwen3_vl" else chat_templates.QWEN2_VL


def build_model(config: Any, seed: int = 0) -> Any:
    """A Qwen*VLForConditionalGeneration with random (seeded) weights, in eval mode."""
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    auto: Any = AutoModelForImageTextToText
    model = auto.from_config(config)
    return model.eval()


def write_processor_files(directory: Path, family: Family, tokenizer: Any) -> Path:
    """Save `tokenizer`, the family's image processor and chat template to `directory`
    (everything of a checkpoint but the model)."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    image_processor(family).save_pretrained(directory)
    (directory / "chat_template.json").write_text(
        json.dumps({"chat_template": chat_template(family)}), encoding="utf-8"
    )
    return directory


def write_checkpoint(directory: Path, family: Family, seed: int = 0, add_bos: bool = False) -> Path:
    """Save a tiny random checkpoint of `family` (model with LM head, tokenizer, image
    processor, chat template) to `directory`, loadable like a downloaded one. `add_bos`:
    see `train_tokenizer`."""
    tokenizer = train_tokenizer(add_bos=add_bos)
    write_processor_files(directory, family, tokenizer)
    build_model(model_config(family, "tiny", tokenizer), seed).save_pretrained(directory)
    return directory
