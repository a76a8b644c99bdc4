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


def thread_niceness() -> int:
    """The calling thread's niceness (0 where the platform has no per-thread priority)."""
    if not hasattr(os, "getpriority"):
        return 0
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return 0


def match_niceness(nice: int) -> None:
    """Raise the calling thread's niceness to `nice` (a worker process taking on the
    priority of the thread it works for; never lowered, which needs privileges)."""
    lower_thread_priority(nice - thread_niceness())
