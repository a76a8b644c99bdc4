"""Loading Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints (hub id or local directory) with
transformers: the processor parts, the base model (no LM head) for embeddings, the full
model for reranking and generation, and device/dtype selection.

Every failure is a `ModelUnavailable` that names the model and the reason.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import torch

from ingest.errors import ModelUnavailable
from retrieval.qwen_vl.processing import QwenVLProcessor, VisionGeometry

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"})

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_device(setting: str) -> torch.device:
    """ "auto" -> the first CUDA device if there is one, else the CPU; "cpu", "cuda",
    "cuda:N" as given. ModelUnavailable when CUDA is asked for and absent."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except RuntimeError as err:
        raise ModelUnavailable(f"device {setting!r}: {err}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable(f"device {setting!r}: CUDA is not available on this machine")
    return device


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    """ "auto" -> bfloat16 on a GPU that has it (float16 on older ones), float32 on CPU."""
    if setting != "auto":
        return _DTYPES[setting]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _check_source(model_id: str) -> bool:
    """True when `model_id` is a local directory; ModelUnavailable when it looks like a path
    that does not exist (rather than letting the hub client guess)."""
    path = Path(model_id).expanduser()
    if path.is_dir():
        return True
    if model_id.startswith(("/", "./", "../", "~")) or path.exists():
        raise ModelUnavailable(f"model {model_id!r}: no such directory")
    return False


def _unavailable(model_id: str, what: str, err: Exception) -> ModelUnavailable:
    return ModelUnavailable(f"model {model_id!r}: cannot load {what}: {type(err).__name__}: {err}")


def load_config(model_id: str) -> Any:
    """The checkpoint's config; ModelUnavailable unless it is a supported Qwen-VL family."""
    local = _check_source(model_id)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_id, local_files_only=local)
    except Exception as err:  # any loader failure means the same thing to the caller
        raise _unavailable(model_id, "config", err) from err
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        supported = ", ".join(sorted(SUPPORTED_MODEL_TYPES))
        raise ModelUnavailable(
            f"model {model_id!r}: type {config.model_type!r} is not a Qwen-VL model ({supported})"
        )
    return config


def text_hidden_size(config: Any) -> int:
    """Hidden size of the language model: the dimension of a pooled embedding."""
    return int(config.get_text_config().hidden_size)


def _read_chat_template(model_id: str, local: bool) -> str | None:
    """The chat template shipped beside the processor (chat_template.jinja or .json)."""
    from transformers.utils.hub import cached_file

    for name in ("chat_template.jinja", "chat_template.json"):
        try:
            path = cached_file(
                model_id,
                name,
                local_files_only=local,
                _raise_exceptions_for_missing_entries=False,
            )
        except OSError:
            path = None
        if path is None:
            continue
        text = Path(path).read_text(encoding="utf-8")
        if name.endswith(".json"):
            template = json.loads(text).get("chat_template")
            return template if isinstance(template, str) else None
        return text
    return None


def load_processor(model_id: str) -> QwenVLProcessor:
    """Tokenizer, image processor and chat template of a checkpoint, as a QwenVLProcessor."""
    local = _check_source(model_id)
    from transformers import AutoImageProcessor, AutoTokenizer

    image_processor_class: Any = AutoImageProcessor

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=local)
    except Exception as err:
        raise _unavailable(model_id, "tokenizer", err) from err
    try:
        image_processor = image_processor_class.from_pretrained(model_id, local_files_only=local)
    except Exception as err:
        raise _unavailable(model_id, "image processor", err) from err
    patch = getattr(image_processor, "patch_size", None)
    merge = getattr(image_processor, "merge_size", None)
    if not isinstance(patch, int) or not isinstance(merge, int):
        raise ModelUnavailable(f"model {model_id!r}: image processor has no patch/merge size")
    # The processor-level template (what AutoProcessor uses) wins over the tokenizer's.
    template = _read_chat_template(model_id, local) or getattr(tokenizer, "chat_template", None)
    try:
        return QwenVLProcessor(tokenizer, image_processor, VisionGeometry(patch, merge), template)
    except ValueError as err:
        raise _unavailable(model_id, "processor", err) from err


def check_geometry(model_id: str, config: Any, processor: QwenVLProcessor) -> None:
    """ModelUnavailable when the image processor cuts patches the vision tower cannot take."""
    vision = config.vision_config
    patch = vision.patch_size
    merge = vision.spatial_merge_size
    if (patch, merge) != (processor.geometry.patch_size, processor.geometry.merge_size):
        raise ModelUnavailable(
            f"model {model_id!r}: image processor patches {processor.geometry} do not match "
            f"the vision tower (patch {patch}, merge {merge})"
        )


def _pretrained_kwargs(local: bool, dtype: torch.dtype, attn: str) -> dict[str, Any]:
    return {"local_files_only": local, "dtype": dtype, "attn_implementation": attn}


def load_backbone(
    model_id: str, device: torch.device, dtype: torch.dtype, attn_implementation: str = "sdpa"
) -> torch.nn.Module:
    """The base model (vision tower + language model, no LM head) in eval mode on `device`:
    an embedder needs hidden states only, and a full-vocabulary head costs memory and time."""
    local = _check_source(model_id)
    from transformers import AutoModel

    try:
        model: torch.nn.Module = AutoModel.from_pretrained(
            model_id, **_pretrained_kwargs(local, dtype, attn_implementation)
        )
    except Exception as err:
        raise _unavailable(model_id, "model", err) from err
    log.info("loaded %s (%s) on %s as %s", model_id, type(model).__name__, device, dtype)
    return model.to(device).eval()


def load_generative(
    model_id: str, device: torch.device, dtype: torch.dtype, attn_implementation: str = "sdpa"
) -> Any:
    """The model with its LM head (Qwen*VLForConditionalGeneration) in eval mode on `device`."""
    local = _check_source(model_id)
    from transformers import AutoModelForImageTextToText

    try:
        model: Any = AutoModelForImageTextToText.from_pretrained(
            model_id, **_pretrained_kwargs(local, dtype, attn_implementation)
        )
    except Exception as err:
        raise _unavailable(model_id, "model", err) from err
    log.info("loaded %s (%s) on %s as %s", model_id, type(model).__name__, device, dtype)
    return model.to(device).eval()


def accepts_mm_token_types(model: torch.nn.Module) -> bool:
    """Whether this transformers version's forward takes `mm_token_type_ids` (newer ones
    require it to place image tokens in M-RoPE; older ones do without)."""
    return "mm_token_type_ids" in inspect.signature(model.forward).parameters
