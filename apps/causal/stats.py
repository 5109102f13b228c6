"""Small statistics helpers: Benjamini-Hochberg, F1 of lagged edge sets."""

from __future__ import annotations

import numpy as np

from apps.causal.records import BoolArray, FloatArray


def benjamini_hochberg(pvalues: FloatArray, mask: BoolArray) -> FloatArray:
    """BH-adjusted q-values of the p-values under ``mask`` (1.0 elsewhere).

    Benjamini & Hochberg (1995): q_(k) = min_{m >= k} p_(m) * M / m over the M tests.
    """
    q = np.ones_like(pvalues, dtype=float)
    p = pvalues[mask]
    m = p.size
    if m == 0:
        return q
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[mask] = out
    return q


def f1_score(predicted: BoolArray, truth: BoolArray, mask: BoolArray) -> tuple[float, float, float]:
    """(precision, recall, F1) of predicted lagged links against the truth, under ``mask``.

    Both arrays are (L, n, n); a shorter one is padded with "no link". An empty prediction
    of an empty truth scores 1.
    """
    lags = max(predicted.shape[0], truth.shape[0], mask.shape[0])
    p, t, m = (_pad(a, lags) for a in (predicted, truth, mask))
    tp = int(np.sum(p & t & m))
    fp = int(np.sum(p & ~t & m))
    fn = int(np.sum(~p & t & m))
    if tp + fp + fn == 0:
        return 1.0, 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn)
    return precision, recall, f1


def _pad(a: BoolArray, lags: int) -> BoolArray:
    if a.shape[0] >= lags:
        return a[:lags]
    pad = np.zeros((lags - a.shape[0], *a.shape[1:]), dtype=bool)
    return np.concatenate([a, pad])


def trailing_ewma(squares: FloatArray, lam: float, start: FloatArray | float) -> FloatArray:
    """``v[t] = lam * v[t-1] + (1 - lam) * squares[t-1]``, ``v[0] = start``: at each step the
    exponentially weighted mean of the squares before it (columns filtered independently)."""
    from scipy.signal import lfilter

    sq = np.asarray(squares, dtype=float)
    first = np.broadcast_to(np.asarray(start, dtype=float), sq.shape[1:])
    shifted = np.concatenate([first[None, ...], sq[:-1]], axis=0)
    v, _ = lfilter([1.0 - lam], [1.0, -lam], shifted, axis=0, zi=(lam * first)[None, ...])
    out: FloatArray = np.asarray(v, dtype=float)
    return out
