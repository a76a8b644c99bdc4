"""Lower the CPU priority of ingestion work, so queries served beside it come first."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int) -> None:
    """Add `nice` to the calling thread's niceness (Linux schedules threads one by one;
    threads and processes it starts afterwards inherit the value). A no-op for 0, and
    where the platform has no per-thread priority."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
    except OSError as err:  # e.g. a sandbox that forbids it: run at normal priority
        log.debug("could not lower the ingest priority: %s", err)
