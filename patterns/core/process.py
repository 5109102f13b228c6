"""Settings of a process whose job is to run protocol nodes (``serve`` commands)."""

from __future__ import annotations

import gc

SERVING_GC_THRESHOLD = (10_000, 10, 10)
"""The collector's generation thresholds for a serving process (CPython's are 700, 10, 10)."""


def tune_for_serving() -> None:
    """Set up the garbage collector for a long-running node process.

    What start-up built (modules, keys, settings) is frozen out of every later collection,
    and the youngest generation is collected after 10,000 net allocations instead of 700.
    A node allocates short-lived objects for every message; collecting them 14 times less
    often cut a batched n=4 PBFT replica's CPU per operation by ~7% (12 -> 11 us) on 2 cores.
    Cycles of garbage live a little longer; memory stays bounded by the same thresholds.
    Call it once, from the process's entry point, not from library code.
    """
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLD)
