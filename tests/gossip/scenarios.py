"""Seeded fault schedules for gossip replication, and a runner that checks convergence and loss."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial

import msgspec

from patterns.gossip.checkers import ConvergenceChecker, ConvergenceWatch, NothingLostChecker
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import (
    ClockSkew,
    FaultPlan,
    Latency,
    PartitionMode,
    RandomCrashes,
    RandomPartitions,
    ScheduledCrash,
    ScheduledPartition,
)
from patterns.net.sim import Simulator

CODEC = gossip_codec()
SETTINGS = GossipSettings()


@dataclass
class Scenario:
    """One schedule: cluster size, writers, edits over time and the fault plan."""

    nodes: int
    plan: FaultPlan
    writers: list[int]
    edits_per_writer: int
    edit_window_s: float
    settings: GossipSettings = field(default_factory=lambda: SETTINGS)
    max_time_s: float = 60.0

    @property
    def quiet_s(self) -> float:
        """When every fault and every edit is over."""
        plan = self.plan
        t = max(self.edit_window_s, plan.faults_until_s or 0.0)
        for sp in plan.scheduled_partitions:
            t = max(t, sp.at_s + sp.duration_s)
        for sc in plan.scheduled_crashes:
            t = max(t, sc.restart_at_s or sc.at_s)
        if plan.crashes:
            t += max(c.max_down_s for c in plan.crashes)
        if plan.partitions:
            t += max(p.max_duration_s for p in plan.partitions)
        return t


@dataclass
class Outcome:
    """What a run did, for assertions beyond the checkers."""

    sim: Simulator
    lost: NothingLostChecker
    converged_at: float
    edits_made: int  # scheduled
    edits_skipped: int = 0  # scheduled while the writer was down: not made


def _edit(node: GossipNode, now: float, writer: int, k: int, kind: int) -> None:
    tag = f"{writer}.{k}"
    if kind == 0:
        node.set_key(f"k{tag}", tag, now)
    elif kind == 1:
        node.append(tag, now)
    elif kind == 2:
        node.insert_text(len(str(node.replica.text())), f"[{tag}]", now)
    elif kind == 3:
        keys = sorted(node.replica.map().keys())
        if keys:
            node.delete_key(keys[k % len(keys)], now)
        else:
            node.set_key(f"k{tag}", tag, now)
    else:
        text = str(node.replica.text())
        if len(text) > 4:
            node.delete_text(k % (len(text) - 2), 2, now)
        else:
            node.insert_text(0, f"<{tag}>", now)


def _maybe_edit(sim: Simulator, writer: int, k: int, kind: int, skipped: list[int]) -> None:
    if writer in sim.alive:
        sim.call(writer, partial(_edit, writer=writer, k=k, kind=kind))
    else:
        skipped.append(writer)


def run_scenario(sc: Scenario, seed: int) -> Outcome:
    """Run ``sc`` and check: convergence of live nodes, nothing owed lost, monotone states."""
    rng = random.Random(seed)
    watch = ConvergenceWatch()
    lost = NothingLostChecker()
    settings = sc.settings
    sim = Simulator(
        lambda nid, r: GossipNode(nid, range(sc.nodes), r, settings=settings),
        range(sc.nodes),
        sc.plan,
        codec=CODEC,
        checkers=[watch, lost, ConvergenceChecker()],
        record=False,
        wire_check=True,
        link_keys=True,
    )
    made = 0
    skipped: list[int] = []
    for w in sc.writers:
        for k in range(sc.edits_per_writer):
            at = rng.uniform(0.0, sc.edit_window_s)
            sim.at(at, partial(_maybe_edit, writer=w, k=k, kind=rng.randrange(5), skipped=skipped))
            made += 1
    quiet = sc.quiet_s

    def done(s: Simulator) -> bool:
        return s.now >= quiet and watch.converged(s)

    result = sim.run(until=done, max_time=quiet + sc.max_time_s)
    assert result.reached, f"no convergence: {result.describe()}"
    return Outcome(sim, lost, result.time, made, len(skipped))


def random_scenario(seed: int, *, max_nodes: int = 30) -> Scenario:
    """A mixed schedule: size 2..max_nodes, 1 or many writers, loss 0-50%, dup, reorder,
    random partitions (all modes) and random crash-restarts, all stopping at a known time."""
    rng = random.Random(seed * 7919 + 1)
    n = rng.choice([2, 3, 4, 5, 6, 8, 10, 12, 16, 20, max_nodes])
    n = min(n, max_nodes)
    many = rng.random() < 0.6
    writers = sorted(rng.sample(range(n), rng.randint(2, n) if many and n > 1 else 1))
    loss = rng.choice([0.0, 0.1, 0.2, 0.3, 0.5])
    faults_until = rng.uniform(0.5, 1.5)
    partitions = []
    if rng.random() < 0.4:
        mode = rng.choice(list(PartitionMode))
        partitions.append(RandomPartitions(mode, 0.3, 0.1, 0.6))
    crashes = []
    if rng.random() < 0.35 and n >= 3:
        crashes.append(RandomCrashes(0.2, 0.1, 0.5, max_concurrent=max(1, n // 4)))
    plan = FaultPlan(
        seed=seed,
        latency=Latency(min_s=0.001, mean_s=rng.choice([0.002, 0.005, 0.01])),
        loss=loss,
        duplicate=rng.choice([0.0, 0.05, 0.2]),
        reorder=rng.choice([0.0, 0.1, 0.3]),
        partitions=partitions,
        crashes=crashes,
        faults_until_s=faults_until,
    )
    view = rng.choice([0, 0, 0, 3, 5])  # a quarter of the schedules use a partial view
    edits = rng.randint(1, 6)
    return Scenario(
        nodes=n,
        plan=skewed(plan, rng),
        writers=writers,
        edits_per_writer=edits,
        edit_window_s=faults_until,
        settings=GossipSettings(view_size=view) if view else SETTINGS,
    )


def partition_scenario(seed: int) -> Scenario:
    """Two or three groups cut apart for a while, writers on every side, then healed."""
    rng = random.Random(seed * 104729 + 3)
    n = rng.randint(4, 16)
    ids = list(range(n))
    rng.shuffle(ids)
    cuts = sorted(rng.sample(range(1, n), rng.choice([1, 2]) if n > 3 else 1))
    groups = [sorted(ids[a:b]) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    start = rng.uniform(0.05, 0.3)
    duration = rng.uniform(0.3, 1.5)
    plan = FaultPlan(
        seed=seed,
        loss=rng.choice([0.0, 0.1, 0.3]),
        scheduled_partitions=[
            ScheduledPartition(start, duration, groups, one_way=rng.random() < 0.25)
        ],
        faults_until_s=start + duration,
    )
    writers = sorted({g[rng.randrange(len(g))] for g in groups} | set(rng.sample(ids, 2)))
    edits = rng.randint(2, 5)
    return Scenario(n, skewed(plan, rng), writers, edits, start + duration)


def crash_scenario(seed: int) -> Scenario:
    """Nodes crash (losing everything) and restart empty while others keep writing."""
    rng = random.Random(seed * 15485863 + 5)
    n = rng.randint(3, 15)
    victims = rng.sample(range(n), rng.randint(1, max(1, n // 3)))
    crashes = []
    for v in victims:
        at = rng.uniform(0.05, 0.8)
        crashes.append(ScheduledCrash(v, at, at + rng.uniform(0.05, 0.8)))
    plan = FaultPlan(
        seed=seed,
        loss=rng.choice([0.0, 0.1, 0.2]),
        duplicate=0.05,
        scheduled_crashes=crashes,
        faults_until_s=1.0,
    )
    writers = sorted(rng.sample(range(n), rng.randint(1, n)))
    edits = rng.randint(1, 5)
    return Scenario(n, skewed(plan, rng), writers, edits, 1.0)


def skewed(plan: FaultPlan, rng: random.Random) -> FaultPlan:
    """``plan`` with per-node clock offsets and drift drawn from ``rng`` (every family uses it)."""
    skew = ClockSkew(
        max_offset_s=rng.choice([0.0, 0.5, 5.0]), max_drift_ppm=rng.choice([0.0, 200.0, 2000.0])
    )
    return msgspec.structs.replace(plan, clock_skew=skew)


def _set(node: GossipNode, now: float, key: str, value: object) -> None:
    node.set_key(key, value, now)


def _call_set(sim: Simulator, nid: int, key: str, value: object) -> None:
    sim.call(nid, partial(_set, key=key, value=value))


def set_at(sim: Simulator, t: float, nid: int, key: str, value: object) -> None:
    """Schedule ``nid`` to set ``key`` to ``value`` at virtual time ``t``."""
    sim.at(t, partial(_call_set, nid=nid, key=key, value=value))


def map_of(sim: Simulator, nid: int) -> dict[str, object]:
    """The map root of node ``nid``'s document."""
    node = sim.nodes[nid]
    assert isinstance(node, GossipNode)
    content: dict[str, object] = node.snapshot()["map"]
    return content
