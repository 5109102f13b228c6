"""One analysis end to end (methods -> consensus -> interventions), and its scoring on truth.

The flow runs the same steps as Prefect tasks (methods in parallel); the benchmark and
the CLI call :func:`analyze` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from apps.causal.consensus import Calibration, Consensus, consensus
from apps.causal.exceptions import InputDataError
from apps.causal.intervene import (
    Effect,
    do_effects,
    equation_design,
    fit_scm,
    root_causes,
    scm_weights,
)
from apps.causal.methods import run_method
from apps.causal.records import METHODS, BoolArray, FloatArray, MethodResult, cross_mask
from apps.causal.simulate import Market, linear_do_effects
from apps.causal.stats import f1_score


@dataclass(slots=True)
class Analysis:
    """Everything one analysis found."""

    names: list[str]
    results: list[MethodResult]
    consensus: Consensus
    target: int
    crash_start: int
    source: int  # the series whose do-intervention is tabled (the first hit)
    effects: list[Effect]
    causes: list[tuple[int, float]]
    wall_s: dict[str, float] = field(default_factory=dict)
    scm_graph: BoolArray | None = None  # the links the SCM was fitted on (None: not fitted)

    def intervention_graph(self) -> BoolArray:
        """The SCM graph of the do-effects and root causes (:meth:`Consensus.probable` when
        the analysis does not carry one); the discovery graph is ``consensus.edges``."""
        return self.consensus.probable() if self.scm_graph is None else self.scm_graph


def run_methods(
    data: FloatArray, max_lag: int, alpha: float, seed: int = 0, methods: Sequence[str] = METHODS
) -> list[MethodResult]:
    """Every method in turn (the flow runs them as parallel tasks instead)."""
    return [run_method(m, data, max_lag, alpha, seed) for m in methods]


def market_runner(max_lag: int, alpha: float) -> Callable[[Market], list[MethodResult]]:
    """A runner for calibration: every method on a simulated market's data."""

    def run(market: Market) -> list[MethodResult]:
        return run_methods(market.data, max_lag, alpha, market.spec.seed)

    return run


def crash_window(data: FloatArray, horizon: int) -> int:
    """The start of the worst ``horizon``-step window of the equal-weight average return."""
    avg = data.mean(axis=1)
    if len(avg) <= horizon:
        return 0
    sums = np.convolve(avg, np.ones(horizon), mode="valid")
    return int(np.argmin(sums))


def first_hit(data: FloatArray, start: int) -> int:
    """The series with the most negative standardized return at ``start``."""
    return int(np.argmin(data[start]))


def resolve_target(names: Sequence[str], target: str | int | None) -> int:
    """The index of ``target`` (a name or an index); None means the last series."""
    if target is None:
        return len(names) - 1
    if isinstance(target, int):
        if not 0 <= target < len(names):
            raise InputDataError(f"target index {target} out of range 0..{len(names) - 1}")
        return target
    if target not in names:
        raise InputDataError(
            f"target {target!r} is not a column; columns are {list(names)}", target
        )
    return list(names).index(target)


def interventions(
    data: FloatArray,
    names: Sequence[str],
    results: list[MethodResult],
    cons: Consensus,
    target: int,
    crash_start: int | None,
    source: int | None,
    horizon: int,
    bootstrap: int,
    seed: int,
    onset: int | None = 1,
) -> Analysis:
    """The intervention step (do-effects of the first hit, root causes).

    Root causes are ranked by the target's move that the innovations of the first
    ``onset`` steps of the crash window explain (the shocks that started it; later
    innovations are mostly what the crash caused: forced selling, volatility), see
    :func:`apps.causal.intervene.root_causes`; None counts the whole window.

    Two graphs come out of the consensus, one per question. The *discovery graph*
    (``cons.edges``) is the F1 operating point: the links that maximise the expected F1
    of the graph. The *SCM graph* (``Analysis.scm_graph``), the one the do-effects and
    root causes are computed on, is the operating point suited to do-questions: the
    links the vote finds more likely than not
    (:meth:`~apps.causal.consensus.Consensus.probable`). On simulated markets disjoint
    from the benchmark's it gave smaller do-effect errors than the discovery graph and
    than recall-oriented operating points (the stack's probability above 0.5 ... 0.01):
    a spurious link adds a wrong effect path that the large first hit multiplies, which
    cost more there than the paths a precise graph misses.
    """
    t0 = time.perf_counter()
    start = crash_window(data, horizon) if crash_start is None else crash_start
    src = first_hit(data, start) if source is None else source
    graph = cons.probable()
    effects = do_effects(data, graph, src, start, horizon, bootstrap, seed=seed)
    causes = root_causes(data, graph, target, start, horizon, onset)
    return Analysis(
        names=list(names),
        results=results,
        consensus=cons,
        target=target,
        crash_start=start,
        source=src,
        effects=effects,
        causes=causes,
        wall_s={"interventions": time.perf_counter() - t0},
        scm_graph=graph,
    )


def analyze(
    data: FloatArray,
    names: Sequence[str],
    calibration: Calibration,
    target: int,
    max_lag: int = 3,
    alpha: float = 0.05,
    crash_start: int | None = None,
    source: int | None = None,
    horizon: int = 10,
    bootstrap: int = 100,
    seed: int = 0,
) -> Analysis:
    """Methods, consensus and interventions on standardized ``data`` (T, n)."""
    t0 = time.perf_counter()
    results = run_methods(data, max_lag, alpha, seed)
    t1 = time.perf_counter()
    cons = consensus(results, calibration, names)
    t2 = time.perf_counter()
    out = interventions(
        data, names, results, cons, target, crash_start, source, horizon, bootstrap, seed
    )
    out.wall_s.update({"methods": t1 - t0, "consensus": t2 - t1, "total": time.perf_counter() - t0})
    for r in results:
        out.wall_s[r.method] = r.wall_s
    return out


@dataclass(slots=True)
class Score:
    """An analysis of a simulated market scored against its truth."""

    f1: dict[str, float]  # per method and "consensus"
    intervention_mae_rel: float
    root_cause_top1: bool
    mae_rel_true_graph: float = 0.0  # the same error with the SCM fitted on the true graph
    mae_rel_true_scm: float = 0.0  # the same error of the true linear SCM (true coefficients)


def true_target(market: Market) -> int:
    """The asset the first hit moves most (largest |true effect|, the origin excluded)."""
    eff = np.abs(market.true_effects).copy()
    eff[market.origin] = -1.0
    return int(np.argmax(eff))


def score(market: Market, analysis: Analysis) -> Score:
    """F1 per method and consensus, relative do-effect error, root-cause top-1."""
    lags = analysis.consensus.edges.shape[0]
    mask = cross_mask(lags, market.n)
    truth = market.graph[:lags] if market.graph.shape[0] >= lags else market.graph
    f1 = {r.method: f1_score(r.edges, truth, mask)[2] for r in analysis.results}
    f1["consensus"] = f1_score(analysis.consensus.edges, truth, mask)[2]
    est = np.array([e.estimate for e in analysis.effects])
    top = analysis.causes[0][0] if analysis.causes else -1
    horizon = market.spec.horizon
    start, origin = market.crash_start, market.origin
    oracle = fit_scm(market.data, truth).coef
    true_graph = linear_do_effects(oracle, market.data, origin, start, 1, horizon)
    true_scm = linear_do_effects(market.coef, market.raw, origin, start, 1, horizon) / market.scale
    return Score(
        f1,
        relative_effect_error(market, est),
        top == market.origin,
        relative_effect_error(market, true_graph),
        relative_effect_error(market, true_scm),
    )


def relative_effect_error(market: Market, estimate: FloatArray) -> float:
    """``sum |estimate - true| / sum |true|`` over every asset but the origin (one market).

    The mean absolute error of the do-effects relative to their mean absolute size:
    ``mean_k |est_k - true_k| / mean_k |true_k|``, k over the non-origin assets (0 when
    every true effect is 0).
    """
    others = np.arange(market.n) != market.origin
    denom = float(np.abs(market.true_effects[others]).sum())
    if denom <= 0:
        return 0.0
    return float(np.abs(estimate - market.true_effects)[others].sum() / denom)


def oracle_tested_graph(data: FloatArray, truth: BoolArray, z: float) -> BoolArray:
    """The true links that pass a test at ``|t| > z`` when only the true links are tested.

    A floor for the do-effect error (scoring only; it reads the ground truth): each
    series' correctly specified equation (its own lags and its true parents) is fitted
    by the SCM's weighted least squares (:func:`apps.causal.intervene.scm_weights`), and
    a true link is kept when its coefficient's t-statistic exceeds ``z`` in absolute
    value. No false link can enter, so its error is what a method with no false
    positives and this test's recall would reach. ``z = 0`` keeps the whole true graph;
    a huge ``z`` keeps none.
    """
    lags, n, _ = truth.shape
    x = np.hstack([data[lags - tau : len(data) - tau] for tau in range(1, lags + 1)])
    y = data[lags:]
    w = scm_weights(data, truth)
    kept = np.zeros_like(truth, dtype=bool)
    for i in range(n):
        design = equation_design(x, truth, i)
        parents = truth[:, :, i].copy()
        parents[:, i] = True
        cols = np.flatnonzero(parents.reshape(-1))  # index tau*n + j, as in the design
        root = np.sqrt(w[:, i])
        dw, yw = design * root[:, None], y[:, i] * root
        beta, *_ = np.linalg.lstsq(dw, yw, rcond=None)
        resid = yw - dw @ beta
        s2 = float(resid @ resid) / max(1, len(resid) - design.shape[1])
        se = np.sqrt(np.maximum(s2 * np.diag(np.linalg.pinv(dw.T @ dw)), 1e-300))
        t = beta / se
        for col, tv in zip(cols, t[:-1], strict=True):
            tau, j = divmod(int(col), n)
            if j != i and abs(float(tv)) > z:
                kept[tau, j, i] = True
    return kept


def bonferroni_z(n_series: int, lags: int, alpha: float = 0.05) -> float:
    """Two-sided Bonferroni critical value over the ``n * (n - 1) * lags`` candidate links."""
    from scipy.stats import norm

    tests = max(1, n_series * (n_series - 1) * lags)
    return float(norm.isf(alpha / (2 * tests)))


def oracle_tested_error(market: Market, z: float, lags: int | None = None) -> float:
    """:func:`relative_effect_error` of the SCM fitted on :func:`oracle_tested_graph` at ``z``."""
    lags = market.graph.shape[0] if lags is None else lags
    truth = market.graph[:lags]
    graph = oracle_tested_graph(market.data, truth, z)
    coef = fit_scm(market.data, graph).coef
    est = linear_do_effects(
        coef, market.data, market.origin, market.crash_start, 1, market.spec.horizon
    )
    return relative_effect_error(market, est)
