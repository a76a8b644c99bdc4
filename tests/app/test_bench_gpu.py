"""bench.gpu end to end on the CPU with tiny models (every step but torch.compile, which
the slow test adds), its time caps, and the FLOP counts behind its "% of peak" column."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from bench import gpu
from bench.flops import peak_bf16, prompt_flops
from bench.models import bench_tokenizer, config_for


def check_report(report: dict, steps: set[str]) -> None:
    assert set(report["steps"]) == steps
    assert all(s["status"] == "ok" for s in report["steps"].values()), report["steps"]
    rows = report["rows"]
    embed = [r for r in rows if r["step"] == "embed"]
    assert [r["workload"] for r in embed] == [
        "page ~16tok",
        "page ~48tok",
        "clip 8x64x64",
        "query text",
    ]
    for r in embed:
        assert r["pipeline_per_s"] > 0 and r["bare_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["pipeline_per_s"] / r["bare_per_s"], rel=0.02)
        assert r["tflops"] is not None and r["pct_peak"] is None  # no peak for a CPU
    # Pages at a larger pixel budget really carry more visual tokens.
    assert embed[1]["visual_tokens_per_item"] > embed[0]["visual_tokens_per_item"] > 0
    for step in steps & {"packed", "compile"}:
        optimised = [r for r in rows if r["step"] == step]
        assert optimised, step
        for r in optimised:  # float32 here: the optimised path's vectors are the padded ones
            assert r["min_cosine"] > 0.99999 and r["max_abs_diff"] < 1e-4 and not r["note"]
    rerank = [r for r in rows if r["step"] == "rerank"]
    assert [r["workload"].split(" pages")[0] for r in rerank] == ["top 2", "top 5"]
    assert all("latency" in r["note"] for r in rerank)
    (answer,) = [r for r in rows if r["step"] == "generate"]
    assert answer["workload"].startswith("5 pages") and "TTFT" in answer["note"]
    assert answer["pipeline_per_s"] > 0 and answer["bare_per_s"] > 0


def test_tiny_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    report = gpu.main(["--tiny", "--no-compile", "--out", str(out)])
    check_report(report, {"build", "embed", "packed", "rerank", "generate"})
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))


@pytest.mark.slow
def test_tiny_run_with_compile(tmp_path: Path) -> None:
    # Compiling on a busy 2-core CPU takes minutes: caps of 10 minutes a step.
    report = gpu.main(["--tiny", "--cap-scale", "5", "--out", str(tmp_path / "gpu.json")])
    check_report(report, {"build", "embed", "packed", "rerank", "generate", "compile"})


def test_a_step_over_its_cap_is_recorded_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def slow(state: gpu.State) -> None:
        time.sleep(10)

    def wrapped(state: gpu.State) -> None:  # as torch.compile reports an interruption
        try:
            time.sleep(10)
        except gpu.StepTimeout as err:
            raise RuntimeError("backend compiler failed") from err

    monkeypatch.setitem(gpu.STEPS, "build", slow)
    monkeypatch.setitem(gpu.STEPS, "compile", wrapped)
    monkeypatch.setitem(gpu.STEPS, "embed", lambda state: ran.append("embed"))
    monkeypatch.setitem(gpu.STEPS, "rerank", lambda state: 1 / 0)
    plan = gpu.plan(True, torch.device("cpu"))
    plan.caps.update(build=0.3, compile=0.3)
    report: dict = {"steps": {}, "rows": []}
    started = time.perf_counter()
    gpu.run(
        gpu.State(plan, tmp_path, None),
        ["build", "compile", "rerank", "embed"],
        tmp_path / "r.json",
        report,
    )
    assert time.perf_counter() - started < 5
    steps = report["steps"]
    assert steps["build"]["status"].startswith("timeout")
    assert steps["compile"]["status"].startswith("timeout")
    assert steps["rerank"]["status"].startswith("error: ZeroDivisionError")
    assert steps["embed"]["status"] == "ok" and ran == ["embed"]
    assert json.loads((tmp_path / "r.json").read_text())["steps"] == steps


def linear_params(module: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def test_flops_count_every_matrix_product_of_the_real_2b_model() -> None:
    from transformers import AutoModel

    config = config_for("qwen3_vl_2b", bench_tokenizer(), tiny=False)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    text = config.get_text_config()
    tokens, width = 500, text.num_attention_heads * text.head_dim
    lm = linear_params(model.language_model)
    assert lm == pytest.approx(1.41e9, rel=0.01)  # Qwen3-VL-2B's published non-embedding size
    attention = text.num_hidden_layers * 2 * tokens * tokens * width
    assert prompt_flops(config, tokens, []) == 2 * lm * tokens + attention
    # One 32x32-patch image: blocks, mergers and the patch embedding, all as matmuls.
    patches = 1024
    vision = config.vision_config
    conv = model.visual.patch_embed.proj.weight.numel()
    linear = linear_params(model.visual)
    block_attention = vision.depth * 4 * patches * patches * vision.hidden_size
    blocks = linear_params(model.visual.blocks)
    mergers = linear - blocks
    expected_vision = 2 * patches * (conv + blocks) + 2 * (patches // 4) * mergers + block_attention
    with_image = prompt_flops(config, tokens, [patches]) - prompt_flops(config, tokens, [])
    assert with_image == pytest.approx(expected_vision, rel=1e-9)


def test_peak_rates_by_device_name() -> None:
    assert peak_bf16("NVIDIA H100 80GB HBM3") == 989.4e12
    assert peak_bf16("NVIDIA H200") == 989.4e12
    assert peak_bf16("NVIDIA H100 PCIe") == 756.0e12
    assert peak_bf16("NVIDIA GeForce GTX 1080") is None


@pytest.mark.parametrize(
    ("name", "billions"),
    [("qwen3_vl_2b", 2.13), ("qwen3_vl_4b", 4.44), ("qwen2_vl_2b", 2.21)],
)
def test_published_configs_build_the_published_sizes(name: str, billions: float) -> None:
    from transformers import AutoModelForImageTextToText

    config = config_for(name, bench_tokenizer(), tiny=False)
    with torch.device("meta"):  # sizes only, no memory
        model = AutoModelForImageTextToText.from_config(config)
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)
    assert config.tie_word_embeddings and config.vision_config.patch_size in (14, 16)
