"""The plain-torch BERT sentence encoder (retrieval.embedders.bert): the same vectors as
sentence-transformers on the packaged MiniLM, the same hidden states as transformers'
BertModel on tiny random checkpoints built here, and clear errors for what it cannot load."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import WordPieceTrainer
from transformers import BertConfig as HFBertConfig
from transformers import BertForMaskedLM, BertModel

from ingest.errors import ModelUnavailable
from retrieval.embedders import packed
from retrieval.embedders.bert import (
    BertSentenceEncoder,
    SentenceEncoder,
    native_bfloat16,
    padded_shape,
    parallel_lanes,
    runtime_weights,
    token_batches,
    use_bfloat16,
)
from retrieval.embedders.minilm import load_text_encoder, packaged_minilm_path
from tests.support.fixtures_retrieval import BITCOIN, GARDEN, minilm

TEXTS = [
    *BITCOIN,
    *GARDEN,
    "",
    "a",
    "Ünïcödé façade — 北京 текст",
    " ".join(BITCOIN * 12),  # far past the 256-token limit: truncated like the reference
]


def test_packaged_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(packaged_minilm_path(), device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, batch_size=4, normalize_embeddings=True)
    encoder = minilm().model
    assert isinstance(encoder, SentenceEncoder)
    got = encoder.encode(TEXTS, batch_size=4)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_vectors_do_not_depend_on_the_batch() -> None:
    encoder = minilm().model
    one_batch = encoder.encode(TEXTS, batch_size=64)
    pairs = encoder.encode(TEXTS, batch_size=2)
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(pairs, one_batch, atol=1e-5)
    np.testing.assert_allclose(alone, one_batch, atol=1e-5)


def test_bfloat16_vectors_stay_within_cos_0999_of_float32() -> None:
    # Forced, so it runs on any CPU (emulated where the hardware lacks bfloat16).
    fast = load_text_encoder(precision="bfloat16")
    assert isinstance(fast, BertSentenceEncoder) and fast.bfloat16
    exact = minilm().model.encode(TEXTS)
    got = fast.encode(TEXTS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((got * exact).sum(axis=1).min()) > 0.999


def test_weights_cast_once_give_the_vectors_of_autocast_casting_on_each_call() -> None:
    fast = load_text_encoder(precision="bfloat16")
    assert isinstance(fast, BertSentenceEncoder)
    linear = fast._run["encoder.layer.0.qkv.weight"]
    assert linear.dtype == torch.bfloat16 and linear.shape == (3 * 384, 384)
    assert fast._run["encoder.layer.0.output.LayerNorm.weight"].dtype == torch.float32
    got = fast.encode(TEXTS)
    # The same checkpoint with float32 weights: autocast casts them on every call. (The
    # traced graph holds the weights it was traced with: trace again.)
    fast._run = runtime_weights(fast.weights, fast.config.layers, bfloat16=False)
    fast.pack_weights(False)  # the plain products autocast runs (and a new trace)
    plain = fast.encode(TEXTS)
    fast._run = runtime_weights(fast.weights, fast.config.layers, bfloat16=True)
    fast._traced = None
    np.testing.assert_array_equal(plain, fast.encode(TEXTS))
    assert float((got * plain).sum(axis=1).min()) > 0.99999  # packed or not: see below


@pytest.mark.skipif(not packed.supported(), reason="oneDNN runs no bfloat16 on this CPU")
def test_packed_weights_give_the_vectors_of_plain_products() -> None:
    fast = load_text_encoder(precision="bfloat16")
    assert isinstance(fast, BertSentenceEncoder)
    assert len(fast._packed) == 4 * fast.config.layers  # qkv, attention out, inner, out
    assert all(t.is_mkldnn for t in fast._packed) and fast.weights_packed
    got = {size: fast.encode(TEXTS, batch_size=size) for size in (64, 2, 1)}
    assert isinstance(fast._traced, torch.jit.ScriptFunction)
    fast.pack_weights(False)
    assert fast._packed == [] and fast._traced is None
    for size, vectors in got.items():
        # oneDNN may pick another kernel for a packed weight at some row counts: the
        # sums round differently (measured: cos >= 0.999995), never more.
        plain = fast.encode(TEXTS, batch_size=size)
        assert float((vectors * plain).sum(axis=1).min()) > 0.99999


@pytest.mark.skipif(not packed.supported(), reason="oneDNN runs no bfloat16 on this CPU")
def test_packed_linear_is_the_plain_bfloat16_product() -> None:
    weight, bias = torch.randn(96, 32), torch.randn(96).bfloat16()
    x = torch.randn(2, 5, 32)
    with torch.inference_mode():
        got = packed.packed_linear(x, packed.pack(weight), bias)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain = torch.nn.functional.linear(x, weight.bfloat16(), bias)
    assert got.dtype == torch.bfloat16 and got.shape == (2, 5, 96)
    torch.testing.assert_close(got, plain, rtol=0.02, atol=0.05)


def test_a_failed_packing_keeps_plain_products(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_packing(*_args: object) -> None:
        raise RuntimeError("no bfloat16 reorder here")

    monkeypatch.setattr(packed, "supported", lambda: True)
    monkeypatch.setattr(packed, "pack", no_packing)
    with caplog.at_level("WARNING", logger="retrieval.embedders.bert"):
        fast = load_text_encoder(precision="bfloat16")
    assert isinstance(fast, BertSentenceEncoder) and fast._packed == []
    assert "packing failed (no bfloat16 reorder here)" in caplog.text
    assert float((fast.encode(TEXTS) * minilm().model.encode(TEXTS)).sum(axis=1).min()) > 0.999


def test_float32_packs_nothing() -> None:
    encoder = minilm().model
    assert isinstance(encoder, BertSentenceEncoder) and not encoder.bfloat16
    encoder.pack_weights()
    assert encoder._packed == [] and not encoder.weights_packed


def test_the_traced_graph_gives_the_eager_vectors_for_any_batch_shape() -> None:
    traced = load_text_encoder(precision="bfloat16")
    assert isinstance(traced, BertSentenceEncoder) and traced.traced
    eager = replace(traced, traced=False)
    for batch_size in (64, 2, 1):  # traced on the first batch, then other shapes
        np.testing.assert_array_equal(
            traced.encode(TEXTS, batch_size=batch_size), eager.encode(TEXTS, batch_size=batch_size)
        )
    assert isinstance(traced._traced, torch.jit.ScriptFunction)  # one call, not ~100 ops
    assert eager._traced is None


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_graph_hands_its_inputs_back_for_the_caller_to_drop(precision: str) -> None:
    # Dropped inside the graph, a tensor Python also holds takes the GIL (once per packed
    # weight); handed back, the caller drops it while holding the GIL anyway.
    encoder = load_text_encoder(precision=precision)  # type: ignore[arg-type]
    assert isinstance(encoder, BertSentenceEncoder)
    encoder.encode(TEXTS[:2])  # traced
    ids, mask = torch.tensor([[101, 7592, 102]]), torch.ones(1, 3, dtype=torch.int64)
    inputs = [ids, mask, *encoder._packed]
    with torch.inference_mode():
        out = encoder._graph(ids, mask)(
            *inputs[:2], *([encoder._packed] if encoder._packed else [])
        )
    assert isinstance(encoder._traced, torch.jit.ScriptFunction)
    assert len(out) == 1 + len(inputs)
    assert all(got is given for got, given in zip(out[1:], inputs, strict=True))
    np.testing.assert_allclose(np.linalg.norm(out[0].numpy(), axis=1), 1.0, atol=1e-5)


def test_a_failed_trace_runs_eagerly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    expected = replace(minilm().model, traced=False).encode(TEXTS)

    def no_tracing(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("tracing is not supported here")

    monkeypatch.setattr(torch.jit, "trace", no_tracing)
    with caplog.at_level("WARNING", logger="retrieval.embedders.bert"):
        encoder = load_text_encoder()  # traced at load (`warm`)
        assert isinstance(encoder, BertSentenceEncoder)
        np.testing.assert_array_equal(encoder.encode(TEXTS), expected)
    assert "tracing failed (RuntimeError: tracing is not supported here)" in caplog.text


def test_the_graph_is_traced_at_load_not_on_the_first_batch() -> None:
    encoder = load_text_encoder()
    assert isinstance(encoder, BertSentenceEncoder)
    assert isinstance(encoder._traced, torch.jit.ScriptFunction)


def test_batches_are_padded_to_a_few_shapes() -> None:
    # Tokens to a multiple of 16 (never past the model's positions); rows past 8 to a
    # multiple of 8, while a few queries keep their own row count.
    assert padded_shape(1, 9, 16, 512) == (1, 16)
    assert padded_shape(5, 16, 16, 512) == (5, 16)
    assert padded_shape(9, 17, 16, 512) == (16, 32)
    assert padded_shape(64, 250, 16, 256) == (64, 256)
    assert padded_shape(3, 39, 16, 40) == (3, 40)  # a tiny model with 40 positions
    assert padded_shape(3, 7, 1, 512) == (3, 7)  # multiple 1: no padding


def test_padding_rows_and_tokens_leave_the_vectors_unchanged() -> None:
    encoder = minilm().model
    assert isinstance(encoder, BertSentenceEncoder)
    exact = replace(encoder, length_multiple=1)
    texts = (TEXTS[:-1] * 3)[:21]  # short texts, one batch: padded to 24 rows
    assert padded_shape(len(texts), 1, 16, 512)[0] == 24
    np.testing.assert_allclose(encoder.encode(texts), exact.encode(texts), atol=1e-5)


def test_token_batches_pad_little_and_keep_to_the_budget() -> None:
    lengths = [5, 190, 12, 12, 60, 300, 7, 59]
    batches = token_batches(lengths, max_rows=3, max_tokens=128)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every text once
    assert [lengths[i] for i in rows] == sorted(lengths, reverse=True)  # longest first
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * longest <= 128  # over-long texts go alone
    assert [len(b) for b in batches] == [1, 1, 2, 3, 1]
    assert token_batches([], 4, 64) == []


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it() -> None:
    assert use_bfloat16("auto") is native_bfloat16()
    assert use_bfloat16("bfloat16") and not use_bfloat16("float32")
    assert not minilm().model.bfloat16  # type: ignore[attr-defined]  # the tests' default


def _tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        [*BITCOIN, *GARDEN], WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.save(str(path))
    return tokenizer


def tiny_checkpoint(
    directory: Path, *, pooling: str = "mean", masked_lm: bool = False, max_seq_length: int = 24
) -> Path:
    """A random 2-layer BERT in the sentence-transformers layout, saved by transformers."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _tokenizer(directory / "tokenizer.json").get_vocab_size()
    config = HFBertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = BertForMaskedLM(config) if masked_lm else BertModel(config)
    model.save_pretrained(directory)  # model.safetensors ("bert." prefixed for masked LM)
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length})
    )
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_max_tokens": pooling == "max",
            }
        )
    )
    return directory


def reference_vectors(directory: Path, texts: list[str], pooling: str) -> np.ndarray:
    """What transformers' own BertModel gives for the same ids, pooled and normalised."""
    model = BertModel.from_pretrained(directory, attn_implementation="eager").eval()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(24)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"))
    encoded = tokenizer.encode_batch(texts)
    ids = torch.tensor([e.ids for e in encoded])
    mask = torch.tensor([e.attention_mask for e in encoded])
    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_tiny_random_bert_matches_transformers(tmp_path: Path, pooling: str) -> None:
    directory = tiny_checkpoint(tmp_path / "tiny", pooling=pooling)
    encoder = load_text_encoder(str(directory))
    assert isinstance(encoder, BertSentenceEncoder)
    assert (encoder.dim, encoder.pooling, encoder.max_length) == (32, pooling, 24)
    texts = [BITCOIN[0], GARDEN[1], "proof", " ".join(GARDEN)]
    np.testing.assert_allclose(
        encoder.encode(texts), reference_vectors(directory, texts, pooling), atol=1e-5
    )


def test_checkpoint_saved_with_a_bert_prefix_loads(tmp_path: Path) -> None:
    plain = load_text_encoder(str(tiny_checkpoint(tmp_path / "plain")))
    prefixed = load_text_encoder(str(tiny_checkpoint(tmp_path / "mlm", masked_lm=True)))
    encoder_weights = {k for k in plain.weights if k.startswith(("embeddings.", "encoder."))}
    assert encoder_weights <= set(prefixed.weights)
    assert prefixed.encode(["proof of work"]).shape == (1, 32)


def test_unsupported_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    directory = tiny_checkpoint(tmp_path / "max", pooling="max")
    with pytest.raises(ModelUnavailable, match="pooling_mode_max_tokens"):
        load_text_encoder(str(directory))
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "mpnet"}))
    with pytest.raises(ModelUnavailable, match="'mpnet'"):
        load_text_encoder(str(directory))
    (directory / "model.safetensors").unlink()
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailable, match="model.safetensors"):
        load_text_encoder(str(directory))


def test_hub_id_without_network_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # The constant is read when huggingface_hub is imported: set both, never download.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable, match="no-such-org/no-such-model"):
        load_text_encoder("no-such-org/no-such-model")


def test_lanes_share_out_the_batches_and_give_the_same_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoder = minilm().model
    assert isinstance(encoder, BertSentenceEncoder)
    one, two = replace(encoder, lanes=1), replace(encoder, lanes=2)
    threads: set[str] = set()
    encode_batch = BertSentenceEncoder._encode_batch

    def recording(self: BertSentenceEncoder, token_ids: list[list[int]]) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return encode_batch(self, token_ids)

    monkeypatch.setattr(BertSentenceEncoder, "_encode_batch", recording)
    expected = one.encode(TEXTS, batch_size=2)
    assert threads == {threading.current_thread().name}  # one lane: inline
    threads.clear()
    np.testing.assert_array_equal(two.encode(TEXTS, batch_size=2), expected)
    assert threads and all(name.startswith("mmrag-encode") for name in threads)


def test_a_failed_batch_fails_the_encode_on_any_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = replace(minilm().model, lanes=2)
    assert isinstance(encoder, BertSentenceEncoder)

    def failing(self: BertSentenceEncoder, token_ids: list[list[int]]) -> np.ndarray:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(BertSentenceEncoder, "_encode_batch", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        encoder.encode(TEXTS, batch_size=2)


def test_parallel_lanes_fill_the_cores_beside_torchs_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert parallel_lanes() == 2  # the API: one torch thread, two cores
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert parallel_lanes() == 1  # the CLI: a torch thread per core
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(16)), raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert parallel_lanes() == 2  # never past two (more were not measured)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priority here")
def test_lanes_run_at_the_callers_lowered_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    # The API's ingest thread runs niced (MMRAG_INGEST__NICE): its lanes must be too, or
    # an ingest's MiniLM batches would compete with queries at full priority.
    from ingest.priority import lower_thread_priority, thread_niceness

    encoder = replace(minilm().model, lanes=2)
    assert isinstance(encoder, BertSentenceEncoder)
    seen: list[int] = []
    encode_batch = BertSentenceEncoder._encode_batch

    def recording(self: BertSentenceEncoder, token_ids: list[list[int]]) -> np.ndarray:
        seen.append(thread_niceness())
        return encode_batch(self, token_ids)

    monkeypatch.setattr(BertSentenceEncoder, "_encode_batch", recording)
    caller: list[int] = []

    def ingest_thread() -> None:
        lower_thread_priority(5)
        caller.append(thread_niceness())
        encoder.encode(TEXTS, batch_size=2)

    worker = threading.Thread(target=ingest_thread)
    worker.start()
    worker.join()
    if not caller or caller[0] <= thread_niceness():
        pytest.skip("this process cannot lower a thread's priority (or is at the lowest)")
    assert seen and all(n == caller[0] for n in seen)
