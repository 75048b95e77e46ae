"""Render workers that die with their parent.

A build draws its plots in a small process pool. If the main process is
killed (SIGKILL, the OOM killer), the workers must not stay behind holding
hundreds of megabytes: each worker asks the kernel for SIGKILL when its
parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``), and on systems without it a
watchdog thread polls the parent's pid and exits the worker when it changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this process when ``parent_pid`` goes away."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    # the parent may have died before the prctl took effect: then we were re-parented
    if os.getppid() != parent_pid:
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="carsynth-parent-watchdog").start()


def _watch_parent(parent_pid: int, every: float = 0.5) -> None:
    while os.getppid() == parent_pid:
        time.sleep(every)
    os._exit(1)


def run_parallel(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int,
                 min_items: int = 4, cost: Callable[[Any], float] | None = None) -> list[Any]:
    """``[fn(x) for x in items]``, in ``jobs`` worker processes that die with this one
    (in this process when jobs <= 1 or there are fewer than ``min_items`` items).

    With ``cost`` (an estimate of each item's work), the costliest items start first, so
    that one large item does not run alone at the end while the other workers idle (the
    longest-processing-time-first rule); the results keep the order of ``items``."""
    items = list(items)
    if jobs <= 1 or len(items) < min_items:
        return [fn(x) for x in items]
    order = list(range(len(items)))
    if cost is not None:
        order.sort(key=lambda i: -cost(items[i]))  # stable: ties keep their order
    with ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as ex:
        futures = {i: ex.submit(fn, items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]
