"""SimulatedCluster: the gossip cluster apps share a document through."""

from __future__ import annotations

import math

from patterns.gossip import RootKind, SimulatedCluster
from patterns.net.faults import FaultPlan


def test_a_key_written_at_one_replica_reaches_every_live_replica() -> None:
    c = SimulatedCluster(5, seed=3, roots={"board": RootKind.MAP})
    assert c.holders("board", ("k",)) == 0
    c.set_key(2, "board", "k", "v")
    took = c.gossip_until_converged(30.0, root="board", keys=("k",))
    assert 0 < took < 30.0
    assert c.holders("board", ("k",)) == 5
    assert all(c.snapshot(i)["board"] == {"k": "v"} for i in range(5))
    assert c.converged()


def test_a_dead_replica_is_skipped_for_writes_and_counted_out() -> None:
    c = SimulatedCluster(4, seed=1, roots={"board": RootKind.MAP})
    c.sim.crash(0)
    assert c.live(0) == 1 and c.live(3) == 3 and c.live() == 1
    c.set_key(c.live(0), "board", "k", "v")
    c.gossip_until_converged(30.0, root="board", keys=("k",))
    assert c.holders("board", ("k",)) == 3


def test_gossip_that_cannot_converge_reports_infinity() -> None:
    # every message dropped: the write stays at its replica
    c = SimulatedCluster(3, plan=FaultPlan(seed=0, loss=1.0), roots={"board": RootKind.MAP})
    c.set_key(0, "board", "k", "v")
    assert math.isinf(c.gossip_until_converged(5.0, root="board", keys=("k",)))
    assert c.holders("board", ("k",)) == 1


def test_fewer_than_two_peers_are_raised_to_two() -> None:
    assert SimulatedCluster(1).peers == 2


def test_the_shared_cluster_macs_every_message_with_its_link_key() -> None:
    from patterns.gossip import SimulatedCluster

    cluster = SimulatedCluster(3, seed=1)
    assert cluster.sim.link_keys
    assert all(cluster.node(i).links is not None for i in range(3))
