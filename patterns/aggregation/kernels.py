"""Numba kernels of the vectorized engine: every node's partial, merged child by child.

The engine (:mod:`patterns.aggregation.engine`) lays the k-ary tree out in heap
order: the children of node ``i`` are ``k*i+1 .. k*i+k`` and each level is a
contiguous range. These kernels compute each node's partial from its own value
and its children's partials, exactly as the nodes of the protocol merge them:

* :func:`moments_up` walks the nodes from the last to the first and merges each
  finished partial into its parent (Chan et al.'s pairwise variance update);
* :func:`sparse_level_up` builds one level's sparse partials (DDSketch bins,
  histogram buckets, HyperLogLog registers as ``(key, value)`` entries per node,
  in CSR form) from the level below, summing or taking the maximum per key;
* :func:`topk_level_up` keeps each node's top ``k`` values (ties broken by the
  smaller agent id, as :meth:`TopK.merge` does).

Work is linear in the number of entries a level holds, so a million agents
aggregate in tens of milliseconds once compiled. Compiled code is cached on disk
(``cache=True``): the first call in a fresh checkout compiles for a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def moments_up(
    v: np.ndarray, live: np.ndarray, k: int
) -> tuple[int, float, float, float, float]:  # pragma: no cover - compiled
    """``(count, total, m2, min, max)`` of the root after every node merged its subtree."""
    n = v.shape[0]
    inner = (n - 2) // k + 1 if n > 1 else 1  # nodes 0..inner-1 have children
    cnt = np.zeros(inner, np.int64)
    tot = np.zeros(inner, np.float64)
    m2 = np.zeros(inner, np.float64)
    lo = np.full(inner, np.inf)
    hi = np.full(inner, -np.inf)
    for i in range(inner):
        if live[i]:
            cnt[i] = 1
            tot[i] = v[i]
            lo[i] = v[i]
            hi[i] = v[i]
    for i in range(n - 1, 0, -1):
        if i < inner:
            c = cnt[i]
            t = tot[i]
            q = m2[i]
            a = lo[i]
            b = hi[i]
        elif live[i]:
            c = 1
            t = v[i]
            q = 0.0
            a = v[i]
            b = v[i]
        else:
            continue
        if c == 0:
            continue
        p = (i - 1) // k
        cp = cnt[p]
        if cp == 0:
            cnt[p] = c
            tot[p] = t
            m2[p] = q
        else:
            d = t / c - tot[p] / cp
            m2[p] += q + d * d * (c * cp) / (c + cp)
            cnt[p] = cp + c
            tot[p] += t
        if a < lo[p]:
            lo[p] = a
        if b > hi[p]:
            hi[p] = b
    return cnt[0], tot[0], m2[0], lo[0], hi[0]


@njit(cache=True, nogil=True)
def _child_entries(
    node: int, k: int, first_child: int, n: int, child_off: np.ndarray, leaf_children: bool
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Where ``node``'s children's entries are: the agent range ``[x0, x1)`` when the
    children are leaves (each its own entry), else the range of positions in the level
    below's CSR (whose first node is ``first_child``). Empty for a node without children."""
    c0 = k * node + 1
    if leaf_children:
        return c0, max(min(c0 + k, n), c0)
    c0 -= first_child
    c1 = min(c0 + k, child_off.shape[0] - 1)
    if c0 >= c1:
        return 0, 0
    return child_off[c0], child_off[c1]


@njit(cache=True, nogil=True)
def sparse_level_up(
    s: int,
    e: int,
    k: int,
    own_key: np.ndarray,
    own_val: np.ndarray,
    child_off: np.ndarray,
    child_key: np.ndarray,
    child_val: np.ndarray,
    span: int,
    use_max: bool,
    leaf_children: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The partials of nodes ``[s, e)`` as CSR ``(offsets, keys, values)``.

    ``own_key[i]`` / ``own_val[i]`` is agent ``i``'s own entry (key < 0: none);
    ``child_*`` is the CSR of the level below (its first node is ``k*s+1``; empty
    for the deepest level). Values of a key add up, or keep their maximum when
    ``use_max``. With ``leaf_children`` the level below is the last one, whose
    nodes' partials are their own entries: ``child_*`` are not read.
    """
    p = e - s
    n = own_key.shape[0]
    first_child = k * s + 1
    off = np.empty(p + 1, np.int64)
    cap = n - s if leaf_children else child_key.shape[0] + p  # at most one entry per agent
    keys = np.empty(cap, np.int64)
    vals = np.empty(cap, np.int64)
    acc = np.zeros(span, np.int64)
    seen = np.zeros(span, np.bool_)
    touched = np.empty(span, np.int64)
    pos = 0
    for j in range(p):
        off[j] = pos
        t = 0
        key = own_key[s + j]
        if key >= 0:
            seen[key] = True
            acc[key] = own_val[s + j]
            touched[t] = key
            t += 1
        x0, x1 = _child_entries(s + j, k, first_child, n, child_off, leaf_children)
        for x in range(x0, x1):
            if leaf_children:
                key = own_key[x]
                if key < 0:
                    continue
                val = own_val[x]
            else:
                key = child_key[x]
                val = child_val[x]
            if seen[key]:
                if use_max:
                    if val > acc[key]:
                        acc[key] = val
                else:
                    acc[key] += val
            else:
                seen[key] = True
                acc[key] = val
                touched[t] = key
                t += 1
        for q in range(t):
            key = touched[q]
            keys[pos] = key
            vals[pos] = acc[key]
            seen[key] = False
            pos += 1
    off[p] = pos
    return off, keys[:pos], vals[:pos]


@njit(cache=True, nogil=True)
def topk_level_up(
    s: int,
    e: int,
    k: int,
    v: np.ndarray,
    live: np.ndarray,
    top: int,
    child_off: np.ndarray,
    child_val: np.ndarray,
    child_id: np.ndarray,
    leaf_children: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Each node's top ``top`` (value, agent id) of ``[s, e)``, best first, as CSR.

    With ``leaf_children`` the level below is the last one (each child's list is
    its own value): ``child_*`` are not read.
    """
    p = e - s
    n = v.shape[0]
    first_child = k * s + 1
    off = np.empty(p + 1, np.int64)
    vals = np.empty(p * top, np.float64)
    ids = np.empty(p * top, np.int64)
    bv = np.empty(top, np.float64)
    bi = np.empty(top, np.int64)
    pos = 0
    for j in range(p):
        off[j] = pos
        t = 0
        node = s + j
        start, stop = _child_entries(node, k, first_child, n, child_off, leaf_children)
        total = stop - start + 1
        for x in range(total):
            if x == stop - start:
                if not live[node]:
                    continue
                cv = v[node]
                ci = node
            elif leaf_children:
                ci = start + x
                if not live[ci]:
                    continue
                cv = v[ci]
            else:
                cv = child_val[start + x]
                ci = child_id[start + x]
            if t == top and not (cv > bv[t - 1] or (cv == bv[t - 1] and ci < bi[t - 1])):
                continue
            q = t - 1 if t == top else t
            while q > 0 and (cv > bv[q - 1] or (cv == bv[q - 1] and ci < bi[q - 1])):
                bv[q] = bv[q - 1]
                bi[q] = bi[q - 1]
                q -= 1
            bv[q] = cv
            bi[q] = ci
            if t < top:
                t += 1
        for q in range(t):
            vals[pos] = bv[q]
            ids[pos] = bi[q]
            pos += 1
    off[p] = pos
    return off, vals[:pos], ids[:pos]


@njit(cache=True, nogil=True)
def hll_positions(
    items: np.ndarray, live: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Register index (-1 for a dead agent) and rank of each item's splitmix64 hash,
    as :func:`splitmix64` and :meth:`HyperLogLog.position` compute them."""
    n = items.shape[0]
    idx = np.empty(n, np.int64)
    rank = np.empty(n, np.int64)
    top = np.uint64(1) << np.uint64(63)
    cap = 64 - p + 1
    shift = np.uint64(64 - p)
    c0 = np.uint64(0x9E3779B97F4A7C15)
    c1 = np.uint64(0xBF58476D1CE4E5B9)
    c2 = np.uint64(0x94D049BB133111EB)
    s30 = np.uint64(30)
    s27 = np.uint64(27)
    s31 = np.uint64(31)
    for i in range(n):
        if not live[i]:
            idx[i] = -1
            rank[i] = 0
            continue
        x = np.uint64(items[i]) + c0
        x = (x ^ (x >> s30)) * c1
        x = (x ^ (x >> s27)) * c2
        x = x ^ (x >> s31)
        idx[i] = np.int64(x >> shift)
        rest = x << np.uint64(p)
        r = 1
        while r < cap and (rest & top) == 0:
            rest = rest << np.uint64(1)
            r += 1
        rank[i] = r
    return idx, rank


@njit(cache=True, nogil=True)
def histogram_keys(
    v: np.ndarray, live: np.ndarray, lo: float, hi: float, buckets: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Bucket of each live agent (0: below ``lo``, ``buckets+1``: at or above ``hi``; -1: dead)."""
    n = v.shape[0]
    out = np.empty(n, np.int64)
    width = hi - lo
    for i in range(n):
        x = v[i]
        if not live[i]:
            out[i] = -1
        elif x < lo:
            out[i] = 0
        elif x >= hi:
            out[i] = buckets + 1
        else:
            b = math.floor((x - lo) / width * buckets)
            out[i] = 1 + min(max(b, 0), buckets - 1)
    return out


@njit(cache=True, nogil=True)
def ddsketch_keys(
    v: np.ndarray, live: np.ndarray, min_value: float, log_gamma: float
) -> tuple[np.ndarray, int, int, int, int, int]:  # pragma: no cover - compiled
    """Each live agent's DDSketch bin in one key space, positive bins first.

    Returns ``(key, zeros, pos_min, pos_span, neg_min, neg_span)``: agent ``i``'s
    key is ``bin - pos_min`` for a positive value, ``pos_span + bin - neg_min``
    for a negative one, and -1 for a dead agent or a value in the zero bucket.
    ``bin`` is :meth:`DDSketch.key` of the magnitude.
    """
    n = v.shape[0]
    raw = np.empty(n, np.int64)
    sign = np.zeros(n, np.int8)
    zeros = 0
    pmin = np.iinfo(np.int64).max
    pmax = np.iinfo(np.int64).min
    nmin = pmin
    nmax = pmax
    for i in range(n):
        if not live[i]:
            continue
        x = v[i]
        mag = abs(x)
        if mag < min_value:
            zeros += 1
            continue
        key = math.ceil(math.log(mag) / log_gamma)
        raw[i] = key
        if x > 0:
            sign[i] = 1
            if key < pmin:
                pmin = key
            if key > pmax:
                pmax = key
        else:
            sign[i] = -1
            if key < nmin:
                nmin = key
            if key > nmax:
                nmax = key
    pspan = pmax - pmin + 1 if pmax >= pmin else 0
    nspan = nmax - nmin + 1 if nmax >= nmin else 0
    out = np.empty(n, np.int64)
    for i in range(n):
        if sign[i] > 0:
            out[i] = raw[i] - pmin
        elif sign[i] < 0:
            out[i] = pspan + raw[i] - nmin
        else:
            out[i] = -1
    return out, zeros, pmin, pspan, nmin, nspan
