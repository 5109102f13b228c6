"""Byzantine replicas: equivocation, conflicting votes, forgery, replay, corruption, crashes.

Each case combines one kind of misbehaviour with network faults (loss,
duplication, reordering, partitions that heal); the checkers observe, and
the injectors only inject.
"""

from __future__ import annotations

from collections import Counter

import pytest

from patterns.byzantine.checkers import AgreementChecker, LinearizabilityChecker
from patterns.byzantine.events import ViewChangeStarted
from patterns.byzantine.faulty import ConflictingVoter, EquivocatingPrimary, LyingViewChanger
from patterns.byzantine.replica import Replica
from patterns.byzantine.simulation import ReplicaFactory, SimCluster
from patterns.net.faults import (
    ByzantineBehavior,
    ByzantineKind,
    ByzantineNode,
    FaultPlan,
    PartitionMode,
    RandomPartitions,
    ScheduledCrash,
)
from tests.byzantine.helpers import cluster, kv, put

NET = {"loss": 0.05, "duplicate": 0.1, "reorder": 0.2, "faults_until_s": 1.0}


def _factory(cls: type[Replica]) -> ReplicaFactory:
    return lambda nid, config, keys, s, sm, rng: cls(nid, config, keys, s, sm, rng)


def _run(
    f: int, plan: FaultPlan, faulty: set[int], classes: dict[int, type[Replica]] | None = None
) -> tuple[SimCluster, AgreementChecker]:
    agreement = AgreementChecker(faulty=set(classes or {}))
    lin = LinearizabilityChecker()
    c = cluster(
        f=f,
        clients=2,
        plan=plan,
        checkers=[agreement, lin],
        replica_factories={r: _factory(cls) for r, cls in (classes or {}).items()},
    )
    for cid in c.clients:
        for i in range(3):
            c.submit(cid, put(f"k{cid}", str(i)))
    res = c.run_until_done(30.0)
    assert res.reached, res.describe()
    for cid in c.clients:  # every write returned the previous one: nothing lost, nothing doubled
        assert [kv(r).value for r in c.client(cid).results] == [None, "0", "1"]
    honest = [r for r in c.config.replicas if r not in faulty and r in c.sim.alive]
    assert agreement.batches_checked >= len(honest)
    assert lin.completed == 6
    return c, agreement


@pytest.mark.parametrize("seed", range(3))
def test_equivocating_primary_cannot_split_the_replicas(seed: int) -> None:
    c, _ = _run(1, FaultPlan(seed=seed, **NET), {0}, {0: EquivocatingPrimary})  # type: ignore[arg-type]
    starts = [e for _, n, e in c.sim.events if isinstance(e, ViewChangeStarted) and n != 0]
    assert starts  # the stalled slots made the correct replicas replace it
    assert all(c.replica(r).view >= 1 for r in (1, 2, 3))


@pytest.mark.parametrize("f", [1, 2])
def test_replicas_voting_for_conflicting_digests_are_outvoted(f: int) -> None:
    voters = {r: ConflictingVoter for r in range(1, f + 1)}
    c, _ = _run(f, FaultPlan(seed=20 + f, **NET), set(voters), voters)  # type: ignore[arg-type]
    # the voters' checkpoints never match: stable proofs are made of correct replicas only
    for r in range(f + 1, 3 * f + 1):
        rep = c.replica(r)
        assert all(cp.replica not in voters for cp in rep.stable_proof)


def test_forged_messages_are_rejected_and_counted() -> None:
    plan = FaultPlan(
        seed=30,
        byzantine=[ByzantineNode(2, [ByzantineBehavior(ByzantineKind.FORGE, 1.0)])],
        **NET,  # type: ignore[arg-type]
    )
    c, _ = _run(1, plan, {2})
    forged = sum(
        c.replica(r).rejected[k]
        for r in (0, 1, 3)
        for k in ("bad_mac", "bad_signature", "bad_digest")
    )
    assert forged > 10


# how an honest replica recognises an authentic message it has seen, or no longer needs
OLD_MESSAGE_REASONS = {"stale", "duplicate", "duplicate_answered", "late", "outside_window"}


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_replayed_old_messages_are_recognised_as_old_never_as_forgeries(seed: int) -> None:
    # (network duplication alone also makes stale and duplicate rejections, so counting them
    # says nothing about the attack: what matters is how the replays are classified)
    attack = [ByzantineNode(3, [ByzantineBehavior(ByzantineKind.REPLAY, 1.0, 0.5)])]
    c, _ = _run(1, FaultPlan(seed=seed, byzantine=attack, **NET), {3})  # type: ignore[arg-type]
    assert c.sim.byzantine_counts(3).get("replay", 0) > 10
    seen = Counter(
        {k: v for r in (0, 1, 2) for (s, k), v in c.replica(r).turned_away.items() if s == 3}
    )
    # (a replayed client-bound message may reach a replica: not a replica message at all)
    assert seen and set(seen) <= OLD_MESSAGE_REASONS | {"unexpected_kind"}, seen


def test_corrupted_messages_never_reach_a_replica_undetected() -> None:
    attack = [ByzantineNode(1, [ByzantineBehavior(ByzantineKind.CORRUPT, 0.8)])]
    c, _ = _run(1, FaultPlan(seed=32, byzantine=attack, **NET), {1})  # type: ignore[arg-type]
    base, _ = _run(1, FaultPlan(seed=32, **NET), set())  # type: ignore[arg-type]
    honest = (0, 2, 3)
    caught = c.sim.stats.wire_rejected + sum(sum(c.replica(r).rejected.values()) for r in honest)
    noise = base.sim.stats.wire_rejected + sum(
        sum(base.replica(r).rejected.values()) for r in honest
    )
    assert base.sim.stats.wire_rejected == 0  # without the attack nothing arrives corrupted
    assert caught - noise > 10


@pytest.mark.parametrize("f", [1, 2])
def test_f_crashed_replicas_with_loss_duplication_and_reordering(f: int) -> None:
    crashed = list(range(3 * f + 1 - f, 3 * f + 1))
    plan = FaultPlan(
        seed=40 + f,
        scheduled_crashes=[ScheduledCrash(r, 0.01) for r in crashed],
        **NET,  # type: ignore[arg-type]
    )
    c, _ = _run(f, plan, set(crashed))
    assert set(crashed).isdisjoint(c.sim.alive)


def test_crashed_primary_among_f_faults_under_partitions_that_heal() -> None:
    plan = FaultPlan(
        seed=50,
        scheduled_crashes=[ScheduledCrash(0, 0.05)],
        partitions=[RandomPartitions(PartitionMode.HALVES, 0.5, 0.1, 0.3)],
        fault_tick_s=0.1,
        **NET,  # type: ignore[arg-type]
    )
    c, _ = _run(2, plan, {0})
    assert c.sim.stats.partitions > 0 and c.replica(1).view >= 1


def test_a_lying_view_changer_cannot_erase_committed_batches() -> None:
    # f=2: the primary of view 0 goes silent mid-run; replica 1 lies in view changes
    # and, as primary of view 1, withholds the new view
    plan = FaultPlan(
        seed=60,
        byzantine=[ByzantineNode(0, [ByzantineBehavior(ByzantineKind.DROP, 0.6)])],
        **NET,  # type: ignore[arg-type]
    )
    c, _ = _run(2, plan, {0, 1}, {1: LyingViewChanger})
    assert all(c.replica(r).view >= 2 for r in range(2, 7))
