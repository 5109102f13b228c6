"""The deterministic simulator: determinism, each fault injector, Byzantine wrappers."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from patterns.core.codec import Message
from patterns.core.exceptions import ConfigError
from patterns.net.faults import (
    ByzantineBehavior,
    ByzantineKind,
    ByzantineNode,
    ClockSkew,
    FaultPlan,
    Latency,
    LatencyDistribution,
    PartitionMode,
    RandomCrashes,
    RandomPartitions,
    ScheduledCrash,
    ScheduledPartition,
)
from patterns.net.node import Node
from patterns.net.reference import Data, ReliableBroadcastNode, reference_codec
from patterns.net.sim import SimulationError, Simulator
from tests.sim.broadcast_checks import FifoExactlyOnce, all_delivered


class Recorder(Node):
    """Records what it receives; `send_to` command sends one message."""

    def __init__(self, node_id: int, peers: range, rng: random.Random) -> None:
        super().__init__(node_id, peers, rng)
        self.got: list[tuple[int, Message, float]] = []
        self.started_at: float | None = None

    def start(self, now: float) -> None:
        self.started_at = now

    def on_message(self, src: int, msg: Message, now: float) -> None:
        self.got.append((src, msg, now))


def recorders(n: int) -> Callable[[int, random.Random], Node]:
    return lambda nid, rng: Recorder(nid, range(n), rng)


def broadcast_run(
    plan: FaultPlan, n: int = 5, values: int = 3, origins: list[int] | None = None
) -> Simulator:
    sent: dict[tuple[int, int], bytes] = {}
    sim = Simulator(
        lambda nid, rng: ReliableBroadcastNode(nid, range(n), rng),
        range(n),
        plan,
        codec=reference_codec(),
        checkers=[FifoExactlyOnce(sent)],
        wire_check=True,
    )
    origins = list(range(n)) if origins is None else origins
    for origin in origins:
        for k in range(values):
            payload = f"{origin}/{k}".encode()
            sent[(origin, k)] = payload  # before the call: the origin delivers to itself at once
            seq = sim.call(origin, lambda node, now, p=payload: node.broadcast_value(p, now))
            assert seq == k
    result = sim.run(until=lambda s: all_delivered(s, len(origins) * values), max_time=120)
    assert result.reached, result.describe()
    return sim


LOSSY = FaultPlan(
    loss=0.2,
    duplicate=0.1,
    reorder=0.3,
    faults_until_s=3.0,
    partitions=[RandomPartitions(PartitionMode.HALVES, 0.2, 0.2, 1.0)],
    clock_skew=ClockSkew(max_offset_s=5.0, max_drift_ppm=500),
)


def test_same_seed_same_trace_byte_for_byte() -> None:
    a = broadcast_run(LOSSY.with_seed(11))
    b = broadcast_run(LOSSY.with_seed(11))
    assert a.trace_bytes() == b.trace_bytes()
    assert a.stats == b.stats
    c = broadcast_run(LOSSY.with_seed(12))
    assert c.trace_digest() != a.trace_digest()


def test_latency_bounds_and_distributions() -> None:
    for dist in LatencyDistribution:
        plan = FaultPlan(latency=Latency(min_s=0.01, mean_s=0.02, distribution=dist))
        sim = Simulator(recorders(2), range(2), plan)
        for _ in range(300):
            sim.call(0, lambda node, now: node.send(1, Data(0, 0, b"")))
        sim.run()
        times = [t for t, *_ in sim.trace]
        assert min(times) >= 0.01
        if dist is LatencyDistribution.FIXED:
            assert set(times) == {0.02}
        else:
            mean = sum(times) / len(times)
            assert 0.017 < mean < 0.023, (dist, mean)
            if dist is LatencyDistribution.UNIFORM:
                assert max(times) <= 0.03


def send_many(plan: FaultPlan, count: int = 2000) -> Simulator:
    sim = Simulator(recorders(2), range(2), plan)
    for i in range(count):
        sim.call(0, lambda node, now, i=i: node.send(1, Data(0, i, b"")))
    sim.run()
    return sim


def test_loss_duplication_reordering_rates() -> None:
    sim = send_many(FaultPlan(seed=1, loss=0.25))
    assert 0.2 < sim.stats.lost / 2000 < 0.3
    assert sim.stats.delivered == 2000 - sim.stats.lost
    sim = send_many(FaultPlan(seed=1, duplicate=0.3))
    assert sim.stats.delivered == 2000 + sim.stats.duplicated
    assert 0.25 < sim.stats.duplicated / 2000 < 0.35
    fifo = send_many(FaultPlan(seed=1, latency=Latency(0.01, 0.01, LatencyDistribution.FIXED)))
    seqs = [m.seq for _, _, _, m in fifo.trace]  # type: ignore[attr-defined]
    assert seqs == sorted(seqs)
    shuffled = send_many(
        FaultPlan(seed=1, reorder=0.5, latency=Latency(0.01, 0.01, LatencyDistribution.FIXED))
    )
    seqs = [m.seq for _, _, _, m in shuffled.trace]  # type: ignore[attr-defined]
    assert seqs != sorted(seqs) and sorted(seqs) == list(range(2000))


def test_faults_stop_after_window() -> None:
    sim = Simulator(recorders(2), range(2), FaultPlan(seed=3, loss=1.0, faults_until_s=1.0))
    sim.call(0, lambda node, now: node.send(1, Data(0, 0, b"")))
    sim.at(2.0, lambda s: s.call(0, lambda node, now: node.send(1, Data(0, 1, b""))))
    sim.run()
    assert [m.seq for *_, m in sim.trace] == [1]  # type: ignore[attr-defined]


def test_scheduled_partition_cuts_then_heals_one_way() -> None:
    plan = FaultPlan(scheduled_partitions=[ScheduledPartition(1.0, 1.0, [[0], [1]], one_way=True)])
    sim = Simulator(recorders(2), range(2), plan)

    def ping(t: float) -> None:
        sim.at(t, lambda s: s.call(0, lambda node, now: node.send(1, Data(0, int(t * 10), b""))))
        sim.at(t, lambda s: s.call(1, lambda node, now: node.send(0, Data(1, int(t * 10), b""))))

    for t in (0.5, 1.5, 2.5):
        ping(t)
    sim.run()
    got_at_1 = [m.seq for _, m, _ in sim.nodes[1].got]  # type: ignore[attr-defined]
    got_at_0 = [m.seq for _, m, _ in sim.nodes[0].got]  # type: ignore[attr-defined]
    assert got_at_1 == [5, 25]  # 0 -> 1 cut during [1, 2)
    assert got_at_0 == [5, 15, 25]  # 1 -> 0 still open
    assert sim.stats.cut_by_partition == 1


@pytest.mark.parametrize("mode", list(PartitionMode))
def test_random_partitions_happen_and_end(mode: PartitionMode) -> None:
    plan = FaultPlan(seed=2, partitions=[RandomPartitions(mode, 0.5, 0.2, 0.4)], faults_until_s=5)
    sim = Simulator(recorders(6), range(6), plan)
    for k in range(100):
        sim.at(
            k * 0.1,
            lambda s: [s.call(i, lambda n, now: n.broadcast(Data(0, 0, b""))) for i in range(6)],
        )
    sim.run()
    assert sim.stats.partitions >= 3
    heals = [e for _, e in sim.fault_log if e.startswith("heal")]
    assert len(heals) == sim.stats.partitions
    assert sim.stats.cut_by_partition > 0


def test_crash_loses_state_and_restart_rebuilds() -> None:
    plan = FaultPlan(scheduled_crashes=[ScheduledCrash(1, at_s=1.0, restart_at_s=2.0)])
    sim = Simulator(recorders(2), range(2), plan)
    first = sim.nodes[1]
    for t in (0.5, 1.5, 2.5):
        sim.at(t, lambda s: s.call(0, lambda node, now: node.send(1, Data(0, 0, b""))))
    sim.run()
    assert sim.nodes[1] is not first
    assert len(first.got) == 1  # type: ignore[attr-defined]
    assert len(sim.nodes[1].got) == 1  # type: ignore[attr-defined]
    assert sim.nodes[1].started_at == pytest.approx(2.0)  # type: ignore[attr-defined]
    assert sim.stats.to_crashed == 1
    with pytest.raises(ConfigError, match="crashed"):
        sim.crash(1)
        sim.call(1, lambda node, now: None)


def test_random_crashes_respect_concurrency_and_restart() -> None:
    plan = FaultPlan(
        seed=4, crashes=[RandomCrashes(0.5, 0.3, 0.6, max_concurrent=2)], faults_until_s=10
    )
    sim = Simulator(recorders(5), range(5), plan)
    worst = 0

    def watch(s: Simulator) -> None:
        nonlocal worst
        worst = max(worst, 5 - len(s.alive))

    for k in range(200):
        sim.at(k * 0.05 + 0.001, watch)
    sim.run(max_time=20)
    assert sim.stats.crashes >= 5
    assert worst == 2
    assert sim.alive == set(range(5))  # everyone restarted after the window


def test_clock_skew_gives_each_node_its_own_clock() -> None:
    plan = FaultPlan(seed=9, clock_skew=ClockSkew(max_offset_s=100.0, max_drift_ppm=1000))
    sim = Simulator(recorders(3), range(3), plan)
    sim.at(10.0, lambda s: None)
    sim.run()
    locals_ = [sim.local_time(i) for i in range(3)]
    assert len(set(locals_)) == 3
    for i in range(3):
        assert abs(sim.local_time(i) - 10.0) > 0 and abs(sim.local_time(i) - 10.0) < 101


def test_reliable_broadcast_survives_skew_loss_and_partitions() -> None:
    sim = broadcast_run(LOSSY.with_seed(5))
    assert sim.stats.lost > 0 and sim.stats.duplicated > 0


def byz_run(kind: ByzantineKind, probability: float = 1.0) -> Simulator:
    plan = FaultPlan(
        seed=8, byzantine=[ByzantineNode(0, [ByzantineBehavior(kind, probability, 0.5)])]
    )
    sim = Simulator(recorders(4), range(4), plan, codec=reference_codec())
    for i in range(50):
        sim.call(0, lambda node, now, i=i: node.broadcast(Data(0, i, b"payload")))
    sim.run()
    return sim


def received(sim: Simulator, node: int) -> list[Message]:
    return [m for _, m, _ in sim.nodes[node].got]  # type: ignore[attr-defined]


def test_byzantine_drop_and_silent() -> None:
    for kind in (ByzantineKind.DROP, ByzantineKind.SILENT):
        sim = byz_run(kind)
        assert all(received(sim, n) == [] for n in (1, 2, 3)), kind
    half = byz_run(ByzantineKind.DROP, 0.5)
    assert 0 < len(received(half, 1)) < 50


def test_byzantine_delay_reorders() -> None:
    sim = byz_run(ByzantineKind.DELAY)
    seqs = [m.seq for m in received(sim, 1)]  # type: ignore[attr-defined]
    assert sorted(seqs) == list(range(50)) and seqs != list(range(50))


def test_byzantine_forge_and_corrupt_change_messages() -> None:
    honest = [Data(0, i, b"payload") for i in range(50)]
    forged = received(byz_run(ByzantineKind.FORGE), 1)
    assert len(forged) == 50 and sorted(map(repr, forged)) != sorted(map(repr, honest))
    # a forged seq may land on another honest value; forged origins and payloads cannot
    assert sum(m not in honest for m in forged) > 20
    corrupt = byz_run(ByzantineKind.CORRUPT)
    got = received(corrupt, 1)
    assert all(isinstance(m, Data) for m in got)  # what arrives went through the codec
    assert sum(m not in honest for m in got) >= len(got) // 2
    stats = corrupt._byz[0].stats.counts
    assert stats["corrupt"] == 150
    assert stats.get("corrupt_rejected_by_codec", 0) > 0  # most flips break the frame


def test_byzantine_equivocate_sends_different_versions() -> None:
    sim = byz_run(ByzantineKind.EQUIVOCATE)
    honest = [Data(0, i, b"payload") for i in range(50)]
    per_node = [received(sim, n) for n in (1, 2, 3)]
    assert all(len(got) == 50 for got in per_node)
    # each broadcast reaches one of the three peers (3 // 2) in another version
    assert sim._byz[0].stats.counts["equivocate"] == 50
    assert sum(m not in honest for got in per_node for m in got) >= 25
    assert sum(m in honest for got in per_node for m in got) >= 100


def test_byzantine_replay_resends_old_messages() -> None:
    sim = byz_run(ByzantineKind.REPLAY)
    got = received(sim, 1)
    assert len(got) > 50
    assert len(set(got)) <= 50


def test_failure_names_the_seed() -> None:
    class Boom(Node):
        def on_message(self, src: int, msg: Message, now: float) -> None:
            raise RuntimeError("bug in node")

    sim = Simulator(lambda nid, rng: Boom(nid, range(2), rng), range(2), FaultPlan(seed=4242))
    sim.call(0, lambda node, now: node.send(1, Data(0, 0, b"")))
    with pytest.raises(SimulationError, match=r"seed=4242.*bug in node"):
        sim.run()


def test_bad_plans_are_refused_with_the_field_named() -> None:
    with pytest.raises(ConfigError, match="loss"):
        FaultPlan.from_dict({"loss": 1.5})
    with pytest.raises(ConfigError, match=r"latency\.mean_s"):
        FaultPlan(latency=Latency(min_s=1.0, mean_s=0.5)).validate()
    with pytest.raises(ConfigError, match="unknown field"):
        FaultPlan.from_dict({"los": 0.1})
    with pytest.raises(ConfigError, match="byzantine node 9"):
        Simulator(recorders(2), range(2), FaultPlan(byzantine=[ByzantineNode(9, [])]))
    plan = FaultPlan.from_dict(LOSSY.to_dict())
    assert plan == LOSSY


def test_run_stops_at_time_bound_and_predicate() -> None:
    sim = Simulator(recorders(2), range(2), FaultPlan())
    for t in range(10):
        sim.at(float(t), lambda s: s.call(0, lambda node, now: node.send(1, Data(0, 0, b""))))
    r = sim.run(max_time=4.5)
    assert not r.reached and r.reason == "time limit" and sim.now == 4.5
    r = sim.run(until=lambda s: len(s.nodes[1].got) >= 7)  # type: ignore[attr-defined]
    assert r.reached and len(sim.nodes[1].got) == 7  # type: ignore[attr-defined]
