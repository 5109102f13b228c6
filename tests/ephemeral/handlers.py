"""Module-level handlers for the process-isolated tests (worker processes import them)."""

from __future__ import annotations

import time

from patterns.ephemeral import AgentContext

HANG_S = 3600.0  # a handler that never returns within any test's timeout, seconds


def sum_of_squares(ctx: AgentContext, n: int) -> int:
    """CPU-bound work; remembers what it computed."""
    total = sum(i * i for i in range(n))
    ctx.remember(f"sum of squares below {n} is {total}")
    return total


def explode(ctx: AgentContext, payload: object) -> int:
    """Always crashes."""
    raise ValueError(f"cannot handle {payload!r}")


def hang(ctx: AgentContext, payload: object) -> int:
    """Never returns in time (the pool kills its worker)."""
    time.sleep(HANG_S)
    return 0
