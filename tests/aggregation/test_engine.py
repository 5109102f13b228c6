"""The vectorized engine equals the node-by-node merge, level by level."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patterns.aggregation.aggregates import AggregateSpec, HistogramSpec, Summary, merge_all
from patterns.aggregation.baselines import flat_to_root, push_sum
from patterns.aggregation.engine import aggregate_vectorized, level_bounds
from patterns.aggregation.exceptions import InvalidValueError
from patterns.aggregation.tree import KaryTree, tree_depth
from patterns.core.exceptions import ConfigError

SPEC = AggregateSpec(HistogramSpec(0.0, 100.0, 16), 0.01, 10, 5)


def reference(values: np.ndarray, alive: np.ndarray | None = None) -> Summary:
    ids = range(len(values)) if alive is None else np.flatnonzero(alive)
    return merge_all(SPEC, [Summary.of(SPEC, int(i), float(values[i])) for i in ids])


@pytest.mark.parametrize("n,k", [(1, 2), (2, 2), (17, 4), (300, 3), (1000, 16), (4097, 8)])
def test_engine_matches_scalar_merge(n: int, k: int) -> None:
    rng = np.random.default_rng(n)
    values = np.round(rng.lognormal(3, 1, n), 3)
    values[::7] *= -1
    values[::11] = 0.0
    res = aggregate_vectorized(values, k, SPEC)
    ref = reference(values)
    m, r = res.summary.moments, ref.moments
    assert (m.count, m.min, m.max) == (r.count, r.min, r.max)
    assert math.isclose(m.total, r.total, rel_tol=1e-9)
    assert math.isclose(m.m2, r.m2, rel_tol=1e-9, abs_tol=1e-9)
    assert res.summary.histogram == ref.histogram
    assert res.summary.ddsketch == ref.ddsketch
    assert res.summary.hll == ref.hll
    assert res.summary.topk == ref.topk
    assert res.messages == n - 1
    assert res.depth == KaryTree(range(n), k).depth == tree_depth(n, k)
    assert sum(res.level_sizes) == n


def test_ties_in_topk_break_by_agent_id() -> None:
    values = np.array([5.0] * 40 + [1.0] * 10)
    res = aggregate_vectorized(values, 3, SPEC)
    assert res.summary.topk == reference(values).topk
    assert res.summary.topk is not None
    assert [a for _, a in res.summary.topk.items] == [0, 1, 2, 3, 4]


def test_dead_agents_are_left_out_and_redirects_counted() -> None:
    n, k = 500, 4
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 100, n)
    alive = rng.random(n) > 0.1
    alive[0] = True
    res = aggregate_vectorized(values, k, SPEC, alive=alive)
    ref = reference(values, alive)
    assert res.coverage == int(alive.sum()) == res.summary.moments.count
    assert math.isclose(res.summary.moments.total, ref.moments.total, rel_tol=1e-9)
    assert res.summary.histogram == ref.histogram and res.summary.topk == ref.topk
    assert res.summary.ddsketch == ref.ddsketch and res.summary.hll == ref.hll
    tree = KaryTree(range(n), k)
    dead = [i for i in range(1, n) if not alive[i]]
    assert res.redirects == sum(len(tree.children(d)) + 1 for d in dead)
    assert res.messages == int(alive[1:].sum()) + res.redirects


def test_level_bounds_partition_the_agents() -> None:
    assert level_bounds(1, 4) == [(0, 1)]
    assert level_bounds(22, 4) == [(0, 1), (1, 5), (5, 21), (21, 22)]


def test_bad_input_is_named() -> None:
    with pytest.raises(InvalidValueError, match="agent 2"):
        aggregate_vectorized([1.0, 2.0, math.nan, math.inf], 4)
    with pytest.raises(InvalidValueError, match=r"2 agent value\(s\).*first: agent 1 = -2e\+200"):
        aggregate_vectorized([1.0, -2e200, 3.0, 1e151], 4)  # finite, but squares overflow
    with pytest.raises(InvalidValueError, match="beyond"):
        flat_to_root([1.0, 1e300])
    wide = aggregate_vectorized([1e150, -1e150, 0.0], 4).summary.moments
    assert math.isfinite(wide.variance) and wide.variance > 0
    with pytest.raises(ConfigError, match="fanout"):
        aggregate_vectorized([1.0], 1)
    with pytest.raises(ConfigError, match="1-D"):
        aggregate_vectorized(np.ones((2, 2)), 4)
    with pytest.raises(ConfigError, match="alive"):
        aggregate_vectorized([1.0, 2.0], 4, alive=[True])


def test_baselines_agree_on_the_mean() -> None:
    values = np.random.default_rng(5).normal(10, 3, 5000)
    flat = flat_to_root(values)
    gossip = push_sum(values, rel_tol=1e-4, seed=1)
    assert flat.root_messages == 4999 and flat.total_messages == 4999
    assert math.isclose(flat.mean, float(values.mean()), rel_tol=1e-12)
    assert abs(gossip.mean - float(values.mean())) <= 1e-4 * abs(float(values.mean())) * 2
    assert gossip.total_messages == gossip.rounds * 5000
    assert 10 <= gossip.rounds <= 80


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_parts_on_threads_give_the_same_summary(threads: int) -> None:
    rng = np.random.default_rng(11)
    values = np.round(rng.normal(40, 30, 20_011), 2)
    alive = rng.random(values.size) > 0.05
    alive[0] = True
    res = aggregate_vectorized(values, 7, SPEC, alive=alive, threads=threads)
    ref = reference(values, alive)
    assert res.summary.histogram == ref.histogram and res.summary.topk == ref.topk
    assert res.summary.ddsketch == ref.ddsketch and res.summary.hll == ref.hll
    assert math.isclose(res.summary.moments.m2, ref.moments.m2, rel_tol=1e-9)


def test_bad_fanouts_keys_and_parts_are_named_not_hung_or_misread() -> None:
    for k in (0, -1, 1):
        with pytest.raises(ConfigError, match="fanout"):
            tree_depth(5, k)  # k <= 0 used to loop forever
    values = np.arange(10, dtype=np.float64)
    with pytest.raises(ConfigError, match=r"keys has shape \(100000,\), expected \(10,\)"):
        aggregate_vectorized(values, 4, keys=np.arange(100_000))  # was read past its end
    with pytest.raises(ConfigError, match="keys must be integers"):
        aggregate_vectorized(values, 4, keys=np.linspace(0.1, 0.4, 10))  # was truncated
    with pytest.raises(ConfigError, match="unknown summary part"):
        aggregate_vectorized(values, 4, parts=frozenset({"hyperloglog"}))  # dropped every sketch
    keys = np.arange(10, dtype=np.int64) % 4
    assert aggregate_vectorized(values, 4, keys=keys).summary.hll is not None


def test_the_task_names_empty_values_and_a_bad_dead_fraction() -> None:
    from tasks.aggregation import tree_aggregate

    with pytest.raises(ConfigError, match="at least one agent"):
        tree_aggregate.fn([])
    for bad in (float("nan"), -1.0, 5.0):
        with pytest.raises(ConfigError, match="dead_fraction"):
            tree_aggregate.fn([1.0, 2.0, 3.0], dead_fraction=bad)
