"""Answer generation settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class GenerationSettings(BaseModel):
    """Which generator answers, and how sources are shown to it."""

    # "auto": lite -> extractive, gpu -> vllm.
    generator: Literal["auto", "extractive", "vllm", "transformers", "fake"] = "auto"
    vllm_base_url: str = "http://localhost:8000/v1"
    vllm_model: str = "Qwen/Qwen3-VL-4B-Instruct"
    vllm_api_key: SecretStr | None = None
    timeout_s: float = Field(120.0, gt=0, description="whole-request timeout")
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0, description="longest silence inside a stream")
    max_retries: int = Field(2, ge=0, description="retries before the first token only")
    transformers_model: str = "Qwen/Qwen3-VL-2B-Instruct"
    device: str = "auto"
    max_new_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    max_images: int = Field(8, ge=0)
    image_max_pixels: int = Field(768 * 28 * 28, ge=28 * 28)
    max_source_chars: int = Field(1500, ge=100, description="text per source in the prompt")
    # Under this absolute evidence (retrieval.evidence: the share of the question's content
    # words one retrieved unit holds) the answer says the documents do not cover it.
    # Fitted with `mmrag eval` on answerable + unanswerable dev questions (docs/figures.md).
    refusal_threshold: float = Field(0.53, ge=0, le=1)
    # A question asking *when* something happens, under the refusal threshold, is answered
    # with the closest clips when one retrieved clip holds at least this share of its
    # content words (retrieval.evidence.clip_evidence); fitted with the refusal threshold.
    locate_threshold: float = Field(0.05, gt=0, le=1)
    # The extractive settings below are chosen by k-fold CV in `mmrag eval --answers`
    # (app.eval.runner.ANSWER_VARIANTS; docs/figures.md).
    extractive_sentences: int = Field(3, ge=1)
    # Passages after the first are quoted while they score at least this share of the best.
    extractive_min_ratio: float = Field(0.5, ge=0, le=1)
    # Quote the best sentence of the top-ranked unit too when the best sentence is elsewhere.
    extractive_top_unit: bool = False
    # Which passages go on with the sentence that follows them in the text: none, the
    # best one, or all.
    extractive_follow: Literal["none", "first", "all"] = "all"
    # For a question asking for a quantity ("How many ...", "What revenue ..."), prefer
    # sentences stating a figure it does not hold (generation.generators.answer_type).
    extractive_answer_type: bool = True
