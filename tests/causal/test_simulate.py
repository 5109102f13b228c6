"""The simulator's truth matches its own equations."""

from __future__ import annotations

import numpy as np
import pytest

from apps.causal.simulate import (
    MarketSpec,
    linear_do_effects,
    simulate_market,
    spectral_radius,
    varsortability,
)


def _standardized(market):  # coefficients in the units of market.data
    return market.coef * market.scale[None, :, None] / market.scale[None, None, :]


@pytest.mark.seeds(3)
def test_graph_is_support_of_coefficients_without_own_lags(sim_seed: int) -> None:
    m = simulate_market(MarketSpec(n_series=8, n_steps=600, seed=sim_seed))
    expect = m.coef != 0
    for tau in range(m.spec.max_lag):
        np.fill_diagonal(expect[tau], False)
    assert (m.graph == expect).all()
    assert m.graph.any(axis=0).sum(axis=1)[m.origin] > 0  # the first hit has a child
    assert spectral_radius(m.coef) <= 0.9 + 1e-9


@pytest.mark.seeds(3)
def test_true_effects_equal_linear_propagation_when_the_market_is_linear(sim_seed: int) -> None:
    # no volatility feedback, no spiral: the do-effect is exactly the SCM's linear propagation
    spec = MarketSpec(
        n_series=6, n_steps=500, seed=sim_seed, garch=(0.0, 0.0, 0.0), spiral_rate=0.0
    )
    m = simulate_market(spec, replications=20)
    linear = linear_do_effects(_standardized(m), m.data, m.origin, m.crash_start, 1, spec.horizon)
    # the origin's observed value is centred in m.data: add the mean back for the forced step
    shift = m.raw.mean(axis=0)[m.origin] / m.scale[m.origin]
    linear_raw = linear_do_effects(
        _standardized(m),
        m.data + np.where(np.arange(m.n) == m.origin, shift, 0.0),
        m.origin,
        m.crash_start,
        1,
        spec.horizon,
    )
    assert np.allclose(m.true_effects, linear_raw, atol=1e-9)
    assert not np.allclose(linear, 0.0)


def test_crash_is_visible_and_spiral_adds_to_the_fall() -> None:
    spec = MarketSpec(n_series=6, n_steps=500, seed=4)
    m = simulate_market(spec)
    assert m.data[m.crash_start, m.origin] < -3  # the first hit is a large fall
    quiet = simulate_market(MarketSpec(n_series=6, n_steps=500, seed=4, spiral_rate=0.0))
    assert m.true_effects[m.origin] <= quiet.true_effects[m.origin] + 1e-9


def test_same_seed_same_market_and_standardized_data() -> None:
    a = simulate_market(MarketSpec(n_series=5, n_steps=300, seed=11))
    b = simulate_market(MarketSpec(n_series=5, n_steps=300, seed=11))
    assert np.array_equal(a.data, b.data) and np.array_equal(a.true_effects, b.true_effects)
    assert np.allclose(a.data.std(axis=0), 1.0) and np.allclose(a.data.mean(axis=0), 0.0)
    assert a.varsortability == 0.5


def test_varsortability_counts_links_whose_target_varies_more() -> None:
    graph = np.zeros((1, 3, 3), dtype=bool)
    graph[0, 0, 1] = graph[0, 1, 2] = True  # 0 -> 1 -> 2
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2000, 3)) * np.array([1.0, 2.0, 3.0])
    assert varsortability(data, graph) == 1.0
    assert varsortability(data[:, ::-1].copy(), graph) == 0.0


def test_bad_spec_is_refused_with_the_field() -> None:
    with pytest.raises(ValueError, match="n_series"):
        MarketSpec(n_series=1)
    with pytest.raises(ValueError, match="df"):
        MarketSpec(df=2.0)
