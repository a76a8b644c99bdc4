"""Process checks for the tests that kill or interrupt a parent and look at its children."""

from __future__ import annotations

import os


def alive(pid: int, *, group: bool = False) -> bool:
    """Whether process `pid` still exists; with `group`, whether any process is left in the
    process group (session) that `pid` leads. Signal 0 checks without delivering."""
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return False
    return True
