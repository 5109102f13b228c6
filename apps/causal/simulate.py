"""A seeded market-crash simulator with a known lagged causal graph and known do-effects.

The market is a structural VAR over ``n`` asset returns (Lütkepohl, *New Introduction to
Multiple Time Series Analysis*, ch. 2) with three crash mechanisms:

* heavy tails: Student-t shocks (``df`` degrees of freedom) scaled to unit variance;
* volatility feedback: a GJR-GARCH(1,1) variance per asset in which falls raise the next
  step's variance more than rises (Glosten, Jagannathan & Runkle 1993);
* a crash regime: the first-hit asset takes one large negative shock, then
  contagion travels along the lagged links, and a liquidity spiral adds forced selling to
  any asset whose drawdown since the crash start passes a threshold (Brunnermeier &
  Pedersen 2009), for a limited window.

The ground truth comes from the simulator's own equations: the lagged graph is the
support of the coefficient arrays, and the true intervention effects are the differences
between two runs with the same shocks, one of them under ``do(origin return = 0)`` over
the first hit. The returned data are standardized (each series divided by its
standard deviation) and varsortability (Reisach, Seiler & Weichwald 2021) is reported
before and after, so no method can win by reading variances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

MAX_SPECTRAL_RADIUS = 0.9  # the companion matrix is scaled below this: a stationary VAR
MAX_VARIANCE_RATIO = 25.0  # cap of the GARCH variance multiplier (keeps a crash finite)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """What to simulate.

    Attributes:
        n_series: number of assets (2..200).
        n_steps: returns kept (after burn-in).
        max_lag: largest lag of a causal link, steps.
        density: expected number of lagged cross-asset parents per asset.
        df: degrees of freedom of the Student-t shocks (> 2).
        crash_size: the first hit: a negative shock of this many of the origin's standard deviations.
        crash_at: where the crash starts, as a fraction of ``n_steps``.
        horizon: steps over which intervention effects are summed (from the crash start).
        garch: (alpha, gamma, beta) of the GJR-GARCH variance.
        spiral_threshold: drawdown (own standard deviations) that triggers forced selling.
        spiral_rate: forced selling per step, as a fraction of the drawdown past the threshold.
        spiral_steps: how long after the crash start the spiral can act, steps.
        seed: the one seed of the whole market.
    """

    n_series: int = 10
    n_steps: int = 1000
    max_lag: int = 3
    density: float = 1.5
    df: float = 4.0
    crash_size: float = 8.0
    crash_at: float = 0.7
    horizon: int = 10
    garch: tuple[float, float, float] = (0.05, 0.08, 0.85)
    spiral_threshold: float = 4.0
    spiral_rate: float = 0.03
    spiral_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.n_series <= 200:
            raise ValueError(f"n_series must be in 2..200, got {self.n_series}")
        if self.n_steps < 50 * self.max_lag or self.n_steps < 100:
            raise ValueError(f"n_steps={self.n_steps} is too short for max_lag={self.max_lag}")
        if not 1 <= self.max_lag <= 10:
            raise ValueError(f"max_lag must be in 1..10, got {self.max_lag}")
        if self.df <= 2:
            raise ValueError(f"df must be > 2 (finite variance), got {self.df}")
        if not 0.1 <= self.crash_at <= 0.95:
            raise ValueError(f"crash_at must be in [0.1, 0.95], got {self.crash_at}")


@dataclass(slots=True)
class Market:
    """A simulated market and its ground truth.

    Attributes:
        spec: what was simulated.
        names: asset names, ``A00``...
        data: standardized returns, shape (n_steps, n_series).
        raw: returns before standardization.
        scale: the standard deviation each raw series was divided by.
        coef: true lagged coefficients, shape (max_lag, n, n): ``coef[tau-1, j, i]`` is the
            effect of asset j at t-tau on asset i at t (raw units).
        graph: true lagged cross-asset graph, ``coef != 0`` with the diagonal (own lags) removed.
        origin: index of the first-hit asset.
        crash_start: the step of the first hit (index into ``data``).
        true_effects: per asset, the true total effect (standardized units) of the origin's
            first-hit return on the asset's cumulative return over ``horizon`` steps: actual
            minus ``do(origin return = 0 at the crash start)``, averaged over shock draws.
        varsortability_raw: varsortability of the raw returns.
        varsortability: varsortability of the standardized data (0.5 means uninformative).
    """

    spec: MarketSpec
    names: list[str]
    data: FloatArray
    raw: FloatArray
    scale: FloatArray
    coef: FloatArray
    graph: BoolArray
    origin: int
    crash_start: int
    true_effects: FloatArray
    varsortability_raw: float
    varsortability: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of assets."""
        return len(self.names)


def random_graph(spec: MarketSpec, rng: np.random.Generator) -> FloatArray:
    """Random stable lagged coefficients: own lag-1 terms plus Poisson(density) cross parents."""
    n, lags = spec.n_series, spec.max_lag
    coef = np.zeros((lags, n, n))
    for i in range(n):
        coef[0, i, i] = rng.uniform(0.05, 0.3) * rng.choice([-1.0, 1.0])
        k = min(n - 1, int(rng.poisson(spec.density)))
        sources = rng.choice([j for j in range(n) if j != i], size=k, replace=False)
        for j in sources:
            tau = int(rng.integers(1, lags + 1))
            sign = 1.0 if rng.random() < 0.75 else -1.0  # contagion is mostly same-signed
            coef[tau - 1, j, i] = sign * rng.uniform(0.06, 0.3)
    radius = spectral_radius(coef)
    if radius > MAX_SPECTRAL_RADIUS:
        coef *= MAX_SPECTRAL_RADIUS / radius
    return coef


def spectral_radius(coef: FloatArray) -> float:
    """Largest eigenvalue modulus of the VAR companion matrix of ``coef`` (L, n, n)."""
    lags, n, _ = coef.shape
    companion = np.zeros((lags * n, lags * n))
    for tau in range(lags):
        companion[:n, tau * n : (tau + 1) * n] = coef[tau].T  # rows: targets
    if lags > 1:
        companion[n:, :-n] = np.eye((lags - 1) * n)
    return float(np.max(np.abs(np.linalg.eigvals(companion))))


def varsortability(data: FloatArray, graph: BoolArray) -> float:
    """Fraction of causal links whose target has the larger variance (ties count 1/2).

    Reisach, Seiler & Weichwald (2021), "Beware of the simulated DAG!", §3, on the summary
    graph of the lagged links (source j -> target i at any lag, j != i). 0.5 when variances
    say nothing about the direction; near 1 when sorting by variance finds the order.
    """
    var = data.var(axis=0)
    summary: BoolArray = np.asarray(graph.any(axis=0))
    np.fill_diagonal(summary, False)
    src, tgt = np.nonzero(summary)
    if len(src) == 0:
        return 0.5
    diff = var[tgt] - var[src]
    tol = 1e-9 * max(1.0, float(var.max()))
    return float(np.mean(np.where(np.abs(diff) <= tol, 0.5, (diff > 0).astype(float))))


class _State:
    """The simulator's state over a batch of paths: returns so far, GARCH variances, drawdowns."""

    def __init__(self, returns: FloatArray, h: FloatArray, drawdown: FloatArray) -> None:
        self.returns = returns  # (steps, batch, n)
        self.h = h  # (batch, n)
        self.drawdown = drawdown  # (batch, n), cumulative return since the crash start


def _advance(
    spec: MarketSpec,
    coef: FloatArray,
    sigma: FloatArray,
    state: _State,
    shocks: FloatArray,
    t: int,
    start: int,
    origin: int,
    do_zero: BoolArray | None = None,
) -> None:
    """Step ``t`` of every path in ``state`` under ``shocks`` (batch, n).

    At ``t == start`` the origin takes the first hit; paths flagged in ``do_zero`` have the
    origin's return forced to 0 there instead (the do-intervention).
    """
    r = state.returns
    a, g, b = spec.garch
    omega = 1.0 - a - g / 2 - b
    z_prev = r[t - 1] / sigma
    state.h = np.minimum(
        omega + (a + g * (z_prev < 0)) * z_prev**2 + b * state.h, MAX_VARIANCE_RATIO
    )
    x = sigma * np.sqrt(state.h) * shocks  # GJR-GARCH(1,1) volatility feedback
    for tau in range(1, spec.max_lag + 1):
        x += r[t - tau] @ coef[tau - 1]
    if start < t < start + spec.spiral_steps:  # liquidity spiral: forced selling on a deep drawdown
        past = np.maximum(0.0, -state.drawdown / sigma - spec.spiral_threshold)
        x -= spec.spiral_rate * past * sigma
    if t == start:
        x[:, origin] -= spec.crash_size * sigma[origin]
        if do_zero is not None:
            x[do_zero, origin] = 0.0  # do(origin return = 0)
    r[t] = x
    if t >= start:
        state.drawdown = state.drawdown + x


def simulate_market(spec: MarketSpec, replications: int = 2000) -> Market:
    """Simulate one market: returns, the true lagged graph and the true do-effects.

    The first-hit asset (``origin``) is drawn among the assets with at least one child.
    The true effect of ``do(origin return = 0 at the crash start)`` is the mean, over
    ``replications`` draws of the shocks after the crash start, of actual minus
    intervened cumulative returns over ``horizon`` steps, both arms of a draw sharing
    the same shocks (common random numbers); the history up to the crash is the
    observed one. GARCH noise has mean zero in both arms, so what remains is the linear
    propagation plus the liquidity spiral's non-linear part.
    """
    rng = np.random.default_rng(spec.seed)
    n, lags = spec.n_series, spec.max_lag
    coef = random_graph(spec, rng)
    graph = coef != 0
    for tau in range(lags):
        np.fill_diagonal(graph[tau], False)
    sigma = np.exp(rng.normal(0.0, 0.5, size=n)) * 0.01  # heterogeneous daily volatilities
    burn = 200
    steps = spec.n_steps + burn
    shocks = _t_shocks(rng, spec.df, (steps, 1, n))
    out_degree = graph.any(axis=0).sum(axis=1)
    candidates = np.flatnonzero(out_degree > 0)
    origin = int(rng.choice(candidates)) if len(candidates) else 0
    start = burn + int(spec.crash_at * spec.n_steps)
    state = _State(np.zeros((steps, 1, n)), np.ones((1, n)), np.zeros((1, n)))
    saved: tuple[FloatArray, FloatArray] | None = None
    for t in range(lags, steps):
        if t == start:
            saved = (state.returns[t - lags : t, 0].copy(), state.h[0].copy())
        _advance(spec, coef, sigma, state, shocks[t], t, start, origin)
    raw = state.returns[burn:, 0]
    scale = raw.std(axis=0)
    scale[scale == 0] = 1.0
    if saved is None:  # pragma: no cover - start is always inside the run (crash_at <= 0.95)
        raise AssertionError("the crash start is outside the simulated steps")
    effects = _true_effects(spec, coef, sigma, saved, shocks[start, 0], origin, replications, rng)
    data = (raw - raw.mean(axis=0)) / scale
    return Market(
        spec=spec,
        names=[f"A{i:02d}" for i in range(n)],
        data=data,
        raw=raw,
        scale=scale,
        coef=coef,
        graph=graph,
        origin=origin,
        crash_start=start - burn,
        true_effects=effects / scale,
        varsortability_raw=varsortability(raw, graph),
        varsortability=varsortability(data, graph),
    )


def _t_shocks(rng: np.random.Generator, df: float, shape: tuple[int, ...]) -> FloatArray:
    """Student-t shocks scaled to unit variance."""
    out: FloatArray = rng.standard_t(df, size=shape) / np.sqrt(df / (df - 2))
    return out


def _true_effects(
    spec: MarketSpec,
    coef: FloatArray,
    sigma: FloatArray,
    saved: tuple[FloatArray, FloatArray],
    first_shock: FloatArray,
    origin: int,
    replications: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Mean (actual - do) cumulative return per asset over the horizon, raw units."""
    lags, n = spec.max_lag, spec.n_series
    history, h = saved
    batch = 2 * replications
    returns = np.zeros((lags + spec.horizon, batch, n))
    returns[:lags] = history[:, None, :]
    state = _State(returns, np.repeat(h[None, :], batch, axis=0), np.zeros((batch, n)))
    do_zero = np.arange(batch) >= replications
    for k in range(spec.horizon):
        if k == 0:
            step_shocks = np.repeat(first_shock[None, :], batch, axis=0)
        else:
            draw = _t_shocks(rng, spec.df, (replications, n))
            step_shocks = np.concatenate([draw, draw])  # common random numbers
        _advance(spec, coef, sigma, state, step_shocks, lags + k, lags, origin, do_zero)
    total = state.returns[lags:].sum(axis=0)
    diff: FloatArray = (total[:replications] - total[replications:]).mean(axis=0)
    return diff


def linear_do_effects(
    coef: FloatArray, data: FloatArray, source: int, start: int, steps: int, horizon: int
) -> FloatArray:
    """Total effect on every series of ``do(source = 0)`` over ``[start, start+steps)``.

    The difference actual minus counterfactual propagated through the lagged linear SCM
    ``coef`` (L, n, n): the forced difference is the observed value of ``source`` in the
    window, and every difference after it follows the SCM. Summed over ``horizon`` steps
    from ``start``; in the units of ``data``.
    """
    lags, n, _ = coef.shape
    delta = np.zeros((horizon + lags, n))
    for h in range(horizon):
        row = h + lags
        for tau in range(1, lags + 1):
            delta[row] += delta[row - tau] @ coef[tau - 1]
        if h < steps:
            delta[row, source] = data[start + h, source]
    out: FloatArray = delta[lags:].sum(axis=0)
    return out
