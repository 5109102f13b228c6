"""Vectorized tree aggregation: the same k-ary tree computed level by level with numpy.

Agents are heap positions ``0..N-1`` of the tree in :mod:`patterns.aggregation.tree`
(level ``d`` is the contiguous range ``[s_d, s_{d+1})`` with ``s_{d+1} = k*s_d + 1``,
and the children of node ``i`` are ``k*i+1 .. k*i+k``). Each level's partials are
computed from the level below in a few array operations, exactly as the nodes
would merge them, so a million agents aggregate in tens of milliseconds.

Moments (count, sum, mean, min, max, variance) merge densely; the histogram
and top-k densely from the next-to-last level up; DDSketch bins and
HyperLogLog registers as sparse ``(node, key, value)`` entries reduced by
sort-and-segment per level. Dead agents (``alive`` false) contribute nothing
and their live descendants report to the nearest live ancestor, as the
re-parenting protocol does; the message count includes those redirects.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

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
    splitmix64_array,
)
from patterns.aggregation.exceptions import InvalidValueError
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


def aggregate_vectorized(
    values: npt.ArrayLike,
    k: int = 16,
    spec: AggregateSpec | None = None,
    *,
    keys: npt.ArrayLike | None = None,
    alive: npt.ArrayLike | None = None,
    parts: frozenset[str] | None = None,
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
    bad = ~np.isfinite(v)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"{int(bad.sum())} agent value(s) are NaN or infinite (first: agent {idx} = {v[idx]})"
        )
    live: BoolA = np.ones(n, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
    if live.shape != (n,):
        raise ConfigError(f"alive has shape {live.shape}, expected ({n},)")
    want = parts if parts is not None else frozenset({"histogram", "ddsketch", "hll", "topk"})
    levels = level_bounds(n, k)

    moments = _moments(v, live, levels, k)
    histogram = (
        _histogram(v, live, levels, k, spec)
        if spec.histogram is not None and "histogram" in want
        else None
    )
    topk = (
        _topk(v, live, levels, k, spec.topk) if spec.topk is not None and "topk" in want else None
    )
    dd = (
        _ddsketch(v, live, levels, k, spec)
        if spec.ddsketch_alpha is not None and "ddsketch" in want
        else None
    )
    hll = None
    if spec.hll_p is not None and "hll" in want:
        item = np.arange(n, dtype=np.uint64) if keys is None else np.asarray(keys).astype(np.uint64)
        hll = _hll(item, live, levels, k, spec.hll_p)
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


def _group(child: npt.NDArray[Any], parents: int, k: int, fill: float) -> npt.NDArray[Any]:
    """Children of a level's nodes as a (parents, k) matrix, padded with ``fill``."""
    padded = np.full(parents * k, fill, dtype=child.dtype)
    padded[: child.shape[0]] = child
    return padded.reshape(parents, k)


def _moments(v: F64, live: BoolA, levels: list[tuple[int, int]], k: int) -> Moments:
    cnt: I64 | None = None
    tot: F64 | None = None
    mn: F64 | None = None
    mx: F64 | None = None
    m2: F64 | None = None
    for s, e in reversed(levels):
        lv = live[s:e]
        own = v[s:e]
        c = lv.astype(np.int64)
        t = np.where(lv, own, 0.0)
        lo = np.where(lv, own, np.inf)
        hi = np.where(lv, own, -np.inf)
        if cnt is None:
            cnt, tot, mn, mx, m2 = c, t, lo, hi, np.zeros(e - s)
            continue
        assert tot is not None and mn is not None and mx is not None and m2 is not None
        p = e - s
        cc = _group(cnt, p, k, 0)
        ct = _group(tot, p, k, 0.0)
        ncnt = c + cc.sum(axis=1)
        ntot = t + ct.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ncnt > 0, ntot / np.maximum(ncnt, 1), 0.0)
            cmean = np.where(cc > 0, ct / np.maximum(cc, 1), 0.0)
        dev = np.where(cc > 0, cc * (cmean - mean[:, None]) ** 2, 0.0)
        own_dev = np.where(lv, (own - mean) ** 2, 0.0)
        m2 = _group(m2, p, k, 0.0).sum(axis=1) + dev.sum(axis=1) + own_dev
        mn = np.minimum(lo, _group(mn, p, k, np.inf).min(axis=1))
        mx = np.maximum(hi, _group(mx, p, k, -np.inf).max(axis=1))
        cnt, tot = ncnt, ntot
    assert (
        cnt is not None and tot is not None and mn is not None and mx is not None and m2 is not None
    )
    count = int(cnt[0])
    if count == 0:
        return Moments()
    total = float(tot[0])
    return Moments(count, total, total / count, float(m2[0]), float(mn[0]), float(mx[0]))


def _histogram(
    v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, spec: AggregateSpec
) -> Histogram:
    hs = spec.histogram
    assert hs is not None
    nb = hs.buckets + 2
    scaled = np.floor((v - hs.lo) / (hs.hi - hs.lo) * hs.buckets)
    idx = np.where(
        v < hs.lo, 0, np.where(v >= hs.hi, nb - 1, 1 + np.clip(scaled, 0, hs.buckets - 1))
    )
    b = idx.astype(np.int64)

    def own(s: int, e: int, owner: I64) -> I64:
        # bucket counts of agents [s, e) credited to row `owner` of a (p, nb) table
        lv = live[s:e]
        p = int(owner.max()) + 1 if owner.size else 0
        return np.bincount(owner[lv] * nb + b[s:e][lv], minlength=p * nb)

    if len(levels) == 1:
        counts = own(0, 1, np.zeros(1, dtype=np.int64)).reshape(1, nb)
        return Histogram(hs, tuple(int(c) for c in counts[0]))
    # the deepest level is credited straight to its parents: no per-leaf table
    ds, de = levels[-1]
    s, e = levels[-2]
    p = e - s
    counts = (
        own(s, e, np.arange(p, dtype=np.int64))
        + np.bincount(
            ((np.arange(ds, de) - 1) // k - s)[live[ds:de]] * nb + b[ds:de][live[ds:de]],
            minlength=p * nb,
        )
    ).reshape(p, nb)
    for s, e in reversed(levels[:-2]):
        p = e - s
        pad = np.zeros((p * k, nb), dtype=np.int64)
        pad[: counts.shape[0]] = counts
        counts = own(s, e, np.arange(p, dtype=np.int64)).reshape(p, nb) + pad.reshape(p, k, nb).sum(
            axis=1
        )
    return Histogram(hs, tuple(int(c) for c in counts[0]))


def _topk(v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, kk: int) -> TopK:
    vals: F64 = np.where(live[levels[-1][0] :], v[levels[-1][0] :], -np.inf)[:, None]
    ids: I64 = np.arange(levels[-1][0], levels[-1][1], dtype=np.int64)[:, None]
    for s, e in reversed(levels[:-1]):
        p = e - s
        w = vals.shape[1]
        cv = np.full((p * k, w), -np.inf)
        cv[: vals.shape[0]] = vals
        ci = np.full((p * k, w), _SENT, dtype=np.int64)
        ci[: ids.shape[0]] = ids
        allv = np.concatenate(
            [np.where(live[s:e], v[s:e], -np.inf)[:, None], cv.reshape(p, k * w)], axis=1
        )
        alli = np.concatenate(
            [np.arange(s, e, dtype=np.int64)[:, None], ci.reshape(p, k * w)], axis=1
        )
        if allv.shape[1] > kk:
            order = np.argsort(-allv, axis=1)
            sv = np.take_along_axis(allv, order, axis=1)
            # ties inside the kept prefix (or at its edge) must break by id, as TopK.merge does
            tied = np.flatnonzero(
                ((sv[:, :kk] == sv[:, 1 : kk + 1]) & (sv[:, :kk] > -np.inf)).any(axis=1)
            )
            if tied.size:
                order[tied] = np.lexsort((alli[tied], -allv[tied]), axis=1)
            order = order[:, :kk]
            allv = np.take_along_axis(allv, order, axis=1)
            alli = np.take_along_axis(alli, order, axis=1)
        vals, ids = allv, alli
    items = sorted(
        ((float(x), int(i)) for x, i in zip(vals[0], ids[0], strict=True) if x != -np.inf),
        key=lambda it: (-it[0], it[1]),
    )
    return TopK(kk, tuple(items[:kk]))


_SENT = np.iinfo(np.int64).max  # empty slot in a padded row
DENSE_CELLS = 1 << 22  # switch a level to dense (nodes x keys) arrays below this many cells


def _rows_up(
    levels: list[tuple[int, int]],
    k: int,
    own_code: list[I64],
    own_val: list[I64],
    span: int,
    reduce: Literal["sum", "max"],
) -> npt.NDArray[np.int64]:
    """Merge per-agent ``(code, val)`` entries up the tree; returns the root's dense vector.

    Each level holds its nodes' entries as padded rows (one row per node, sorted
    codes, ``_SENT`` for empty slots): a parent's row is its children's rows side
    by side plus its own entry, sorted within the row and run-merged, so only small
    rows are ever sorted. Once ``nodes * span`` is small the level turns dense.
    For ``sum`` the code is the key and ``val`` the count; for ``max`` the code is
    ``key * 64 + val`` so the largest value of a key sorts last.
    """
    code: I64 = own_code[-1][:, None]
    val: I64 = own_val[-1][:, None]
    dense: I64 | None = None
    if len(levels) == 1:
        code_row, val_row = code[0], val[0]
        dense = np.zeros((1, span), dtype=np.int64)
        ok = code_row != _SENT
        _scatter(dense, np.zeros(int(ok.sum()), dtype=np.int64), code_row[ok], val_row[ok], reduce)
        return np.asarray(dense[0], dtype=np.int64)
    for d in range(len(levels) - 2, -1, -1):
        s, e = levels[d]
        p = e - s
        oc, ov = own_code[d], own_val[d]
        if dense is not None:
            pad = np.zeros((p * k, span), dtype=np.int64)
            pad[: dense.shape[0]] = dense
            grouped = pad.reshape(p, k, span)
            dense = grouped.sum(axis=1) if reduce == "sum" else grouped.max(axis=1)
            ok = oc != _SENT
            _scatter(dense, np.flatnonzero(ok), oc[ok], ov[ok], reduce)
            continue
        w = code.shape[1]
        pc = np.full((p * k, w), _SENT, dtype=np.int64)
        pc[: code.shape[0]] = code
        rows_c = np.concatenate([pc.reshape(p, k * w), oc[:, None]], axis=1)
        if reduce == "sum":
            pv = np.zeros((p * k, w), dtype=np.int64)
            pv[: val.shape[0]] = val
            rows_v = np.concatenate([pv.reshape(p, k * w), ov[:, None]], axis=1)
            order = np.argsort(rows_c, axis=1)
            rows_c = np.take_along_axis(rows_c, order, axis=1)
            rows_v = np.take_along_axis(rows_v, order, axis=1)
        else:
            rows_c = np.sort(rows_c, axis=1)
            rows_v = rows_c
        width = rows_c.shape[1]
        flat_c = rows_c.ravel()
        key_c = flat_c if reduce == "sum" else np.where(flat_c == _SENT, _SENT, flat_c >> 6)
        col = np.arange(flat_c.size) % width
        if reduce == "sum":
            first = (col == 0) | (key_c != np.roll(key_c, 1))
            starts = np.flatnonzero(first & (flat_c != _SENT))
            sums = np.add.reduceat(rows_v.ravel(), starts) if starts.size else starts
            # reduceat runs to the next start; trailing sentinels carry zero values
            rows = starts // width
            keys = flat_c[starts]
            vals = sums
        else:
            last = (col == width - 1) | (key_c != np.roll(key_c, -1))
            keep = np.flatnonzero(last & (flat_c != _SENT))
            rows = keep // width
            keys = key_c[keep]
            vals = flat_c[keep] & 63
        if p * span <= DENSE_CELLS:
            dense = np.zeros((p, span), dtype=np.int64)
            dense[rows, keys] = vals
            continue
        counts = np.bincount(rows, minlength=p)
        wn = max(int(counts.max()) if counts.size else 1, 1)
        pos = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        code = np.full((p, wn), _SENT, dtype=np.int64)
        val = np.zeros((p, wn), dtype=np.int64)
        code[rows, pos] = keys if reduce == "sum" else keys * 64 + vals
        val[rows, pos] = vals
    assert dense is not None
    return np.asarray(dense[0], dtype=np.int64)


def _scatter(dense: I64, rows: I64, code: I64, val: I64, reduce: Literal["sum", "max"]) -> None:
    """Merge one entry per row into a dense level (rows are distinct)."""
    if reduce == "sum":
        dense[rows, code] += val
    else:
        keys = code >> 6
        dense[rows, keys] = np.maximum(dense[rows, keys], code & 63)


def _ddsketch(
    v: F64, live: BoolA, levels: list[tuple[int, int]], k: int, spec: AggregateSpec
) -> DDSketch:
    alpha = spec.ddsketch_alpha
    assert alpha is not None
    proto = DDSketch(alpha)
    gamma_log = math.log(proto.gamma)
    mag = np.abs(v)
    is_zero = mag < DDSketch.MIN_VALUE
    keys = np.ceil(np.log(np.where(is_zero, 1.0, mag)) / gamma_log).astype(np.int64)
    zero = int((is_zero & live).sum())
    out: dict[str, dict[int, int]] = {}
    for sign, mask in (("pos", (v > 0) & ~is_zero), ("neg", (v < 0) & ~is_zero)):
        sel = mask & live
        if not sel.any():
            out[sign] = {}
            continue
        kmin = int(keys[sel].min())
        span = int(keys[sel].max()) - kmin + 1
        code = np.where(sel, keys - kmin, _SENT)
        one = sel.astype(np.int64)
        root = _rows_up(
            levels, k, [code[s:e] for s, e in levels], [one[s:e] for s, e in levels], span, "sum"
        )
        nz = np.flatnonzero(root)
        out[sign] = {int(i) + kmin: int(root[i]) for i in nz}
    sketch = DDSketch(alpha, proto.max_bins, zero, {}, {})
    return sketch.merge(DDSketch(alpha, proto.max_bins, 0, out["pos"], out["neg"]))


def _hll(
    item: npt.NDArray[np.uint64], live: BoolA, levels: list[tuple[int, int]], k: int, p: int
) -> HyperLogLog:
    h = splitmix64_array(item)
    idx = (h >> np.uint64(64 - p)).astype(np.int64)
    rest = h << np.uint64(p)
    # rank = leading zeros of the remaining bits + 1: find the bit length exactly by halving
    bl = np.zeros(rest.shape, dtype=np.int64)
    x = rest.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = x >= (np.uint64(1) << np.uint64(shift))
        bl += np.where(big, shift, 0)
        x = np.where(big, x >> np.uint64(shift), x)
    bl += (x > 0).astype(np.int64)
    rank = np.minimum(64 - bl + 1, 64 - p + 1).astype(np.int64)
    code = np.where(live, idx * 64 + rank, _SENT)
    root = _rows_up(
        levels, k, [code[s:e] for s, e in levels], [rank[s:e] for s, e in levels], 1 << p, "max"
    )
    return HyperLogLog(p, root.astype(np.uint8).tobytes())
