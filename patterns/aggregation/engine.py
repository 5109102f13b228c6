"""Vectorized tree aggregation: the same k-ary tree computed level by level, compiled.

Agents are heap positions ``0..N-1`` of the tree in :mod:`patterns.aggregation.tree`
(level ``d`` is the contiguous range ``[s_d, s_{d+1})`` with ``s_{d+1} = k*s_d + 1``,
and the children of node ``i`` are ``k*i+1 .. k*i+k``). Every node's partial is
computed from its own value and its children's partials, exactly as the nodes
merge them (:mod:`patterns.aggregation.kernels`, numba): moments node by node,
histogram buckets, DDSketch bins and HyperLogLog registers as sparse per-node
entries level by level, top-k lists level by level. A million agents aggregate
in tens of milliseconds. Dead agents (``alive`` false) contribute nothing and
their live descendants report to the nearest live ancestor, as the re-parenting
protocol does; the message count includes those redirects.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from patterns.aggregation.aggregates import (
    AggregateSpec,
    DDSketch,
    Histogram,
    HyperLogLog,
    Moments,
    Summary,
    TopK,
    values_problem,
)
from patterns.aggregation.exceptions import InvalidValueError
from patterns.aggregation.kernels import (
    ddsketch_keys,
    histogram_keys,
    hll_positions,
    moments_up,
    sparse_level_up,
    topk_level_up,
)
from patterns.aggregation.tree import MAX_FANOUT, tree_depth
from patterns.core.exceptions import ConfigError

MAX_AGENTS = 50_000_000
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]


@dataclass
class EngineResult:
    """The root's summary and what it cost."""

    summary: Summary
    agents: int
    coverage: int
    messages: int
    redirects: int
    depth: int
    wall_s: float
    level_sizes: list[int] = field(default_factory=list)

    @property
    def messages_per_agent(self) -> float:
        """Upward messages plus redirect traffic, per agent."""
        return self.messages / self.agents if self.agents else 0.0


def level_bounds(n: int, k: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of each tree level, root first."""
    out: list[tuple[int, int]] = []
    s = 0
    while s < n:
        nxt = s * k + 1
        out.append((s, min(nxt, n)))
        s = nxt
    return out


PARTS = ("histogram", "ddsketch", "hll", "topk")
"""The sketch parts of a full summary (``parts=`` picks some; the moments always come)."""


def _checked_keys(keys: npt.ArrayLike, n: int) -> npt.NDArray[np.uint64]:
    """The distinct-count items, one integer per agent.

    Raises:
        ConfigError: not a 1-D array of ``n`` integers (floats would be truncated, and a
            wrong length would be read past its end).
    """
    arr = np.asarray(keys)
    if arr.shape != (n,):
        raise ConfigError(f"keys has shape {arr.shape}, expected ({n},): one item per agent")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(
            f"keys must be integers (hash other items to integers first), got dtype {arr.dtype}"
        )
    return arr.astype(np.uint64)


def aggregate_vectorized(
    values: npt.ArrayLike,
    k: int = 16,
    spec: AggregateSpec | None = None,
    *,
    keys: npt.ArrayLike | None = None,
    alive: npt.ArrayLike | None = None,
    parts: frozenset[str] | None = None,
    threads: int | None = None,
) -> EngineResult:
    """Aggregate ``values[i]`` of agent ``i`` up a k-ary tree, level by level.

    Args:
        values: one finite float per agent.
        k: tree fanout.
        spec: aggregates and their parameters (default :class:`AggregateSpec`).
        keys: integer items for the distinct count (default: agent ids).
        alive: which agents answer (default: all).
        parts: restrict to some of ``{"histogram", "ddsketch", "hll", "topk"}``
            (moments are always computed); default: all the spec enables.
        threads: compute the parts side by side on this many threads (the
            kernels release the GIL); default: one per CPU, up to 5, for
            ``PARALLEL_MIN_AGENTS`` agents or more, else 1.

    Raises:
        InvalidValueError: a NaN or infinite value (its index is named).
        ConfigError: bad sizes or fanout.
    """
    t0 = time.perf_counter()
    spec = (spec or AggregateSpec()).check()
    v = np.ascontiguousarray(values, dtype=np.float64)
    n = int(v.shape[0]) if v.ndim == 1 else -1
    if n < 1 or n > MAX_AGENTS:
        raise ConfigError(
            f"values must be a 1-D array of 1..{MAX_AGENTS} agents, got shape {v.shape}"
        )
    if not 2 <= k <= MAX_FANOUT:
        raise ConfigError(f"tree fanout k={k} outside 2..{MAX_FANOUT}")
    problem = values_problem(v)
    if problem is not None:
        raise InvalidValueError(problem)
    live: BoolA = np.ones(n, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
    if live.shape != (n,):
        raise ConfigError(f"alive has shape {live.shape}, expected ({n},)")
    want = parts if parts is not None else frozenset(PARTS)
    unknown = sorted(set(want) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown summary part(s) {unknown}; the parts are {sorted(PARTS)}")
    item = np.arange(n, dtype=np.uint64) if keys is None else _checked_keys(keys, n)
    levels = level_bounds(n, k)

    jobs: dict[str, Callable[[], Any]] = {"moments": lambda: _moments(v, live, k)}
    if spec.histogram is not None and "histogram" in want:
        jobs["histogram"] = lambda: _histogram(v, live, levels, k, spec)
    if spec.topk is not None and "topk" in want:
        topk_size = spec.topk
        jobs["topk"] = lambda: _topk(v, live, levels, k, topk_size)
    if spec.ddsketch_alpha is not None and "ddsketch" in want:
        jobs["ddsketch"] = lambda: _ddsketch(v, live, levels, k, spec)
    if spec.hll_p is not None and "hll" in want:
        hll_p = spec.hll_p
        jobs["hll"] = lambda: _hll(item, live, levels, k, hll_p)
    done = _run_parts(jobs, n, threads)
    moments: Moments = done["moments"]
    histogram: Histogram | None = done.get("histogram")
    topk: TopK | None = done.get("topk")
    dd: DDSketch | None = done.get("ddsketch")
    hll: HyperLogLog | None = done.get("hll")
    used = AggregateSpec(
        spec.histogram if histogram is not None else None,
        spec.ddsketch_alpha if dd is not None else None,
        spec.hll_p if hll is not None else None,
        spec.topk if topk is not None else None,
    )
    summary = Summary(used, moments, histogram, dd, hll, topk)

    # messages: one partial per live non-root agent; per dead non-root agent a solo request,
    # plus one redirect to each of its children (Redirect/SoloRequest in patterns.aggregation.node)
    dead = ~live
    dead[0] = False
    dead_ids = np.flatnonzero(dead)
    first_child = dead_ids * k + 1
    redirects = int(np.clip(n - first_child, 0, k).sum()) + int(dead_ids.size)
    upward = int(live[1:].sum())
    return EngineResult(
        summary=summary,
        agents=n,
        coverage=int(live.sum()),
        messages=upward + redirects,
        redirects=redirects,
        depth=tree_depth(n, k),
        wall_s=time.perf_counter() - t0,
        level_sizes=[e - s for s, e in levels],
    )


PARALLEL_MIN_AGENTS = 100_000  # below this, threads cost more than they save
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _run_parts(jobs: dict[str, Callable[[], Any]], n: int, threads: int | None) -> dict[str, Any]:
    """Run each part's job, side by side on a shared thread pool when it pays."""
    global _POOL
    want = threads if threads is not None else (os.cpu_count() or 1)
    want = min(want, len(jobs), 5) if n >= PARALLEL_MIN_AGENTS or threads is not None else 1
    if want <= 1:
        return {name: job() for name, job in jobs.items()}
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=5, thread_name_prefix="aggregation")
        pool = _POOL
    # the largest parts first, so the short ones fill in behind them
    order = sorted(jobs, key=lambda name: _PART_COST.get(name, 0), reverse=True)
    futures = {name: pool.submit(jobs[name]) for name in order[: want - 1]}
    out = {name: jobs[name]() for name in order[want - 1 :]}
    out.update((name, future.result()) for name, future in futures.items())
    return out


_PART_COST = {"hll": 5, "ddsketch": 4, "topk": 3, "histogram": 2, "moments": 1}


def _moments(v: F64, live: BoolA, k: int) -> Moments:
    count, total, m2, lo, hi = moments_up(v, live, k)
    if count == 0:
        return Moments()
    return Moments(
        int(count), float(total), float(total) / int(count), float(m2), float(lo), float(hi)
    )


def _sparse_root(
    levels: list[tuple[int, int]], k: int, own_key: I64, own_val: I64, span: int, use_max: bool
) -> I64:
    """Merge every agent's ``(key, value)`` entry (key < 0: none) up the tree, level by
    level (see :func:`patterns.aggregation.kernels.sparse_level_up`); the root's dense vector."""
    off: I64 = np.zeros(1, dtype=np.int64)
    keys: I64 = np.zeros(0, dtype=np.int64)
    vals: I64 = np.zeros(0, dtype=np.int64)
    # the last level's partials are its agents' own entries: the level above reads them directly
    inner = levels[:-1] if len(levels) > 1 else levels
    for d, (s, e) in enumerate(reversed(inner)):
        off, keys, vals = sparse_level_up(
            s, e, k, own_key, own_val, off, keys, vals, span, use_max, d == 0
        )
    root: I64 = np.zeros(span, dtype=np.int64)
    root[keys] = vals
    return root


def _histogram(
    v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, spec: AggregateSpec
) -> Histogram:
    hs = spec.histogram
    assert hs is not None
    own_key = histogram_keys(v, live, hs.lo, hs.hi, hs.buckets)
    ones = np.ones(v.shape[0], dtype=np.int64)
    counts = _sparse_root(levels, k, own_key, ones, hs.buckets + 2, False)
    return Histogram(hs, tuple(int(c) for c in counts))


def _topk(v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, kk: int) -> TopK:
    off: I64 = np.zeros(1, dtype=np.int64)
    vals: F64 = np.zeros(0, dtype=np.float64)
    ids: I64 = np.zeros(0, dtype=np.int64)
    inner = levels[:-1] if len(levels) > 1 else levels  # as in _sparse_root
    for d, (s, e) in enumerate(reversed(inner)):
        off, vals, ids = topk_level_up(s, e, k, v, live, kk, off, vals, ids, d == 0)
    return TopK(kk, tuple((float(x), int(i)) for x, i in zip(vals, ids, strict=True)))


def _ddsketch(
    v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, spec: AggregateSpec
) -> DDSketch:
    alpha = spec.ddsketch_alpha
    assert alpha is not None
    proto = DDSketch(alpha)
    # positive and negative bins share one key space, so one pass merges both stores
    own_key, zero, pmin, pspan, nmin, nspan = ddsketch_keys(
        v, live, DDSketch.MIN_VALUE, math.log(proto.gamma)
    )
    root = _sparse_root(
        levels, k, own_key, np.ones(v.shape[0], dtype=np.int64), max(pspan + nspan, 1), False
    )
    pos = {int(i) + pmin: int(root[i]) for i in np.flatnonzero(root[:pspan])}
    neg = {int(i) + nmin: int(root[pspan + i]) for i in np.flatnonzero(root[pspan:])}
    sketch = DDSketch(alpha, proto.max_bins, int(zero), {}, {})
    return sketch.merge(DDSketch(alpha, proto.max_bins, 0, pos, neg))


def _hll(
    item: npt.NDArray[np.uint64], live: BoolA, levels: list[tuple[int, int]], k: int, p: int
) -> HyperLogLog:
    idx, rank = hll_positions(item, live, p)
    root = _sparse_root(levels, k, idx, rank, 1 << p, True)
    return HyperLogLog(p, root.astype(np.uint8).tobytes())
