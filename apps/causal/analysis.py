"""One analysis end to end (methods -> consensus -> interventions), and its scoring on truth.

The flow runs the same steps as Prefect tasks (methods in parallel); the benchmark and
the CLI call :func:`analyze` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from apps.causal.stats import f1_score, trailing_ewma

if TYPE_CHECKING:
    from apps.causal.settings import CausalSettings


@dataclass(slots=True)
class Analysis:
    """Everything one analysis found."""

    names: list[str]
    results: list[MethodResult]
    consensus: Consensus
    target: int
    crash_start: int | None  # the onset t0 (None: no crash found and none given)
    source: int | None  # the series whose do-intervention is tabled (the first hit)
    effects: list[Effect]
    causes: list[tuple[int, float]]
    wall_s: dict[str, float] = field(default_factory=dict)
    scm_graph: BoolArray | None = None  # the links the SCM was fitted on (None: not fitted)
    onset: Onset | None = None  # how the onset and first hit were chosen (None: not recorded)

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


ONSET_VOL_CAP = 8.0  # a squared return enters the trailing variance capped at (this x robust sd)^2
ONSET_VOL_FLOOR = 0.2  # the trailing sd is kept above this fraction of the series' robust sd
CANDIDATES_SHOWN = 3  # crash candidates listed in the report


@dataclass(frozen=True, slots=True)
class OnsetParams:
    """Knobs of the crash-onset detector (:func:`detect_onset`).

    Attributes:
        window: longest run of steps, ending at the most severe fall, with a threshold
            crossing each (the onset is its first step); also the spacing of candidates.
        ewma: decay of the trailing variance each return is scaled by (RiskMetrics 0.94).
        alpha: significance of the threshold over all ``T x n`` shocks (Bonferroni).
    """

    window: int = 5
    ewma: float = 0.94
    alpha: float = 0.01

    @classmethod
    def from_settings(cls, settings: CausalSettings) -> OnsetParams:
        """The detector's knobs from the ``causal`` settings group (``onset_*``)."""
        return cls(settings.onset_window, settings.onset_ewma, settings.onset_alpha)


@dataclass(frozen=True, slots=True)
class FallEvent:
    """One fall: the step, the series and its shock in trailing standard deviations (< 0)."""

    step: int
    series: int
    shock: float


@dataclass(frozen=True, slots=True)
class Onset:
    """Where the crash starts and which series it hit first, and how that was decided.

    Attributes:
        step: the onset ``t0`` (row of the data), None when no crash was found and none given.
        first_hit: the first-hit series, None likewise.
        found: a crash-like fall (a shock past ``threshold``) exists in the data.
        how: one sentence saying how ``step`` and ``first_hit`` were chosen.
        threshold: the shock (trailing sds) a fall must pass to count as crash-like.
        candidates: the most severe distinct falls, worst first (passing or not).
    """

    step: int | None
    first_hit: int | None
    found: bool
    how: str
    threshold: float
    candidates: tuple[FallEvent, ...] = ()


def fall_shocks(
    data: FloatArray, ewma: float = 0.94, rise_is_fall: Sequence[int] = ()
) -> FloatArray:
    """Each return in standard deviations of its series' trailing volatility (falls < 0).

    The volatility of step ``t`` is the exponentially weighted variance of the returns
    before ``t`` (RiskMetrics, J.P. Morgan 1996, decay ``ewma``), started at the series'
    robust variance (1.4826 MAD, which one crash cannot inflate), each squared return
    capped at ``ONSET_VOL_CAP`` robust sds so that one crash does not hide the falls
    that follow it; a jump statistic in the spirit of Lee & Mykland (2008) with a trailing scale.
    Series in ``rise_is_fall`` (unemployment, spreads, volatility) are negated first.
    """
    x = np.array(data, dtype=float)
    if rise_is_fall:
        x[:, list(rise_is_fall)] *= -1.0
    robust = 1.4826 * np.median(np.abs(x - np.median(x, axis=0)), axis=0)
    robust = np.where(robust > 0, robust, np.maximum(x.std(axis=0), 1e-12))
    cap = (ONSET_VOL_CAP * robust) ** 2
    sd = np.sqrt(trailing_ewma(np.minimum(x**2, cap), ewma, robust**2))
    out: FloatArray = x / np.maximum(sd, ONSET_VOL_FLOOR * robust)
    return out


def shock_threshold(n_shocks: int, params: OnsetParams) -> float:
    """The fall (trailing sds) that no shock of a calm market should pass.

    Bonferroni over ``n_shocks`` at level ``alpha``, with Student-t tails of
    ``(1 + ewma) / (1 - ewma)`` degrees of freedom (the effective sample of the trailing
    variance, so a scale estimated from few returns is not taken for a crash): about
    5.7 for 1,000 steps of 8 series at the defaults.
    """
    from scipy.stats import t as student_t

    nu = (1.0 + params.ewma) / (1.0 - params.ewma)
    return float(student_t.isf(params.alpha / max(1, n_shocks), nu))


def fall_events(shocks: FloatArray, spacing: int, count: int) -> list[FallEvent]:
    """The ``count`` most severe falls, worst first, at least ``spacing`` steps apart."""
    worst = shocks.min(axis=1)
    events: list[FallEvent] = []
    for t in np.argsort(worst, kind="stable"):
        if worst[t] >= 0 or len(events) == count:
            break
        if all(abs(int(t) - e.step) >= spacing for e in events):
            events.append(FallEvent(int(t), int(np.argmin(shocks[t])), float(worst[t])))
    return events


def detect_onset(
    data: FloatArray,
    names: Sequence[str],
    params: OnsetParams | None = None,
    onset: int | None = None,
    first_hit: int | None = None,
    rise_is_fall: Sequence[int] = (),
    given_by: str = "the user",
) -> Onset:
    """The crash onset and first hit of standardized returns ``data`` (T, n), never read
    from a ground truth: a crash is an abrupt fall, a shock past :func:`shock_threshold`.

    1. Every return is scaled by its series' trailing volatility (:func:`fall_shocks`).
    2. The crash is the most severe fall; when none passes the threshold there is no
       crash-like event and both stay None (unless given).
    3. The onset is the first step of the unbroken run of steps (at most ``window``) up
       to that fall at which some series' shock passes the threshold (a fall already
       under way, smaller, started it); the first hit is the series that passed it there
       (the largest fall if several did).

    ``onset`` and ``first_hit`` (indices) override the detection: an onset alone takes
    the largest fall at that step as the first hit; a first hit alone takes its own
    most severe fall as the onset. ``how`` says which was done.
    """
    params = params or OnsetParams()
    steps, n = data.shape
    if onset is not None and not 0 <= onset < steps:
        raise InputDataError(f"onset step {onset} is outside the data's rows 0..{steps - 1}")
    if first_hit is not None and not 0 <= first_hit < n:
        raise InputDataError(f"first-hit index {first_hit} out of range 0..{n - 1}")
    shocks = fall_shocks(data, params.ewma, rise_is_fall)
    threshold = shock_threshold(steps * n, params)
    events = fall_events(shocks, params.window, CANDIDATES_SHOWN)
    found = bool(events) and events[0].shock <= -threshold
    rule = f"a shock past -{threshold:.2f} trailing sds"
    if onset is not None and first_hit is not None:
        how = f"onset and first hit given by {given_by}"
        return Onset(onset, first_hit, found, how, threshold, tuple(events))
    if onset is not None:
        src = int(np.argmin(shocks[onset]))
        how = (
            f"onset given by {given_by}; first hit: the largest fall at that step "
            f"({shocks[onset, src]:.2f} trailing sds"
            + (", but no series fell there" if shocks[onset, src] >= 0 else "")
            + ")"
        )
        return Onset(onset, src, found, how, threshold, tuple(events))
    if first_hit is not None:
        t0 = int(np.argmin(shocks[:, first_hit]))
        how = (
            f"first hit given by {given_by}; onset: its most severe fall "
            f"({shocks[t0, first_hit]:.2f} trailing sds)"
        )
        return Onset(t0, first_hit, found, how, threshold, tuple(events))
    if not found:
        worst = events[0] if events else None
        largest = (
            f"; the largest fall is {names[worst.series]} at step {worst.step} "
            f"({worst.shock:.2f} trailing sds)"
            if worst
            else ""
        )
        how = f"no crash found: no series fell by {rule[2:]}{largest}"
        return Onset(None, None, False, how, threshold, tuple(events))
    crash = events[0]
    crossed: BoolArray = np.asarray((shocks <= -threshold).any(axis=1))
    t0 = crash.step
    while t0 > max(0, crash.step - params.window + 1) and crossed[t0 - 1]:
        t0 -= 1  # the fall was already under way: an unbroken run of crossings
    src = int(np.argmin(np.where(shocks[t0] <= -threshold, shocks[t0], np.inf)))
    how = (
        f"detected: the most severe fall is {names[crash.series]} at step {crash.step} "
        f"({crash.shock:.2f} trailing sds); the onset is the first step of the unbroken "
        f"run of steps (at most {params.window}) up to it with {rule}, and the first hit "
        f"the series that passed it there ({shocks[t0, src]:.2f})"
    )
    return Onset(t0, src, True, how, threshold, tuple(events))


def resolve_series(names: Sequence[str], name: str | int | None, what: str) -> int | None:
    """The index of a series given by name or index (None stays None)."""
    if name is None:
        return None
    if isinstance(name, int):
        if not 0 <= name < len(names):
            raise InputDataError(f"{what} index {name} out of range 0..{len(names) - 1}")
        return name
    if name not in names:
        raise InputDataError(f"{what} {name!r} is not a column; columns are {list(names)}", name)
    return list(names).index(name)


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
    *,
    detector: OnsetParams | None = None,
    rise_is_fall: Sequence[int] = (),
    given_by: str = "the user",
) -> Analysis:
    """The intervention step (do-effects of the first hit, root causes).

    The crash onset ``t0`` and the first hit are ``crash_start`` and ``source`` when
    given, else detected from the returns (:func:`detect_onset`, with ``detector``'s
    knobs and ``rise_is_fall`` series negated); ``given_by`` names who gave them in the
    report. With no crash found and none given, no do-effects or root causes are
    computed (empty lists) and ``Analysis.onset.how`` says so.

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
    crash = detect_onset(data, names, detector, crash_start, source, rise_is_fall, given_by)
    start, src = crash.step, crash.first_hit
    graph = cons.probable()
    effects: list[Effect] = []
    causes: list[tuple[int, float]] = []
    if start is not None and src is not None:
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
        onset=crash,
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
    *,
    detector: OnsetParams | None = None,
    rise_is_fall: Sequence[int] = (),
    given_by: str = "the user",
) -> Analysis:
    """Methods, consensus and interventions on standardized ``data`` (T, n).

    ``crash_start`` and ``source`` (the onset and first hit) are detected when None;
    see :func:`interventions`.
    """
    t0 = time.perf_counter()
    results = run_methods(data, max_lag, alpha, seed)
    t1 = time.perf_counter()
    cons = consensus(results, calibration, names)
    t2 = time.perf_counter()
    out = interventions(
        data,
        names,
        results,
        cons,
        target,
        crash_start,
        source,
        horizon,
        bootstrap,
        seed,
        detector=detector,
        rise_is_fall=rise_is_fall,
        given_by=given_by,
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


@dataclass(frozen=True, slots=True)
class CrashChoice:
    """The user's say on the crash: onset row, first-hit index, series whose rise is a fall."""

    onset: int | None = None
    first_hit: int | None = None
    rise_is_fall: tuple[int, ...] = ()


def resolve_crash_choice(
    names: Sequence[str],
    times: Sequence[str],
    onset: str | int | None = None,
    first_hit: str | int | None = None,
    rise_is_fall: Sequence[str | int] = (),
) -> CrashChoice:
    """Turn names and labels into indices, each error naming what was wrong.

    ``onset`` is a time label of the table (``2008Q3``, ``700``) or else a row number
    (0-based, of the returns); ``first_hit`` and ``rise_is_fall`` name columns.
    """
    step: int | None = None
    if onset is not None:
        labels = [str(v) for v in times]
        if not labels:
            raise InputDataError(f"onset {onset!r} given for data with no rows")
        if str(onset) in labels:
            step = labels.index(str(onset))
        else:
            try:
                step = int(onset)
            except ValueError:
                raise InputDataError(
                    f"onset {onset!r} is neither a time label of the data "
                    f"({labels[0]!r} .. {labels[-1]!r}) nor a row number"
                ) from None
            if not 0 <= step < len(labels):
                raise InputDataError(
                    f"onset row {step} is outside the data's rows 0..{len(labels) - 1}"
                )
    src = resolve_series(names, first_hit, "first hit")
    inverted: list[int] = []
    for r in rise_is_fall:
        k = resolve_series(names, r, "rise-is-fall series")
        if k is not None:
            inverted.append(k)
    return CrashChoice(step, src, tuple(inverted))
