"""Where things are, for tests: the repository, its test data and the shared corpus."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "tests" / "data"
# The shared corpus sits beside the checkout (../shared/corpus), never inside it.
CORPUS = REPO.parent / "shared" / "corpus"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a test's child Python process: the repository importable (the
    packages and `tests.support`), whatever else the parent's PYTHONPATH holds."""
    inherited = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(REPO), inherited] if inherited else [str(REPO)])
    return {**os.environ, "PYTHONPATH": path, **extra}
