"""The chat templates the Qwen-VL model families ship (verbatim), for checkpoints built
locally (tests, benchmarks) and for parity checks against the reference prompt code.

QWEN2_VL: `chat_template` of Qwen/Qwen2-VL-2B-Instruct (also used by Qwen2.5-VL and, through
MrLight/dse-qwen2-2b-mrl-v1, by DSE): a default system turn, no tools.
QWEN3_VL: `chat_template` of Qwen/Qwen3-VL-2B/8B-Instruct (no default system turn; tools).
"""

from __future__ import annotations

from importlib import resources

QWEN2_VL = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Long and verbatim: kept as the file the model ships it in (package data).
QWEN3_VL = (resources.files(__package__) / "templates" / "qwen3_vl.jinja").read_text("utf-8")
