"""The checkers catch what they claim to: divergence, forgotten edits, lost deletions."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from patterns.core.ids import NodeId
from patterns.gossip.checkers import ConvergenceChecker, ConvergenceWatch, NothingLostChecker
from patterns.gossip.document import ReplicatedDoc
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import FaultPlan, ScheduledCrash, ScheduledPartition
from patterns.net.sim import NodeFactory, SimulationError, Simulator


def build(
    n: int,
    plan: FaultPlan,
    factory: NodeFactory | None = None,
    settings: GossipSettings | None = None,
) -> tuple[Simulator, ConvergenceWatch, NothingLostChecker]:
    cfg = settings or GossipSettings()
    watch, lost = ConvergenceWatch(), NothingLostChecker()
    sim = Simulator(
        factory or (lambda nid, rng: GossipNode(nid, range(n), rng, settings=cfg)),
        range(n),
        plan,
        codec=gossip_codec(),
        checkers=[watch, ConvergenceChecker(), lost],
        record=False,
        wire_check=True,
    )
    return sim, watch, lost


def test_convergence_checker_fails_a_run_that_did_not_converge() -> None:
    sim, _, _ = build(4, FaultPlan(seed=13, loss=1.0))
    sim.call(0, lambda n, now: n.set_key("k", 1, now))
    with pytest.raises(SimulationError, match=r"not converged.*seed=13"):
        sim.run(max_time=2.0)


def test_nothing_lost_fails_when_a_live_node_silently_forgets_its_edit() -> None:
    settings = GossipSettings(rumor_hops=0, period_s=5.0)
    sim, watch, _ = build(3, FaultPlan(seed=1), settings=settings)

    def edit_then_forget(node: GossipNode, now: float) -> None:
        node.set_key("k", 1, now)
        node.replica = ReplicatedDoc(client_id=12345)  # a bug: state dropped without a crash

    sim.call(0, edit_then_forget)
    with pytest.raises(SimulationError, match="node 0 lacks an edit of node 0"):
        sim.run(until=lambda s: s.now > 0.5 and watch.converged(s), max_time=1.0)


def test_nothing_lost_fails_when_a_node_state_goes_backwards() -> None:
    sim, _, _ = build(3, FaultPlan(seed=1))

    def edit_then_regress(node: GossipNode, now: float) -> None:
        node.set_key("k", 1, now)
        node.replica = ReplicatedDoc(client_id=12345)
        node.set_key("other", 2, now)  # reports a state that lacks the first edit

    with pytest.raises(Exception, match="went back"):
        sim.call(0, edit_then_regress)


def test_an_edit_only_a_crashed_node_held_is_not_owed() -> None:
    # node 0 is cut off from the start until after its crash: its edit cannot ship
    plan = FaultPlan(
        seed=3,
        scheduled_partitions=[ScheduledPartition(0.0, 0.3, [[0], [1, 2, 3]])],
        scheduled_crashes=[ScheduledCrash(0, at_s=0.2, restart_at_s=0.3)],
    )
    sim, watch, lost = build(4, plan)
    sim.at(0.1, lambda s: s.call(0, lambda n, now: n.set_key("doomed", 1, now)))
    sim.call(1, lambda n, now: n.set_key("kept", 2, now))
    result = sim.run(until=lambda s: s.now > 0.3 and watch.converged(s), max_time=30.0)
    assert result.reached
    assert len(lost.edits) == 2 and lost.lost(sim) == 1
    assert [origin for origin, _, _ in lost.owed(sim)] == [1]
    for nid in range(4):
        n = sim.nodes[nid]
        assert isinstance(n, GossipNode) and n.snapshot()["map"] == {"kept": 2.0}


def test_an_edit_replicated_before_its_origin_crashed_is_owed_and_kept() -> None:
    plan = FaultPlan(seed=3, scheduled_crashes=[ScheduledCrash(0, at_s=0.2, restart_at_s=0.3)])
    sim, watch, lost = build(4, plan)  # rumors ship the edit at once
    sim.call(0, lambda n, now: n.set_key("shipped", 1, now))
    result = sim.run(until=lambda s: s.now > 0.3 and watch.converged(s), max_time=30.0)
    assert result.reached
    assert lost.lost(sim) == 0 and len(lost.owed(sim)) == 1
    restarted = sim.nodes[0]
    assert isinstance(restarted, GossipNode) and restarted.snapshot()["map"] == {"shipped": 1.0}


class BlindToDeletesDoc(ReplicatedDoc):
    """A mutant that reports the same delete-set CRC whatever it deleted."""

    @property
    def ds_crc(self) -> int:
        return 0


class BlindToDeletesNode(GossipNode):
    def __init__(self, node_id: NodeId, peers: Iterable[NodeId], rng: random.Random) -> None:
        super().__init__(node_id, peers, rng, settings=GossipSettings(rumor_hops=0))
        self.replica = BlindToDeletesDoc(self.replica.client_id)


def test_checkers_catch_a_protocol_that_ignores_delete_sets() -> None:
    sim, watch, _ = build(
        4, FaultPlan(seed=21), lambda nid, rng: BlindToDeletesNode(nid, range(4), rng)
    )
    sim.call(0, lambda n, now: n.set_key("k", 1, now))
    sim.run(until=lambda s: s.now > 0.1 and watch.converged(s), max_time=5.0)
    sim.call(2, lambda n, now: n.delete_key("k", now))
    with pytest.raises(SimulationError, match=r"not converged.*content"):
        sim.run(until=lambda s: watch.converged(s), max_time=10.0)
