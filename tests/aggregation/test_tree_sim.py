"""The aggregation protocol under the simulator: exact without failures, honest coverage with them."""

from __future__ import annotations

import math
import random

import pytest

from patterns.aggregation.aggregates import AggregateSpec, Summary, merge_all
from patterns.aggregation.node import (
    DEFAULT_SLOT_S,
    AggregateResult,
    AggregationNode,
    PartialMsg,
    Redirect,
    aggregation_codec,
)
from patterns.aggregation.runner import run_tree_sim
from patterns.aggregation.tree import KaryTree
from patterns.core.exceptions import ConfigError
from patterns.net.checkers import BaseChecker, InvariantViolation
from patterns.net.faults import (
    FaultPlan,
    Latency,
    LatencyDistribution,
    RandomCrashes,
    ScheduledCrash,
)
from patterns.net.node import Event
from patterns.net.sim import Simulator


def values_for(n: int) -> list[float]:
    return [float((i * 37) % 101) for i in range(n)]  # integers: sums are exact in floating point


def check_result(result: AggregateResult | None, values: list[float]) -> set[int]:
    """The result's own account must hold: coverage counts the values merged, each once,
    and the summary is the aggregate of exactly those members' values."""
    assert result is not None
    summary = result.summary
    members = summary.members
    assert members is not None
    assert len(members) == len(set(members)) == result.coverage == summary.coverage
    spec = summary.spec
    expected = merge_all(
        spec, (Summary.of(spec, m, values[m], track=True) for m in sorted(members)), track=True
    )
    got, want = summary.moments, expected.moments
    assert (got.count, got.total, got.min, got.max) == (want.count, want.total, want.min, want.max)
    assert got.mean == pytest.approx(want.mean) and got.m2 == pytest.approx(want.m2)
    assert summary.histogram == expected.histogram
    assert summary.ddsketch == expected.ddsketch
    assert summary.hll == expected.hll
    assert summary.topk == expected.topk
    return set(members)


def test_exact_without_failures_1000_nodes() -> None:
    values = values_for(1000)
    report = run_tree_sim(values, k=8, track_members=True)
    assert report.result is not None and report.result.complete
    assert check_result(report.result, values) == set(range(1000))
    assert report.result.summary.moments.total == sum(values)
    assert report.partial_messages == 999 == report.total_messages  # one upward message each
    assert report.depth == 4


N_AGENTS = 1000
FANOUT = 8
# bounded one-way latency, well below the slot: with no loss, re-parenting reaches every live agent
BOUNDED_LATENCY = Latency(0.001, 0.005, LatencyDistribution.UNIFORM)


def seeded_crashes(seed: int, tree: KaryTree) -> FaultPlan:
    """Crashed agents, crash times, restarts and loss, all drawn from ``seed``.

    Crashes hit non-root members only, at least one of them inside the tree (a leaf's
    crash only loses its value), sometimes a parent and its child together (a subtree
    re-parented two levels up). Half the crash times fall before the agent can have sent
    anything, the rest anywhere up to the root's worst-case finish; some agents restart
    (without their value).
    """
    rng = random.Random(seed)
    non_root = tree.members[1:]
    internal = [m for m in non_root if tree.height(m) > 0]
    chosen = set(rng.sample(internal, rng.randint(1, 3)))
    chosen |= set(rng.sample(non_root, rng.randint(0, 3)))
    if rng.random() < 0.5:
        chosen.add(rng.choice(tree.children(rng.choice(sorted(chosen & set(internal))))))
    horizon = 3 * (tree.depth + 1) * DEFAULT_SLOT_S  # first deadline + (depth+1) extensions
    crashes = []
    for node in sorted(chosen):
        if rng.random() < 0.5:
            at = rng.uniform(0.0, BOUNDED_LATENCY.min_s)
        else:
            at = rng.uniform(0.0, horizon)
        restart = at + rng.uniform(0.0, horizon) if rng.random() < 0.3 else None
        crashes.append(ScheduledCrash(node, at, restart))
    loss = rng.choice((0.0, 0.0, 0.02, 0.05))
    return FaultPlan(seed=seed, latency=BOUNDED_LATENCY, loss=loss, scheduled_crashes=crashes)


@pytest.mark.seeds(12)
def test_crashes_and_loss_1000_nodes_coverage_is_honest(sim_seed: int) -> None:
    values = values_for(N_AGENTS)
    tree = KaryTree(range(N_AGENTS), FANOUT)
    plan = seeded_crashes(sim_seed, tree)
    report = run_tree_sim(values, k=FANOUT, plan=plan, track_members=True)
    members = check_result(report.result, values)  # the root never crashes: a result is due
    crashed = {c.node for c in plan.scheduled_crashes}
    # Leaves send at the epoch start; a node of height h sends once its children's partials
    # arrived (at least h one-way latencies later) or at a deadline. Crashed before that, its
    # value never left it (a restart comes back without it), so it cannot be counted.
    unsent = {
        c.node for c in plan.scheduled_crashes if c.at_s < tree.height(c.node) * plan.latency.min_s
    }
    assert not members & unsent
    assert report.coverage <= N_AGENTS - len(unsent)
    if plan.loss == 0:
        # every agent that never crashed is re-parented to a live ancestor and counted
        assert members >= set(range(N_AGENTS)) - crashed


@pytest.mark.seeds(8)
def test_random_crashes_with_restarts(sim_seed: int) -> None:
    values = values_for(300)
    plan = FaultPlan(
        seed=sim_seed,
        loss=0.05,
        crashes=[RandomCrashes(0.5, 0.01, 0.2, max_concurrent=5)],
        fault_tick_s=0.01,
        faults_until_s=0.3,
    )
    report = run_tree_sim(values, k=4, plan=plan, track_members=True)
    check_result(report.result, values)
    assert report.coverage > 0


def test_root_never_waits_forever_even_if_all_children_die() -> None:
    values = values_for(50)
    plan = FaultPlan(scheduled_crashes=[ScheduledCrash(n, 0.0001) for n in range(1, 50)])
    report = run_tree_sim(values, k=3, plan=plan, track_members=True)
    assert report.result is not None
    assert report.coverage == 1 and report.result.summary.members == (0,)


class NoDoubleCount(BaseChecker):
    """Every agent appears at most once in any partial a node forwards (observes events only)."""

    def on_event(self, t: float, node: int, event: Event) -> None:
        if isinstance(event, AggregateResult):
            members = event.summary.members or ()
            if len(members) != len(set(members)):
                raise InvariantViolation(
                    f"agent counted twice in the result of epoch {event.epoch}"
                )


@pytest.mark.seeds(20)
def test_no_agent_counted_twice_with_slow_links(sim_seed: int) -> None:
    # latency close to the slot: partials arrive after redirects were sent
    n = 200
    values = values_for(n)

    def factory(nid: int, rng: object) -> AggregationNode:
        return AggregationNode(
            nid,
            range(n),
            None,
            k=3,
            period_s=5.0,
            slot_s=0.05,
            epochs=2,
            track_members=True,
            value=values[nid],
        )

    plan = FaultPlan(
        seed=sim_seed, latency=Latency(0.001, 0.04, LatencyDistribution.EXPONENTIAL), duplicate=0.1
    )
    sim = Simulator(
        factory,
        range(n),
        plan,
        codec=aggregation_codec(),
        checkers=[NoDoubleCount()],
        wire_check=True,
    )
    sim.run(max_time=12.0)
    root = sim.nodes[0]
    assert isinstance(root, AggregationNode)
    assert set(root.results) == {0, 1}
    for result in root.results.values():
        check_result(result, values)


def test_bad_partials_are_rejected_and_counted() -> None:
    spec = AggregateSpec()
    node = AggregationNode(0, range(10), None, k=3, epochs=1, value=1.0)
    node.start(0.0)
    node.handle_timer(0.0)  # epoch 0 begins
    good = Summary.of(spec, 1, 2.0)
    nan = Summary.of(spec, 2, 1.0)
    import msgspec

    nan = msgspec.structs.replace(nan, moments=msgspec.structs.replace(nan.moments, total=math.nan))
    other = Summary.of(AggregateSpec(hll_p=10), 3, 1.0)
    node.receive(77, PartialMsg(0, good), 0.01)  # not a member
    node.receive(5, PartialMsg(0, good), 0.01)  # a member but not a child of 0
    node.receive(2, PartialMsg(0, nan), 0.01)
    node.receive(3, PartialMsg(0, other), 0.01)
    node.receive(1, PartialMsg(0, good), 0.01)
    node.receive(1, PartialMsg(0, good), 0.01)  # duplicate
    node.receive(4, Redirect(0, 0), 0.01)  # a descendant cannot re-parent us
    r = node.rejected
    assert (r.unknown_sender, r.invalid, r.mismatched, r.duplicate) == (3, 1, 1, 1)
    assert node.rounds[0].acc.moments.total == 3.0  # own 1.0 + child 1's 2.0 only
    with pytest.raises(ConfigError, match="not a finite"):
        node.set_value(math.nan, 0.0)
    with pytest.raises(ConfigError, match="worst-case"):
        AggregationNode(0, range(1000), None, k=2, period_s=0.1, slot_s=0.05)
