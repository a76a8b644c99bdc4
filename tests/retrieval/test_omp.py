"""torch's OpenMP threads spin briefly, not 3 ms, unless the environment says otherwise:
set before torch loads, on every path that loads it (API start, MiniLM, doctor)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from retrieval.omp import SPIN_ROUNDS
from tests.support.paths import child_env

_CHECK = """
import os, sys
import {module}
assert "torch" not in sys.modules, "torch loaded before the wait policy was set"
import torch
torch.ones(4).sum()
print(os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


def _run(module: str, **env: str) -> str:
    base = {k: v for k, v in child_env().items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run(
        [sys.executable, "-c", _CHECK.format(module=module)],
        capture_output=True,
        text=True,
        env={**base, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize(
    "module", ["app.api.application", "retrieval.embedders.minilm", "app.doctor"]
)
def test_the_short_spin_is_set_before_torch_loads(module: str) -> None:
    assert _run(module) == f"{SPIN_ROUNDS} None"


def test_the_environment_wins() -> None:
    assert _run("retrieval.embedders.minilm", GOMP_SPINCOUNT="5") == "5 None"
    assert _run("retrieval.embedders.minilm", OMP_WAIT_POLICY="active") == "None active"
