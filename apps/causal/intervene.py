"""Interventions on the consensus graph: a lagged linear SCM, do-effects with bootstrap
intervals, and a ranking of the crash's root causes.

The SCM regresses each series on its own lags and on its consensus parents (a lagged
linear SCM, Peters, Janzing & Schölkopf 2017 ch. 10), by weighted least squares with
weights ``1/v(t)`` from an EWMA of the OLS residual variance (feasible GLS: returns
are conditionally heteroskedastic, and plain OLS lets the few crash weeks dominate the
coefficients; see :func:`apps.causal.methods.granger.ewma_variance`), times Huber
weights (Huber 1964; iteratively reweighted, :func:`huber_weights`) so the few residuals
that stay extreme after the volatility scaling (Student-t shocks, the first hit itself)
do not steer the fit. ``do(X_s(t0) = 0)`` is
answered by propagating the difference actual minus intervened through the fitted
lags (see :func:`apps.causal.simulate.linear_do_effects`). Intervals come from a pairs
bootstrap of the regression rows (Efron & Tibshirani 1993 §9.5). Root causes are ranked
by a historical decomposition: the part of the target's cumulative move over the
horizon that each other series' own innovations (residuals) explain through the fitted
lags, so a series that only passed a fall on ranks below the one that started it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.causal.methods.granger import ewma_variance
from apps.causal.records import BoolArray, FloatArray
from apps.causal.simulate import linear_do_effects


@dataclass(slots=True)
class FittedSCM:
    """Fitted lagged coefficients ``coef[tau-1, j, i]`` and residuals (T - L, n)."""

    coef: FloatArray
    residuals: FloatArray


def _design(data: FloatArray, lags: int) -> FloatArray:
    steps = data.shape[0]
    return np.hstack([data[lags - tau : steps - tau] for tau in range(1, lags + 1)])  # (T-L, L*n)


HUBER_C = 1.345  # Huber's tuning constant (95% efficiency under Gaussian errors)
HUBER_STEPS = 20  # iteratively reweighted least-squares steps


def huber_weights(
    design: FloatArray, y: FloatArray, w: FloatArray, c: float = HUBER_C, steps: int = HUBER_STEPS
) -> FloatArray:
    """Huber M-estimation weights of the WLS problem ``(design, y, w)`` by IRLS.

    The scaled residual ``u = sqrt(w) * e / s`` (``s`` the MAD scale) gets weight
    ``min(1, c / |u|)``; returned is that weight per row (1 for ordinary rows).
    """
    root = np.sqrt(w)
    dw, yw = design * root[:, None], y * root
    beta, *_ = np.linalg.lstsq(dw, yw, rcond=None)
    h = np.ones_like(y)
    for _ in range(steps):
        r = yw - dw @ beta
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if scale <= 0:
            break
        u = np.abs(r) / scale
        h = np.where(u <= c, 1.0, c / np.maximum(u, 1e-12))
        sq = np.sqrt(h)
        beta, *_ = np.linalg.lstsq(dw * sq[:, None], yw * sq, rcond=None)
    out: FloatArray = h
    return out


def scm_weights(data: FloatArray, graph: BoolArray, robust: bool = True) -> FloatArray:
    """Per row and series, the weight of the SCM's equations (T - L, n): ``1/v(t)`` (EWMA
    variance of the OLS residuals) times, with ``robust``, the Huber weight of the row."""
    lags, n, _ = graph.shape
    x = _design(data, lags)
    y = data[lags:]
    out = np.ones_like(y)
    for i in range(n):
        design = equation_design(x, graph, i)
        beta, *_ = np.linalg.lstsq(design, y[:, i], rcond=None)
        out[:, i] = 1.0 / ewma_variance(y[:, i] - design @ beta)
        if robust:
            out[:, i] *= huber_weights(design, y[:, i], out[:, i])
    return out


def equation_design(x: FloatArray, graph: BoolArray, i: int) -> FloatArray:
    """Regressors of series ``i``'s equation: the columns of the lagged design ``x`` that are
    its own lags or its parents in ``graph`` (index ``tau * n + j``), then a constant."""
    parents = graph[:, :, i].copy()
    parents[:, i] = True  # own lags are always in the model
    cols = np.flatnonzero(parents.reshape(-1))  # index tau*n + j
    return np.hstack([x[:, cols], np.ones((len(x), 1))])


def fit_scm(
    data: FloatArray,
    graph: BoolArray,
    rows: np.ndarray | None = None,
    weights: FloatArray | None = None,
) -> FittedSCM:
    """WLS of each series on its own lags and its parents in ``graph`` (L, n, n).

    ``weights`` (T - L, n) defaults to :func:`scm_weights`; ``rows`` picks regression rows
    (a bootstrap resample). Residuals are unweighted, one per row used.
    """
    lags, n, _ = graph.shape
    x = _design(data, lags)
    y = data[lags:]
    w = scm_weights(data, graph) if weights is None else weights
    if rows is not None:
        x, y, w = x[rows], y[rows], w[rows]
    coef = np.zeros((lags, n, n))
    residuals = np.zeros_like(y)
    for i in range(n):
        parents = graph[:, :, i].copy()
        parents[:, i] = True  # own lags are always in the model
        cols = np.flatnonzero(parents.reshape(-1))  # index tau*n + j
        design = np.hstack([x[:, cols], np.ones((len(x), 1))])
        root = np.sqrt(w[:, i])
        beta, *_ = np.linalg.lstsq(design * root[:, None], y[:, i] * root, rcond=None)
        flat = np.zeros(lags * n)
        flat[cols] = beta[:-1]
        coef[:, :, i] = flat.reshape(lags, n)
        residuals[:, i] = y[:, i] - design @ beta
    return FittedSCM(coef, residuals)


@dataclass(slots=True)
class Effect:
    """One do-effect on one series: estimate, bootstrap interval, truth when known."""

    source: int
    target: int
    estimate: float
    low: float
    high: float
    true: float | None = None


def do_effects(
    data: FloatArray,
    graph: BoolArray,
    source: int,
    start: int,
    horizon: int,
    bootstrap: int = 100,
    level: float = 0.9,
    seed: int = 0,
) -> list[Effect]:
    """Effects of ``do(source(start) = 0)`` on every series' cumulative move over ``horizon``.

    Returns one :class:`Effect` per series (the source itself included), with a
    ``level`` percentile interval from ``bootstrap`` pairs-bootstrap refits.
    """
    lags = graph.shape[0]
    weights = scm_weights(data, graph)
    fitted = fit_scm(data, graph, weights=weights)
    point = linear_do_effects(fitted.coef, data, source, start, 1, horizon)
    rng = np.random.default_rng(seed)
    m = len(data) - lags
    draws = (
        np.array(
            [
                linear_do_effects(
                    fit_scm(data, graph, rng.integers(0, m, size=m), weights).coef,
                    data,
                    source,
                    start,
                    1,
                    horizon,
                )
                for _ in range(bootstrap)
            ]
        )
        if bootstrap
        else np.repeat(point[None, :], 1, axis=0)
    )
    lo = np.quantile(draws, (1 - level) / 2, axis=0)
    hi = np.quantile(draws, 1 - (1 - level) / 2, axis=0)
    return [
        Effect(source, k, float(point[k]), float(lo[k]), float(hi[k])) for k in range(data.shape[1])
    ]


def impulse_responses(coef: FloatArray, horizon: int) -> FloatArray:
    """``irf[h, k, i]``: response of series i, h steps later, to a unit innovation of series k."""
    lags, n, _ = coef.shape
    irf = np.zeros((horizon, n, n))
    irf[0] = np.eye(n)
    for h in range(1, horizon):
        for tau in range(1, min(lags, h) + 1):
            irf[h] += irf[h - tau] @ coef[tau - 1]
    return irf


def root_causes(
    data: FloatArray,
    graph: BoolArray,
    target: int,
    start: int,
    horizon: int,
    onset: int | None = None,
) -> list[tuple[int, float]]:
    """Series ranked by how much of the target's cumulative move over ``[start, start+horizon)``
    their own innovations explain (historical decomposition); the target itself is left out.

    ``onset`` counts only the innovations of the first ``onset`` steps of the window (the
    shocks that started the crash, not the later ones it caused); None counts all of them.

    Returns (series, contribution) pairs, largest |contribution| first; contributions are in
    the units of ``data``.
    """
    lags, n, _ = graph.shape
    fitted = fit_scm(data, graph)
    irf = impulse_responses(fitted.coef, horizon)
    contrib = np.zeros(n)
    last = start + horizon if onset is None else start + min(onset, horizon)
    for t in range(start, min(last, len(data))):
        u = fitted.residuals[t - lags]  # innovation of every series at t
        remaining = start + horizon - t
        contrib += u * irf[:remaining, :, target].sum(axis=0)
    ranked = sorted((k for k in range(n) if k != target), key=lambda k: -abs(contrib[k]))
    return [(k, float(contrib[k])) for k in ranked]
