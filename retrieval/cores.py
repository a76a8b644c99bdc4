"""The CPU cores this process may run on: its affinity mask, not the machine's count (a
container or `taskset` may allow fewer). One place for the encoder lanes
(retrieval/embedders/bert.py) and the VLM feed's decode threads (retrieval/qwen_vl)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may use: its affinity mask where the OS has one, else the
    machine's count; at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
