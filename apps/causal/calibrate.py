"""Calibration of the consensus on simulated markets of the same shape, cached on disk.

For a data shape (series, steps, max lag) a few markets are simulated with seeds from a
range that the benchmark's evaluation markets never use, every method is run on them,
and learned against the known graphs (see :func:`fit_calibration`):

1. one stacked model of P(edge) on every method's evidence at once, split into per-method
   evidence maps (the confidence each method's vote carries to the pattern-5 router) and
   each method's learned reliability (how far its vote can move the posterior);
2. the quorum of the consensus rule; links are then accepted by expected F1
   (:func:`apps.causal.consensus.expected_f1_threshold`) on the calibrated posteriors;
3. the continuous stack that decides: a logistic regression of the truth on every
   method's continuous evidence per link (:func:`apps.causal.consensus.edge_features`),
   L2-penalized on standardized features (:func:`fit_edge_stack`), and its quorum;
4. optionally (``calibrate(select=True)``), the decision rule, by cross-validation over
   the calibration markets (a discrete super learner, van der Laan, Polley & Hubbard
   2007): the stack, or deferring to the one method whose own decisions scored best on
   markets the stack was not fitted on; the choice and every candidate's cross-validated
   F1 are reported (``Calibration.rule_f1``). Off by default: with five voters,
   on 77 development markets (seeds 700000+, each calibrated on 4 other markets of its
   shape) the stack alone scored F1 0.821 and the cross-validated choice 0.806 (leave-one-out
   over 4 markets picks a method by noise about a third of the time).
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
    edge_features,
    make_router,
)
from apps.causal.records import METHODS, BoolArray, MethodResult, cross_mask
from apps.causal.simulate import Market, MarketSpec, simulate_market
from apps.causal.stats import f1_score

log = logging.getLogger(__name__)

CALIBRATION_SEED_BASE = 900_000  # calibration seeds: 900000 + k; evaluation seeds stay below
CACHE_VERSION = 7
P_BINS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0]  # on -log10 p
COEF_BINS = [0.0, 1e-12, 0.03, 0.05, 0.08, 0.12, 0.2]  # on |coefficient|
QUORUMS = (1, 2)
STACK_QUORUMS = (0, 1, 2)  # the continuous stack's quorum is learned among these
EDGE_STACK_L2 = 1.0  # ridge of the continuous stack (on standardized features)
DENSITIES = (1.0, 1.75, 2.5)  # calibration markets cycle through these densities

Runner = Callable[[Market], list[MethodResult]]


def bins_for(method: str) -> list[float]:
    """The strength bins of a method's evidence map."""
    return COEF_BINS if method == "varlingam" else P_BINS


STEP_L2 = 1.0  # ridge on the stacked model's step heights (log-odds per knot)
MAX_LOGODDS = 6.9  # a vote's log-odds is clipped here by the router (accuracy clip 1e-3)


def stack_design(
    results: Sequence[MethodResult], mask: BoolArray, methods: Sequence[str]
) -> np.ndarray:
    """Stacking features of every link under ``mask``: per method, ``1[strength >= knot]`` per
    knot of its bins (an abstained method contributes zeros and a 1 in its abstention column)."""
    by = {r.method: r for r in results}
    cols = []
    for name in methods:
        knots = bins_for(name)[1:]
        r = by.get(name)
        block = np.zeros((int(mask.sum()), len(knots) + 1))
        if r is None or r.abstained:
            block[:, -1] = 1.0
        else:
            s = r.strength[mask]
            block[:, :-1] = s[:, None] >= np.asarray(knots)[None, :]
        cols.append(block)
    return np.hstack(cols)


def fit_stack(
    x: np.ndarray, y: np.ndarray, n_steps: Sequence[int], l2: float | None = None
) -> np.ndarray:
    """Monotone additive logistic regression (stacking) by L-BFGS-B.

    ``x`` is :func:`stack_design`; the step heights of each method (``n_steps[m]`` of
    them, then its abstention column) are non-negative, so a method's log-odds never
    falls as its evidence grows; abstention columns and the intercept (last) are free.
    Returns the coefficients with the intercept last.
    """
    from scipy.optimize import minimize

    k = x.shape[1]
    free = np.zeros(k, dtype=bool)
    pos = 0
    for steps in n_steps:
        free[pos + steps] = True  # the abstention column
        pos += steps + 1
    penalty = np.where(free, 0.0, STEP_L2 if l2 is None else l2)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta[:-1] + beta[-1]
        prob = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(penalty * beta[:-1] ** 2))
        grad = np.append(x.T @ (prob - y) + penalty * beta[:-1], np.sum(prob - y))
        return loss, grad

    bounds = [(None, None) if f else (0.0, None) for f in free] + [(None, None)]
    start = np.zeros(k + 1)
    start[-1] = float(np.log((y.sum() + 0.5) / (len(y) - y.sum() + 0.5)))
    out = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    beta: np.ndarray = out.x
    return beta


def fit_edge_stack(
    results: Sequence[Sequence[MethodResult]],
    truths: Sequence[BoolArray],
    methods: Sequence[str],
    l2: float = EDGE_STACK_L2,
) -> tuple[list[float], list[float], list[float]]:
    """The continuous stack: L2 logistic regression of the truth on standardized
    :func:`~apps.causal.consensus.edge_features` of every cross link of every market.

    Returns (mean, scale, coef) with the intercept last in ``coef``.
    """
    from scipy.optimize import minimize

    xs, ys = [], []
    for res, truth in zip(results, truths, strict=True):
        mask = cross_mask(truth.shape[0], truth.shape[1])
        xs.append(edge_features(res, methods)[mask])
        ys.append(truth[mask])
    x = np.vstack(xs)
    y = np.concatenate(ys).astype(float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature (e.g. a method that never abstains)
    z = (x - mean) / scale

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = z @ w[:-1] + w[-1]
        prob = 1.0 / (1.0 + np.exp(-np.clip(eta, -30, 30)))
        loss = float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * l2 * w[:-1] @ w[:-1])
        grad = np.append(z.T @ (prob - y) + l2 * w[:-1], np.sum(prob - y))
        return loss, grad

    start = np.zeros(z.shape[1] + 1)
    start[-1] = float(np.log((y.sum() + 0.5) / (len(y) - y.sum() + 0.5)))
    out = minimize(objective, start, jac=True, method="L-BFGS-B")
    return [float(v) for v in mean], [float(v) for v in scale], [float(v) for v in out.x]


def fit_calibration(
    markets: Sequence[Market],
    results: Sequence[Sequence[MethodResult]],
    select: bool = True,
    stack: bool = True,
) -> Calibration:
    """Learn the vote (:func:`fit_vote`), the continuous stack and, with ``select``, the rule.

    With ``stack`` the continuous stack (:func:`fit_edge_stack`) decides, with the quorum
    of :data:`STACK_QUORUMS` that scores best on the calibration markets (the larger on
    ties); without it, the router's vote decides. The rule is chosen by
    leave-one-market-out cross-validation (needs 3+ markets): for each calibration
    market the deciding model is refitted on the others and scored on it, beside each
    method's own decisions on it; the candidate with the best mean F1 wins, the
    consensus on ties. ``Calibration.defer_to`` names the method deferred to ("" for
    the consensus).
    """
    cal = _fit_consensus(markets, results, stack)
    if not select or len(markets) < 3:
        return cal
    own = "stack" if stack else "vote"
    scores: dict[str, list[float]] = {own: []}
    lags = results[0][0].max_lag
    for v, (market, res) in enumerate(zip(markets, results, strict=True)):
        inner = _fit_consensus(
            [m for u, m in enumerate(markets) if u != v],
            [r for u, r in enumerate(results) if u != v],
            stack,
        )
        mask = cross_mask(lags, market.n)
        truth = _truth(market.graph, lags)
        own_f1 = f1_score(consensus(res, inner, market.names).edges, truth, mask)[2]
        scores[own].append(own_f1)
        for r in res:
            # an abstaining method is replaced by the consensus on that market (what consensus does)
            f1 = own_f1 if r.abstained else f1_score(r.edges, truth, mask)[2]
            scores.setdefault(r.method, []).append(f1)
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    best = max(means, key=lambda k: (means[k] - (0.0 if k == own else 1e-9), k == own))
    cal.defer_to = "" if best == own else best
    cal.rule_f1 = means
    return cal


def _fit_consensus(
    markets: Sequence[Market], results: Sequence[Sequence[MethodResult]], stack: bool
) -> Calibration:
    """The vote, plus (with ``stack``) the continuous stack and its quorum."""
    cal = fit_vote(markets, results)
    if not stack:
        return cal
    lags = results[0][0].max_lag
    truths = [_truth(m.graph, lags) for m in markets]
    methods = [r.method for r in results[0]]
    cal.stack_methods = methods
    cal.stack_mean, cal.stack_scale, cal.stack_coef = fit_edge_stack(results, truths, methods)
    best = (-1.0, 0)
    for quorum in STACK_QUORUMS:
        cal.stack_quorum = quorum
        f1 = float(
            np.mean(
                [
                    f1_score(
                        consensus(res, cal, m.names).edges,
                        truth,
                        cross_mask(lags, m.n),
                    )[2]
                    for res, m, truth in zip(results, markets, truths, strict=True)
                ]
            )
        )
        if f1 >= best[0] - 1e-9:
            best = (f1, quorum)
    cal.consensus_f1, cal.stack_quorum = best
    return cal


def fit_vote(markets: Sequence[Market], results: Sequence[Sequence[MethodResult]]) -> Calibration:
    """Learn the stacked evidence maps, reliability and quorum from markets with known graphs.

    One monotone additive logistic regression of the truth on every method's evidence at
    once (stacking, Wolpert 1992): ``logit P(edge) = b + sum_m g_m(strength_m)`` with
    ``g_m`` a non-decreasing step function on the method's bins (its abstention has its
    own term). Method ``m``'s vote then carries ``g_m + b/M`` (its evidence against its
    share of the base rate): the map gives ``sigmoid(g_m + b/M)``, the router's
    learner trusts it as is (weight 1), so the router's weighted posterior is the
    stacked probability. The quorum (1 or 2) with the best mean F1 under the
    expected-F1 rule is kept.
    """
    first = markets[0]
    lags = results[0][0].max_lag
    masks = [cross_mask(lags, m.n) for m in markets]
    truths = [_truth(m.graph, lags) for m in markets]
    methods = [r.method for r in results[0]]
    n_steps = [len(bins_for(name)) - 1 for name in methods]
    x = np.vstack(
        [stack_design(res, mask, methods) for res, mask in zip(results, masks, strict=True)]
    )
    y = np.concatenate([t[mask] for t, mask in zip(truths, masks, strict=True)]).astype(float)
    beta = fit_stack(x, y, n_steps)
    intercept = float(beta[-1])
    share = intercept / len(methods)
    maps: dict[str, EvidenceMap] = {}
    abstain: dict[str, float] = {}
    reliability: dict[str, float] = {}
    pos = 0
    for name, steps in zip(methods, n_steps, strict=True):
        heights = np.concatenate([[0.0], np.cumsum(beta[pos : pos + steps])])
        logodds = np.clip(heights + share, -MAX_LOGODDS, MAX_LOGODDS)
        maps[name] = EvidenceMap(
            list(bins_for(name)), [float(v) for v in 1.0 / (1.0 + np.exp(-logodds))]
        )
        abstain[name] = float(beta[pos + steps] + share)
        reliability[name] = float(heights[-1])
        pos += steps + 1
    cal = Calibration(
        maps,
        {m: 1.0 for m in methods},
        0.5,
        1,
        (first.n, len(first.data), lags),
        rule="expected_f1",
        intercept=0.0,
        abstain_offset=abstain,
        reliability=reliability,
    )
    router = make_router(cal.weights)
    best = (-1.0, 1)
    for quorum in QUORUMS:
        cal.quorum = quorum
        f1 = float(
            np.mean(
                [
                    f1_score(consensus(res, cal, m.names, router).edges, truth, mask)[2]
                    for res, m, mask, truth in zip(results, markets, masks, truths, strict=True)
                ]
            )
        )
        if f1 > best[0] + 1e-9:
            best = (f1, quorum)
    cal.consensus_f1, cal.quorum = best
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
    cache_dir: Path,
    n_series: int,
    n_steps: int,
    max_lag: int,
    alpha: float,
    count: int,
    select: bool = False,
) -> Path:
    """Where the calibration of a shape is cached."""
    rule = "-select" if select else ""
    return (
        cache_dir
        / f"calibration-v{CACHE_VERSION}-n{n_series}-t{n_steps}-l{max_lag}-a{alpha:g}-m{count}{rule}.json"
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
    select: bool = False,
) -> Calibration:
    """The calibration of this shape: read from the cache, or learned on ``count`` markets and cached.

    ``runner`` runs every method on a market (the flow passes one that fans out over tasks).
    ``select`` lets cross-validation defer the decision to one method (see
    :func:`fit_calibration`; off by default, the continuous stack decides).
    An unreadable cache file is logged and recomputed (and rewritten atomically).
    """
    path = (
        cache_path(cache_dir, n_series, n_steps, max_lag, alpha, count, select)
        if cache_dir
        else None
    )
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
    cal = fit_calibration(markets, results, select=select)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cal.to_json(), sort_keys=True))
        tmp.replace(path)
    return cal


__all__ = ["METHODS", "calibrate", "fit_calibration"]
