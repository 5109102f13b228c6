"""The references the engine is checked against: scipy.sparse power iteration and networkx.

Conventions (those of ``networkx.pagerank``, which since networkx 3.0 runs this very
scipy iteration):

- the transition probability of edge ``u -> v`` is ``w(u, v) / out_weight(u)``;
  parallel edges add their weights; a self-loop is an edge like any other;
- a node whose out-weight is 0 (no out-edge, or only weight-0 ones) is *dangling*:
  its mass is spread by the dangling distribution (the personalization unless given);
- teleport by the personalization (uniform unless given), with probability ``1 - alpha``;
- start from ``nstart`` (uniform unless given); stop when the L1 change of one step
  is below ``n_nodes * tol``; fail after ``max_iter`` steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from apps.pagerank.edges import EdgeSource
from apps.pagerank.exceptions import ConvergenceError, EmptyGraphError
from patterns.core.exceptions import ConfigError

Vector = npt.NDArray[np.float64]


def transition_matrix(
    src: npt.ArrayLike, dst: npt.ArrayLike, weight: npt.ArrayLike | None, n: int
) -> tuple[sp.csr_array, npt.NDArray[np.bool_]]:
    """The row-normalised transition matrix (rows are sources) and the dangling mask."""
    s = np.asarray(src, dtype=np.int64)
    d = np.asarray(dst, dtype=np.int64)
    w = np.ones(len(s)) if weight is None else np.asarray(weight, dtype=np.float64)
    a = sp.csr_array((w, (s, d)), shape=(n, n))
    out = np.asarray(a.sum(axis=1)).ravel()
    inv = np.zeros(n)
    inv[out != 0] = 1.0 / out[out != 0]
    q = sp.csr_array(sp.diags_array(inv) @ a)
    return q, out == 0


def scipy_pagerank(
    a: sp.csr_array,
    is_dangling: npt.NDArray[np.bool_],
    alpha: float = 0.85,
    personalization: Vector | None = None,
    dangling: Vector | None = None,
    nstart: Vector | None = None,
    tol: float = 1e-10,
    max_iter: int = 300,
) -> tuple[Vector, int]:
    """networkx's ``_pagerank_scipy`` iteration on a transition matrix; returns (x, steps).

    The one change: the dangling mass is summed by numpy, not by Python's ``sum``
    (same value to rounding, and fair timing on large graphs).

    Raises:
        ConfigError: ``alpha`` outside (0, 1), ``tol`` not positive or ``max_iter`` < 1.
        ConvergenceError: not converged within ``max_iter`` steps.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha} must be in (0, 1)")
    if not tol > 0:
        raise ConfigError(f"tol={tol} must be positive")
    if max_iter < 1:
        raise ConfigError(f"max_iter={max_iter} must be at least 1")
    n = a.shape[0]
    if n == 0:
        raise EmptyGraphError("the graph has no node")
    x = np.full(n, 1.0 / n) if nstart is None else nstart / nstart.sum()
    p = np.full(n, 1.0 / n) if personalization is None else personalization / personalization.sum()
    dw = p if dangling is None else dangling / dangling.sum()
    for i in range(max_iter):
        xlast = x
        x = alpha * (x @ a + x[is_dangling].sum() * dw) + (1 - alpha) * p
        err = np.absolute(x - xlast).sum()
        if err < n * tol:
            return x, i + 1
    raise ConvergenceError(f"scipy reference did not converge in {max_iter} steps")


def transition_of(
    source: EdgeSource, n_nodes: int | None = None
) -> tuple[sp.csr_array, npt.NDArray[np.bool_]]:
    """Read every edge of ``source`` into memory: its transition matrix and dangling mask."""
    srcs, dsts, ws = [], [], []
    for ch in source.chunks():
        srcs.append(ch.src)
        dsts.append(ch.dst)
        ws.append(ch.weight if ch.weight is not None else np.ones(len(ch)))
    if not srcs or sum(map(len, srcs)) == 0:
        raise EmptyGraphError("the graph has no edge")
    s, d = np.concatenate(srcs), np.concatenate(dsts)
    del srcs, dsts
    w = np.concatenate(ws) if source.weighted else None
    del ws
    n = n_nodes or source.n_nodes or int(max(s.max(), d.max())) + 1
    return transition_matrix(s, d, w, n)


def scipy_pagerank_of(
    source: EdgeSource, n_nodes: int | None = None, **kwargs: Any
) -> tuple[Vector, int]:
    """The scipy reference on an edge source read whole into memory."""
    a, mask = transition_of(source, n_nodes)
    return scipy_pagerank(a, mask, **kwargs)


def networkx_pagerank(
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    weight: npt.ArrayLike | None,
    n: int,
    alpha: float = 0.85,
    personalization: Mapping[int, float] | None = None,
    dangling: Mapping[int, float] | None = None,
    tol: float = 1e-10,
    max_iter: int = 300,
) -> Vector:
    """``networkx.pagerank`` on a ``MultiDiGraph`` of the edges (parallel edges add up)."""
    import networkx as nx

    g: nx.MultiDiGraph[int] = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    ws = np.ones(len(np.asarray(src))) if weight is None else np.asarray(weight, dtype=np.float64)
    g.add_weighted_edges_from(
        zip(np.asarray(src).tolist(), np.asarray(dst).tolist(), ws.tolist(), strict=True)
    )
    pr = nx.pagerank(
        g,
        alpha=alpha,
        personalization=dict(personalization) if personalization else None,
        dangling=dict(dangling) if dangling else None,
        tol=tol,
        max_iter=max_iter,
        weight="weight",
    )
    return np.array([pr[i] for i in range(n)])
