"""Shared Qwen-VL layer (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) for the VLM embedder, the yes/no
reranker and the in-process generator.

Modelling and processing are kept apart: `loading` (checkpoints, device, dtype),
`processing` (image sizing, placeholder expansion, padding, pixel patches), `prompts` and
`formats` (prompt strings of the reference implementations, as data), `pooling`,
`batching` (token budget) and `encoder` (batched last-token states). `synthetic` builds
random-weight checkpoints from configs for tests and benchmarks.
"""
