"""The lagged SCM on a known graph recovers do-effects; root causes rank the first hit first."""

from __future__ import annotations

import numpy as np
import pytest

from apps.causal.intervene import (
    do_effects,
    fit_scm,
    huber_weights,
    impulse_responses,
    root_causes,
    scm_weights,
)
from apps.causal.simulate import MarketSpec, simulate_market


def test_fit_and_effects_on_the_true_graph_match_the_simulator() -> None:
    m = simulate_market(MarketSpec(n_series=6, n_steps=3000, seed=2, density=1.5))
    fitted = fit_scm(m.data, m.graph)
    std_coef = m.coef * m.scale[None, :, None] / m.scale[None, None, :]
    assert np.abs(fitted.coef - std_coef).max() < 0.1
    effects = do_effects(m.data, m.graph, m.origin, m.crash_start, m.spec.horizon, bootstrap=40)
    est = np.array([e.estimate for e in effects])
    others = np.arange(m.n) != m.origin
    err = np.abs(est - m.true_effects)[others].sum() / np.abs(m.true_effects[others]).sum()
    assert err < 0.35, err
    moved = int(np.argmax(np.where(others, np.abs(m.true_effects), 0)))
    assert effects[moved].low <= effects[moved].estimate <= effects[moved].high
    assert effects[moved].high - effects[moved].low > 0  # a real interval


def test_impulse_response_of_a_chain() -> None:
    coef = np.zeros((1, 3, 3))
    coef[0, 0, 1] = 0.5
    coef[0, 1, 2] = 0.4
    irf = impulse_responses(coef, 4)
    assert irf[0, 0, 0] == 1 and irf[1, 0, 1] == 0.5 and np.isclose(irf[2, 0, 2], 0.2)


def chain(seed: int, shocks: dict[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    """A 3-series chain 0 -> 1 -> 2 (lag 1, coefficient 0.6) with the given innovations
    replaced (``(t, series): value``), and its true lag-1 graph."""
    rng = np.random.default_rng(seed)
    x = np.zeros((600, 3))
    u = rng.standard_normal(x.shape)
    for (t, i), value in shocks.items():
        u[t, i] = value
    for t in range(1, len(x)):
        x[t] = u[t]
        x[t, 1] += 0.6 * x[t - 1, 0]
        x[t, 2] += 0.6 * x[t - 1, 1]
    graph = np.zeros((1, 3, 3), dtype=bool)
    graph[0, 0, 1] = graph[0, 1, 2] = True
    return x, graph


def test_root_cause_is_the_shocked_series_not_the_mediator() -> None:
    x, graph = chain(0, {(400, 0): -12.0})  # the first hit
    ranked = root_causes(x, graph, target=2, start=400, horizon=5)
    assert ranked[0][0] == 0 and ranked[0][1] < 0


def test_onset_ranks_the_first_hit_above_a_larger_later_shock() -> None:
    # the first hit at the onset, then a later, larger shock of the mediator (forced selling)
    x, graph = chain(1, {(400, 0): -10.0, (402, 1): -30.0})
    assert root_causes(x, graph, target=2, start=400, horizon=6)[0][0] == 1  # whole window
    assert root_causes(x, graph, target=2, start=400, horizon=6, onset=1)[0][0] == 0


def test_huber_weights_discount_a_crash_sized_outlier() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    y = 0.3 * x + rng.normal(scale=0.5, size=400)
    y[10] -= 40.0  # one crash-sized shock on a high-leverage row
    x[10] = 4.0
    design = np.column_stack([x, np.ones_like(x)])
    h = huber_weights(design, y, np.ones_like(y))
    assert h[10] < 0.05 and np.median(h) == 1.0
    ols = np.linalg.lstsq(design, y, rcond=None)[0][0]
    root = np.sqrt(h)
    robust = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0][0]
    assert abs(robust - 0.3) < 0.1 < abs(ols - 0.3)


def test_scm_weights_are_robust_only_when_asked() -> None:
    m = simulate_market(MarketSpec(n_series=4, n_steps=600, seed=3))
    plain = scm_weights(m.data, m.graph, robust=False)
    robust = scm_weights(m.data, m.graph)
    assert (robust <= plain + 1e-12).all() and (robust < plain - 1e-9).any()


def test_oracle_tested_graph_spans_the_true_graph_to_nothing() -> None:
    from apps.causal.analysis import bonferroni_z, oracle_tested_error, oracle_tested_graph

    m = simulate_market(MarketSpec(n_series=5, n_steps=600, seed=4, density=2.0))
    truth = m.graph[:3]
    assert truth.any()
    assert np.array_equal(oracle_tested_graph(m.data, truth, 0.0), truth)
    assert not oracle_tested_graph(m.data, truth, 1e9).any()
    mid = oracle_tested_graph(m.data, truth, bonferroni_z(5, 3))
    assert not (mid & ~truth).any()  # never a false link
    # the floor at z=0 is the true-graph SCM's error; at a huge z, the no-link SCM's
    assert oracle_tested_error(m, 1e9) > oracle_tested_error(m, 0.0)
    assert oracle_tested_error(m, 1e9) == pytest.approx(1.0, abs=1e-9)


def test_bonferroni_z_over_the_candidate_links() -> None:
    from apps.causal.analysis import bonferroni_z

    assert bonferroni_z(5, 3) == pytest.approx(3.34, abs=0.01)  # 60 candidate links
    assert bonferroni_z(30, 3) == pytest.approx(4.27, abs=0.01)  # 2,610 candidate links
    assert bonferroni_z(5, 3, alpha=0.5) < bonferroni_z(5, 3)
