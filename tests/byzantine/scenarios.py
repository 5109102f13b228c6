"""Seeded fault schedules for PBFT under the simulator, and a runner that checks them.

A schedule is data derived from ``(f, seed)``: a fault plan (loss, duplication,
reordering, partitions, crashes, Byzantine wrappers), faulty replica classes,
and a tiny workload. Faulty replicas (Byzantine, or crashed and restarted
without their state) number at most f. :func:`run_schedule` runs it with the
agreement, linearizability and liveness checkers attached; a violation raises
:class:`~patterns.net.sim.SimulationError` naming the seed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import msgspec

from patterns.byzantine.auth import ClusterConfig, NodeKeys
from patterns.byzantine.checkers import (
    AgreementChecker,
    LinearizabilityChecker,
    LivenessChecker,
)
from patterns.byzantine.faulty import FAULTY_KINDS
from patterns.byzantine.replica import Replica
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import ReplicaFactory, SimCluster, sim_cluster
from patterns.byzantine.state_machine import (
    CompareAndSet,
    Delete,
    Get,
    KvOp,
    Put,
    StateMachineFactory,
    encode_op,
)
from patterns.net.faults import (
    ByzantineBehavior,
    ByzantineKind,
    ByzantineNode,
    ClockSkew,
    FaultPlan,
    Latency,
    PartitionMode,
    RandomCrashes,
    RandomPartitions,
    ScheduledCrash,
    ScheduledPartition,
)
from patterns.net.sim import RunResult, Simulator

TEST_SETTINGS = ByzantineSettings(
    view_change_timeout_s=0.3,
    view_change_timeout_multiplier=2.0,
    view_change_timeout_max_s=1.2,
    status_interval_s=0.1,
    client_retry_s=0.2,
    checkpoint_interval=2,
    watermark_window=8,
    batch_max_requests=4,
    pipeline_depth=2,
)
FAULTS_END_S = 1.0  # random faults stop here (virtual seconds)


def liveness_bound_s(f: int, settings: ByzantineSettings = TEST_SETTINGS) -> float:
    """The stated bound: after faults stop, a request completes within this (virtual s).

    Up to f+1 consecutive views may need a view change each (faulty primaries),
    each waiting at most the capped timeout twice (request timer, then the
    view-change timer), plus retransmission periods and message delays.
    """
    per_view = 2 * settings.view_change_timeout_max_s + 2 * settings.status_interval_s
    return (f + 1) * per_view + 4 * settings.client_retry_s + 1.0


@dataclass
class Schedule:
    """One seeded fault schedule."""

    f: int
    seed: int
    family: str
    plan: FaultPlan
    faulty_classes: dict[int, str] = field(default_factory=dict)
    clients: int = 2
    ops_per_client: int = 3
    settings: ByzantineSettings = field(default_factory=lambda: TEST_SETTINGS)
    faults_end_s: float = FAULTS_END_S

    @property
    def faulty(self) -> set[int]:
        """Replicas that may misbehave or lose their state."""
        ids = set(self.faulty_classes) | {b.node for b in self.plan.byzantine}
        ids |= {c.node for c in self.plan.scheduled_crashes}
        for spec in self.plan.crashes:
            ids |= set(spec.nodes or ())
        return ids

    def describe(self) -> str:
        """One line for failure messages."""
        return (
            f"f={self.f} seed={self.seed} family={self.family} faulty={sorted(self.faulty)} "
            f"classes={self.faulty_classes}"
        )


def _faulty_factory(kind: str) -> ReplicaFactory:
    cls = FAULTY_KINDS[kind]

    def make(
        nid: int,
        config: ClusterConfig,
        keys: NodeKeys,
        settings: ByzantineSettings,
        sm: StateMachineFactory,
        rng: random.Random,
    ) -> Replica:
        return cls(nid, config, keys, settings, sm, rng)

    return make


WRAPPER_KINDS = (
    ByzantineKind.SILENT,
    ByzantineKind.DROP,
    ByzantineKind.FORGE,
    ByzantineKind.CORRUPT,
    ByzantineKind.REPLAY,
    ByzantineKind.DELAY,
    ByzantineKind.EQUIVOCATE,
)
FAMILIES = ("network", "crash", "wrapper", "faulty-class", "mixed")


def random_schedule(f: int, seed: int) -> Schedule:
    """The schedule of ``(f, seed)``: a family, then its faults, all drawn from the seed."""
    rng = random.Random(f"pbft-schedule:{f}:{seed}")
    n = 3 * f + 1
    family = FAMILIES[seed % len(FAMILIES)]
    net = {
        "loss": rng.choice((0.0, 0.02, 0.05, 0.1)),
        "duplicate": rng.choice((0.0, 0.05, 0.1)),
        "reorder": rng.choice((0.0, 0.1, 0.3)),
    }
    latency = Latency(0.0005, rng.choice((0.002, 0.005)))
    partitions: list[RandomPartitions] = []
    if rng.random() < 0.5:
        mode = rng.choice(list(PartitionMode))
        partitions.append(RandomPartitions(mode, 0.2, 0.05, 0.4))
    budget = list(range(n))
    rng.shuffle(budget)
    faulty = budget[: rng.randint(1, f)] if family != "network" else []
    byzantine: list[ByzantineNode] = []
    crashes: list[RandomCrashes] = []
    scheduled: list[ScheduledCrash] = []
    classes: dict[int, str] = {}
    scheduled_partitions: list[ScheduledPartition] = []
    if family == "network" and rng.random() < 0.5:
        cut = rng.randint(1, n - 1)
        scheduled_partitions.append(
            ScheduledPartition(
                rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.5), [budget[:cut], budget[cut:]]
            )
        )
    for i, node in enumerate(faulty):
        kind = family if family != "mixed" else ("crash", "wrapper", "faulty-class")[(seed + i) % 3]
        if kind == "crash":
            if rng.random() < 0.3:
                node = 0  # the primary of view 0, in the middle of the load
            if rng.random() < 0.5:
                at = rng.uniform(0.0, 0.8)
                restart = at + rng.uniform(0.1, 0.6) if rng.random() < 0.7 else None
                scheduled.append(ScheduledCrash(node, at, restart))
            else:
                crashes.append(RandomCrashes(0.3, 0.05, 0.4, max_concurrent=1, nodes=[node]))
        elif kind == "wrapper":
            behaviors = [
                ByzantineBehavior(k, probability=rng.choice((0.3, 0.7, 1.0)), max_delay_s=0.3)
                for k in rng.sample(WRAPPER_KINDS, rng.randint(1, 2))
            ]
            byzantine.append(ByzantineNode(node, behaviors))
        else:
            kinds = sorted(FAULTY_KINDS)
            classes[node] = kinds[rng.randrange(len(kinds))]
    if family == "faulty-class" and "equivocating-primary" not in classes.values() and seed % 2:
        # the primary of view 0 equivocates: the most interesting place for it
        classes.pop(faulty[0], None)
        classes[0] = "equivocating-primary"
    plan = FaultPlan(
        seed=seed,
        latency=latency,
        partitions=partitions,
        scheduled_partitions=scheduled_partitions,
        crashes=crashes,
        scheduled_crashes=scheduled,
        byzantine=byzantine,
        fault_tick_s=0.05,
        faults_until_s=FAULTS_END_S,
        **net,
    )
    clients = rng.randint(1, 5 if f == 1 else 3)
    ops = rng.randint(2, 8 if f == 1 else 4)
    settings = random_settings(rng)
    # every family also runs with skewed clocks: timers fire early or late per replica
    skew = ClockSkew(
        max_offset_s=rng.choice((0.0, 0.5, 5.0)), max_drift_ppm=rng.choice((0.0, 200.0, 2000.0))
    )
    plan = msgspec.structs.replace(plan, clock_skew=skew)
    return Schedule(
        f, seed, family, plan, classes, clients=clients, ops_per_client=ops, settings=settings
    )


def random_settings(rng: random.Random) -> ByzantineSettings:
    """Protocol settings drawn around :data:`TEST_SETTINGS`.

    Slow status periods (so lagging replicas are not caught up before a view
    change) and short timeouts make view changes over partially committed
    slots likely: the case the new-view decision procedure exists for.
    """
    k = rng.choice((1, 2, 4))
    base = rng.choice((0.1, 0.3))
    status = rng.choice((0.05, 0.1, 0.3, 0.6))
    return TEST_SETTINGS.model_copy(
        update={
            "view_change_timeout_s": base,
            "view_change_timeout_max_s": max(4 * base, 2 * status),
            "status_interval_s": status,
            "client_retry_s": rng.choice((0.05, 0.2)),
            "checkpoint_interval": k,
            "watermark_window": k * rng.choice((2, 4)),
            "batch_max_requests": rng.choice((1, 4)),
            "batch_delay_s": rng.choice((0.0, 0.0, 0.01)),
            "pipeline_depth": rng.choice((1, 2, 4)),
        }
    )


def workload(schedule: Schedule) -> dict[int, list[KvOp]]:
    """Operations per client index: single-key reads and writes on two keys."""
    rng = random.Random(f"pbft-workload:{schedule.f}:{schedule.seed}")
    out: dict[int, list[KvOp]] = {}
    for c in range(schedule.clients):
        ops: list[KvOp] = []
        for i in range(schedule.ops_per_client):
            key = rng.choice(("a", "b"))
            roll = rng.random()
            if roll < 0.45:
                ops.append(Put(key, f"c{c}-{i}"))
            elif roll < 0.8:
                ops.append(Get(key))
            elif roll < 0.9:
                ops.append(Delete(key))
            else:
                ops.append(CompareAndSet(key, None, f"c{c}-{i}"))
        out[c] = ops
    return out


@dataclass
class Outcome:
    """What a schedule run produced."""

    schedule: Schedule
    cluster: SimCluster
    result: RunResult
    agreement: AgreementChecker
    linearizability: LinearizabilityChecker
    liveness: LivenessChecker


def run_schedule(schedule: Schedule, *, extra_time_s: float = 0.5) -> Outcome:
    """Run ``schedule`` with every checker; raises SimulationError on a violation."""
    bound = liveness_bound_s(schedule.f, schedule.settings)
    crash_tail = max(
        [spec.max_down_s for spec in schedule.plan.crashes]
        + [(c.restart_at_s or 0.0) - schedule.faults_end_s for c in schedule.plan.scheduled_crashes]
        + [0.0]
    )
    faults_end = schedule.faults_end_s + max(0.0, crash_tail)
    agreement = AgreementChecker(faulty=schedule.faulty_classes)
    lin = LinearizabilityChecker()
    live = LivenessChecker(faults_end, bound)
    factories: Mapping[int, ReplicaFactory] = {
        nid: _faulty_factory(kind) for nid, kind in schedule.faulty_classes.items()
    }
    cluster = sim_cluster(
        schedule.f,
        schedule.clients,
        schedule.plan,
        settings=schedule.settings,
        checkers=[agreement, lin, live],
        replica_factories=factories,
    )
    rng = random.Random(f"pbft-submit:{schedule.f}:{schedule.seed}")
    submitted: list[bytes] = []
    total = 0
    for idx, ops in workload(schedule).items():
        cid = cluster.clients[idx]
        for op in ops:
            # spread submissions over the fault window (each queues behind the client's last)
            at = rng.uniform(0.0, schedule.faults_end_s) if rng.random() < 0.7 else 0.0
            cluster.sim.at(at, partial(_submit, cid=cid, op=encode_op(op), log=submitted))
            total += 1
    result = cluster.sim.run(
        until=lambda sim: len(submitted) == total and cluster.done(),
        max_time=faults_end + bound + extra_time_s,
    )
    return Outcome(schedule, cluster, result, agreement, lin, live)


def _submit(sim: Simulator, cid: int, op: bytes, log: list[bytes]) -> None:
    sim.call(cid, lambda node, now: node.submit(op, now))
    log.append(op)


def run_seed(f: int, seed: int) -> Outcome:
    """Build and run the schedule of ``(f, seed)``."""
    return run_schedule(random_schedule(f, seed))


__all__ = [
    "FAULTS_END_S",
    "TEST_SETTINGS",
    "Outcome",
    "Schedule",
    "liveness_bound_s",
    "random_schedule",
    "run_schedule",
    "run_seed",
    "workload",
]
