"""Baselines the tree is measured against: flat all-to-root and push-sum gossip.

* Flat: every agent sends its value straight to the root; ``N - 1`` messages, all
  of them at the root.
* Push-sum (Kempe, Dobra & Gehrke, FOCS 2003, §3): every round each agent keeps
  half of its ``(sum, weight)`` pair and pushes the other half to a random agent;
  ``sum / weight`` converges to the mean at every agent in
  ``O(log N + log 1/eps)`` rounds, at ``N`` messages per round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from patterns.aggregation.aggregates import values_problem
from patterns.aggregation.exceptions import InvalidValueError
from patterns.core.exceptions import ConfigError

MAX_PUSHSUM_ROUNDS = 10_000


@dataclass
class BaselineResult:
    """What one baseline computed and what it cost."""

    name: str
    mean: float
    total_messages: int
    root_messages: int  # received by agent 0 (the tree's root)
    max_messages_per_agent: int  # sent plus received by the busiest agent
    rounds: int
    wall_s: float


def _check(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ConfigError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    problem = values_problem(v)
    if problem is not None:
        raise InvalidValueError(problem)
    return v


def flat_to_root(values: npt.ArrayLike) -> BaselineResult:
    """Every agent reports to the root directly."""
    t0 = time.perf_counter()
    v = _check(values)
    n = int(v.size)
    mean = float(v.sum() / n)
    return BaselineResult("flat", mean, n - 1, n - 1, n - 1, 1, time.perf_counter() - t0)


def push_sum(
    values: npt.ArrayLike,
    *,
    rel_tol: float = 1e-3,
    seed: int = 0,
    max_rounds: int = MAX_PUSHSUM_ROUNDS,
) -> BaselineResult:
    """Push-sum until every agent's estimate is within ``rel_tol`` of the true mean.

    Raises:
        ConfigError: no convergence within ``max_rounds``.
    """
    t0 = time.perf_counter()
    v = _check(values)
    n = int(v.size)
    rng = np.random.default_rng(seed)
    s = v.copy()
    w = np.ones(n)
    truth = float(v.mean())
    scale = max(abs(truth), float(np.abs(v).mean()), 1e-300)
    rounds = 0
    received = np.zeros(n, dtype=np.int64)
    while True:
        est = s / w
        if float(np.max(np.abs(est - truth))) <= rel_tol * scale:
            break
        if rounds >= max_rounds:
            raise ConfigError(f"push-sum did not converge in {max_rounds} rounds")
        target = rng.integers(0, n, size=n)
        s *= 0.5
        w *= 0.5
        s += np.bincount(target, weights=s, minlength=n)
        w += np.bincount(target, weights=w, minlength=n)
        received += np.bincount(target, minlength=n)
        rounds += 1
    return BaselineResult(
        "push-sum",
        float(np.mean(s / w)),
        rounds * n,
        int(received[0]),
        rounds + int(received.max(initial=0)),
        rounds,
        time.perf_counter() - t0,
    )
