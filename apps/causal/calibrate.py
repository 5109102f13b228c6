"""Calibration of the consensus on simulated markets of the same shape, cached on disk.

For a data shape (series, steps, max lag) a few markets are simulated with seeds from a
range that the benchmark's evaluation markets never use, every method is run on them,
and three things are learned against the known graphs:

1. per method, its evidence map (binned strength -> class-balanced P(edge));
2. per method, its reliability: a log-odds weight from a logistic regression of the
   truth on every method's evidence at once (what the pattern-5 learner applies);
3. the consensus rule's threshold ``theta`` and ``quorum``, the pair with the best mean F1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from apps.causal.consensus import (
    Calibration,
    EvidenceMap,
    consensus,
    decide,
    make_router,
    method_votes,
)
from apps.causal.records import METHODS, BoolArray, MethodResult, cross_mask
from apps.causal.simulate import Market, MarketSpec, simulate_market
from apps.causal.stats import f1_score

log = logging.getLogger(__name__)

CALIBRATION_SEED_BASE = 900_000  # calibration seeds: 900000 + k; evaluation seeds stay below
CACHE_VERSION = 3
P_BINS = [0.0, 0.3, 0.6, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0]  # on -log10 p
COEF_BINS = [0.0, 1e-12, 0.03, 0.05, 0.08, 0.12, 0.18, 0.3]  # on |coefficient|
THETAS = tuple(
    float(1 / (1 + np.exp(-x))) for x in np.arange(-4.0, 24.01, 0.5)
)  # posterior thresholds, even in log-odds
QUORUMS = (1, 2)
DENSITIES = (1.0, 1.75, 2.5)
# Ridge on the log-odds weights: the evidence maps are fitted on the same links, so the
# methods' evidence looks more separable than it is and unpenalized weights run away (the
# router then clips every vote at 0.999 and the rule degenerates into a majority vote).
WEIGHT_L2 = 30.0
MAX_WEIGHT = 1.5  # a method's calibrated evidence is never trusted more than 1.5 times  # calibration markets cycle through these densities

Runner = Callable[[Market], list[MethodResult]]


def bins_for(method: str) -> list[float]:
    """The strength bins of a method's evidence map."""
    return COEF_BINS if method == "varlingam" else P_BINS


def evidence_map(strengths: np.ndarray, truth: np.ndarray, bins: list[float]) -> EvidenceMap:
    """Class-balanced P(edge | bin) with add-1/2 smoothing, made non-decreasing in strength."""
    idx = np.clip(np.searchsorted(bins, strengths, side="right") - 1, 0, len(bins) - 1)
    k = len(bins)
    pos = np.bincount(idx[truth], minlength=k) + 0.5
    neg = np.bincount(idx[~truth], minlength=k) + 0.5
    lr = (pos / pos.sum()) / (neg / neg.sum())
    prob = np.maximum.accumulate(lr / (1.0 + lr))  # stronger evidence never means less
    return EvidenceMap(list(bins), [float(p) for p in prob])


def fit_weights(
    features: np.ndarray, truth: np.ndarray, l2: float = 1.0
) -> tuple[np.ndarray, float]:
    """Non-negative per-method log-odds weights and an intercept by L2-penalized logistic regression.

    ``features``: (links, methods), each method's log-likelihood ratio ``logit(P_bal)``
    (0 where it abstained); ``truth``: (links,). Newton-Raphson (IRLS); a method whose
    weight comes out negative is dropped (weight 0) and the rest refitted, so a vote is
    never read backwards.
    """
    n, k = features.shape
    active = np.ones(k, dtype=bool)
    y = truth.astype(float)
    w = np.zeros(k)
    b = 0.0
    for _ in range(k + 1):
        x = np.hstack([features[:, active], np.ones((n, 1))])
        beta = np.zeros(x.shape[1])
        beta[-1] = float(np.log((y.sum() + 0.5) / (n - y.sum() + 0.5)))
        penalty = np.full(x.shape[1], l2)
        penalty[-1] = 0.0  # the intercept is not shrunk
        for _ in range(50):
            p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
            grad = x.T @ (y - p) - penalty * beta
            hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
            step = np.linalg.solve(hess, grad)
            beta += step
            if np.abs(step).max() < 1e-8:
                break
        w = np.zeros(k)
        w[active] = beta[:-1]
        b = float(beta[-1])
        if (w[active] >= 0).all():
            break
        active &= w > 0
    return np.maximum(w, 0.0), b


def _features(votes_conf: np.ndarray, says: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Signed log-likelihood ratio per (method, link): +logit(conf) for edge, -logit for no edge."""
    c = np.clip(votes_conf, 1e-3, 1 - 1e-3)
    llr = np.log(c / (1 - c))
    out: np.ndarray = np.where(answered, np.where(says, llr, -llr), 0.0)
    return out


def fit_calibration(
    markets: Sequence[Market], results: Sequence[Sequence[MethodResult]]
) -> Calibration:
    """Learn maps, reliability, threshold and quorum from markets with known graphs."""
    first = markets[0]
    lags = results[0][0].max_lag
    masks = [cross_mask(lags, m.n) for m in markets]
    truths = [_truth(m.graph, lags) for m in markets]
    methods = [r.method for r in results[0]]
    maps: dict[str, EvidenceMap] = {}
    for k, name in enumerate(methods):
        runs = [
            (res[k], mask, truth)
            for res, mask, truth in zip(results, masks, truths, strict=True)
            if not res[k].abstained
        ]
        if not runs:
            continue
        s = np.concatenate([r.strength[mask] for r, mask, _ in runs])
        t = np.concatenate([truth[mask] for _, mask, truth in runs])
        maps[name] = evidence_map(s, t, bins_for(name))
    says, conf, answered, truth_all = [], [], [], []
    for res, mask, truth in zip(results, masks, truths, strict=True):
        v = method_votes(res, maps)
        says.append(v.says_edge[:, mask])
        conf.append(v.confidence[:, mask])
        answered.append(v.answered[:, mask])
        truth_all.append(truth[mask])
    features = _features(
        np.concatenate(conf, axis=1), np.concatenate(says, axis=1), np.concatenate(answered, axis=1)
    ).T
    weights, _ = fit_weights(features, np.concatenate(truth_all), WEIGHT_L2)
    weights = np.minimum(weights, MAX_WEIGHT)
    cal = Calibration(
        maps,
        {m: float(w) for m, w in zip(methods, weights, strict=True)},
        0.5,
        1,
        (first.n, len(first.data), lags),
    )
    router = make_router(cal.weights)
    cons = [consensus(res, cal, m.names, router) for res, m in zip(results, markets, strict=True)]
    best = (-1.0, 0.5, 1)
    for quorum in QUORUMS:
        for theta in THETAS:
            f1 = float(
                np.mean(
                    [
                        f1_score(
                            decide(c.posterior, c.votes_for, mask, theta, quorum), truth, mask
                        )[2]
                        for c, mask, truth in zip(cons, masks, truths, strict=True)
                    ]
                )
            )
            if f1 > best[0] + 1e-9:
                best = (f1, theta, quorum)
    cal.consensus_f1, cal.theta, cal.quorum = best
    cal.markets = [m.spec.seed for m in markets]
    cal.single_f1 = {
        name: float(
            np.mean(
                [
                    f1_score(res[k].edges, t, mask)[2]
                    for res, mask, t in zip(results, masks, truths, strict=True)
                ]
            )
        )
        for k, name in enumerate(methods)
    }
    return cal


def _truth(graph: BoolArray, lags: int) -> BoolArray:
    if graph.shape[0] >= lags:
        return graph[:lags]
    pad = np.zeros((lags - graph.shape[0], *graph.shape[1:]), dtype=bool)
    return np.concatenate([graph, pad])


def calibration_specs(n_series: int, n_steps: int, max_lag: int, count: int) -> list[MarketSpec]:
    """The calibration markets of a shape: fixed seeds from :data:`CALIBRATION_SEED_BASE`."""
    base = CALIBRATION_SEED_BASE + 1000 * (n_series % 997) + (n_steps % 1000)
    return [
        MarketSpec(
            n_series=n_series,
            n_steps=n_steps,
            max_lag=max_lag,
            density=DENSITIES[k % len(DENSITIES)],
            seed=base + k,
        )
        for k in range(count)
    ]


def cache_path(
    cache_dir: Path, n_series: int, n_steps: int, max_lag: int, alpha: float, count: int
) -> Path:
    """Where the calibration of a shape is cached."""
    return (
        cache_dir
        / f"calibration-v{CACHE_VERSION}-n{n_series}-t{n_steps}-l{max_lag}-a{alpha:g}-m{count}.json"
    )


def calibrate(
    n_series: int,
    n_steps: int,
    max_lag: int,
    alpha: float,
    runner: Callable[[Market], list[MethodResult]],
    count: int = 3,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """The calibration of this shape: read from the cache, or learned on ``count`` markets and cached.

    ``runner`` runs every method on a market (the flow passes one that fans out over tasks).
    An unreadable cache file is logged and recomputed (and rewritten atomically).
    """
    path = cache_path(cache_dir, n_series, n_steps, max_lag, alpha, count) if cache_dir else None
    if path is not None and path.exists():
        try:
            return Calibration.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            log.warning("recomputing unreadable calibration cache %s: %s", path, err)
    markets, results = [], []
    for spec in calibration_specs(n_series, n_steps, max_lag, count):
        if progress:
            progress(f"calibration market seed={spec.seed}")
        market = simulate_market(spec)
        markets.append(market)
        results.append(runner(market))
    cal = fit_calibration(markets, results)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cal.to_json(), sort_keys=True))
        tmp.replace(path)
    return cal


__all__ = ["METHODS", "calibrate", "fit_calibration"]
