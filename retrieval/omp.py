"""How torch's OpenMP threads wait: set before torch is first imported (import this module
for its effect first; every module that imports torch in the lite profile does).

At each parallel region's end libgomp's threads spin (3 ms by default) waiting
for the slowest one. When anything else runs on the machine (the page processes, tesseract,
another process, a query's encoder call), the slowest one is often off its core, and the
spinning thread burns the CPU its peer needs: on 2 cores with other work running, MiniLM's
ingest encoding took 10-12 s of wall for dpr-paper's 510 windows against 4-6 s with a short
spin (docs/figures.md, 2026-12-03). A short spin keeps the fast hand-off of a quiet machine.

Applies only where the environment sets neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY (the
user's choice wins).
"""

from __future__ import annotations

import os

# libgomp (torch's OpenMP on Linux) spins ~100,000 rounds a millisecond: 0.1 ms, then sleep.
SPIN_ROUNDS = "10000"

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_ROUNDS)
