"""SWIM membership: suspicion, confirmation, refutation, indirect probes, rejoin and catch-up."""

from __future__ import annotations

import random

from patterns.core.codec import Message
from patterns.gossip.checkers import ConvergenceChecker, ConvergenceWatch
from patterns.gossip.events import MemberChanged
from patterns.gossip.membership import SwimMembership
from patterns.gossip.messages import Ack, MemberUpdate, Ping, PingReq, Status, gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import FaultPlan, ScheduledCrash, ScheduledPartition
from patterns.net.sim import Simulator
from tests.gossip.scenarios import set_at

SETTINGS = GossipSettings()


def cluster(n: int, plan: FaultPlan, settings: GossipSettings = SETTINGS) -> Simulator:
    return Simulator(
        lambda nid, rng: GossipNode(nid, range(n), rng, settings=settings),
        range(n),
        plan,
        codec=gossip_codec(),
        checkers=[ConvergenceChecker(at_end=False)],
        record=True,
        wire_check=True,
    )


def views(sim: Simulator, peer: int) -> dict[int, tuple[Status, float]]:
    """For each observer, the statuses it gave ``peer`` (in order) with their times."""
    out: dict[int, list[tuple[Status, float]]] = {}
    for t, nid, ev in sim.events:
        if isinstance(ev, MemberChanged) and ev.peer == peer:
            out.setdefault(nid, []).append((ev.status, t))
    return {k: v[-1] for k, v in out.items()}


def changes(sim: Simulator, peer: int, status: Status) -> list[tuple[float, int]]:
    return [
        (t, nid)
        for t, nid, ev in sim.events
        if isinstance(ev, MemberChanged) and ev.peer == peer and ev.status is status
    ]


def node(sim: Simulator, nid: int) -> GossipNode:
    n = sim.nodes[nid]
    assert isinstance(n, GossipNode)
    return n


class LoggingNode(GossipNode):
    """Records the destination and kind of everything it sends."""

    sent_log: list[tuple[int, str]]

    def send(self, dst: int, msg: Message) -> None:
        if not hasattr(self, "sent_log"):
            self.sent_log = []
        self.sent_log.append((dst, type(msg).__name__))
        super().send(dst, msg)


def test_crashed_peer_is_suspected_then_confirmed_dead_and_skipped() -> None:
    plan = FaultPlan(seed=2, scheduled_crashes=[ScheduledCrash(5, at_s=0.3)])
    sim = Simulator(
        lambda nid, rng: LoggingNode(nid, range(6), rng, settings=SETTINGS),
        range(6),
        plan,
        codec=gossip_codec(),
        wire_check=True,
    )
    sim.run(max_time=2.5)
    suspected = changes(sim, 5, Status.SUSPECT)
    dead = changes(sim, 5, Status.DEAD)
    assert {nid for _, nid in dead} == {0, 1, 2, 3, 4}
    first_suspect = min(t for t, _ in suspected)
    # confirmation waits for the suspicion timeout (SWIM section 4.2)
    assert min(t for t, _ in dead) - first_suspect >= SETTINGS.suspicion_timeout_s - 1e-9
    for nid in range(5):
        n = sim.nodes[nid]
        assert isinstance(n, LoggingNode)
        assert n.membership.status_of(5) is Status.DEAD
        assert all(5 not in n.membership.targets(10) for _ in range(20))
        n.sent_log.clear()
    sim.run(max_time=5.0)
    for nid in range(5):
        n = sim.nodes[nid]
        assert isinstance(n, LoggingNode)
        to_dead = [kind for dst, kind in n.sent_log if dst == 5]
        # no gossip, no regular probes: only the periodic ping of a dead peer
        assert set(to_dead) <= {"Ping"}
        assert len(to_dead) <= 2.5 / SETTINGS.dead_probe_interval_s + 1
        assert sum(1 for dst, _ in n.sent_log if dst != 5) > 50


def test_restarted_peer_refutes_its_death_rejoins_and_catches_up() -> None:
    plan = FaultPlan(seed=4, scheduled_crashes=[ScheduledCrash(3, at_s=0.2, restart_at_s=2.5)])
    sim = cluster(5, plan)
    for k in range(4):
        set_at(sim, 0.5 + 0.3 * k, k % 3, f"k{k}", k)
    sim.run(max_time=2.4)
    dead_inc = {nid: node(sim, nid).membership.incarnation_of(3) for nid in (0, 1, 2, 4)}
    assert all(node(sim, nid).membership.status_of(3) is Status.DEAD for nid in dead_inc)
    watch = ConvergenceWatch()
    sim.checkers = (*sim.checkers, watch)

    def rejoined(s: Simulator) -> bool:
        return (
            s.now > 2.5
            and watch.converged(s)
            and all(node(s, i).membership.status_of(3) is Status.ALIVE for i in (0, 1, 2, 4))
        )

    result = sim.run(until=rejoined, max_time=10.0)
    assert result.reached, result.describe()
    restarted = node(sim, 3)
    assert restarted.snapshot()["map"] == {f"k{k}": float(k) for k in range(4)}
    assert restarted.membership.incarnation > max(dead_inc.values())
    assert restarted.membership.stats.refutations >= 1
    assert all(node(sim, i).membership.stats.revived >= 1 for i in (0, 1, 2, 4))


def test_indirect_probes_keep_a_peer_alive_across_a_broken_link() -> None:
    # only the 0 <-> 1 link is cut; everyone else reaches both
    plan = FaultPlan(seed=6, scheduled_partitions=[ScheduledPartition(0.0, 3.0, [[0], [1]])])
    sim = cluster(6, plan)
    sim.at(0.5, lambda s: s.call(0, lambda n, now: n.set_key("via-others", 1, now)))
    sim.run(max_time=3.0)
    n0, n1 = node(sim, 0), node(sim, 1)
    assert n0.membership.stats.ping_reqs_sent > 0
    assert sum(node(sim, i).membership.stats.relayed_acks for i in range(2, 6)) > 0
    assert changes(sim, 1, Status.DEAD) == [] and changes(sim, 0, Status.DEAD) == []
    assert n0.membership.status_of(1) is Status.ALIVE
    assert n1.snapshot()["map"] == {"via-others": 1.0}  # replication routed around the cut


def test_a_wrongly_suspected_member_refutes_with_a_higher_incarnation() -> None:
    # node 2 is cut off for less than the suspicion timeout
    plan = FaultPlan(
        seed=8, scheduled_partitions=[ScheduledPartition(0.1, 0.5, [[2], [0, 1, 3, 4]])]
    )
    sim = cluster(5, plan)
    sim.run(max_time=4.0)
    assert changes(sim, 2, Status.SUSPECT), "the cut should have raised a suspicion"
    assert changes(sim, 2, Status.DEAD) == []
    assert node(sim, 2).membership.incarnation >= 1
    for nid in (0, 1, 3, 4):
        m = node(sim, nid).membership
        assert m.status_of(2) is Status.ALIVE and m.incarnation_of(2) >= 1


def test_healed_partition_revives_both_sides_and_converges() -> None:
    groups = [[0, 1, 2], [3, 4, 5]]
    plan = FaultPlan(seed=10, scheduled_partitions=[ScheduledPartition(0.1, 2.5, groups)])
    sim = cluster(6, plan)
    sim.at(0.5, lambda s: s.call(0, lambda n, now: n.set_key("left", 1, now)))
    sim.at(0.5, lambda s: s.call(4, lambda n, now: n.set_key("right", 2, now)))
    sim.run(max_time=2.5)
    assert node(sim, 0).membership.status_of(4) is Status.DEAD
    assert node(sim, 4).snapshot()["map"] == {"right": 2.0}
    watch = ConvergenceWatch()
    sim.checkers = (*sim.checkers, watch)
    result = sim.run(
        until=lambda s: (
            s.now > 2.6
            and watch.converged(s)
            and all(len(node(s, i).membership.alive) == 5 for i in range(6))
        ),
        max_time=15.0,
    )
    assert result.reached, result.describe()
    assert node(sim, 5).snapshot()["map"] == {"left": 1.0, "right": 2.0}


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Message]] = []

    def __call__(self, dst: int, msg: Message) -> None:
        self.sent.append((dst, msg))


def test_update_precedence_follows_incarnations() -> None:
    sent = _Recorder()
    m = SwimMembership(0, [1, 2, 3], random.Random(0), SETTINGS, sent)

    def apply(status: Status, inc: int, peer: int = 1) -> tuple[Status, int]:
        m.on_message(2, Ping(1, 0, [MemberUpdate(peer, status, inc)]), 0.0)
        return m.status_of(peer), m.incarnation_of(peer)

    assert apply(Status.SUSPECT, 0) == (Status.SUSPECT, 0)  # suspect(i) beats alive(i)
    assert apply(Status.ALIVE, 0) == (Status.SUSPECT, 0)  # alive(i) does not beat suspect(i)
    assert apply(Status.ALIVE, 1) == (Status.ALIVE, 1)  # a refutation does
    assert apply(Status.SUSPECT, 0) == (Status.ALIVE, 1)  # stale suspicion ignored
    assert apply(Status.DEAD, 1) == (Status.DEAD, 1)  # confirm beats alive(i)
    assert apply(Status.SUSPECT, 1) == (Status.DEAD, 1)
    assert apply(Status.ALIVE, 1) == (Status.DEAD, 1)
    assert apply(Status.ALIVE, 2) == (Status.ALIVE, 2)  # a rejoin with a newer incarnation
    # about ourselves: refute with a higher incarnation, and say so in the next message
    m.on_message(2, Ping(7, 0, [MemberUpdate(0, Status.SUSPECT, 0)]), 0.0)
    assert m.incarnation == 1
    dst, ack = sent.sent[-1]
    assert dst == 2 and isinstance(ack, Ack) and ack.seq == 7 and ack.target_incarnation == 1
    assert MemberUpdate(0, Status.ALIVE, 1) in ack.gossip


def test_ping_req_is_relayed_and_the_ack_forwarded() -> None:
    sent = _Recorder()
    m = SwimMembership(0, [1, 2], random.Random(0), SETTINGS, sent)
    m.on_message(1, PingReq(seq=41, target=2, incarnation=0, gossip=[]), 0.0)
    (dst, ping), *_ = sent.sent
    assert dst == 2 and isinstance(ping, Ping)
    m.on_message(2, Ack(ping.seq, 2, 3, 3, []), 0.01)
    dst, ack = sent.sent[-1]
    assert dst == 1 and isinstance(ack, Ack)
    assert (ack.seq, ack.target, ack.target_incarnation) == (41, 2, 3)
    assert m.incarnation_of(2) == 3 and m.stats.relayed_acks == 1


def test_partial_view_bounds_gossip_partners_and_replaces_dead_members() -> None:
    settings = GossipSettings(view_size=3, view_shuffle_s=60.0)
    plan = FaultPlan(seed=12, scheduled_crashes=[ScheduledCrash(7, at_s=1.0)])
    sim = Simulator(
        lambda nid, rng: LoggingNode(nid, range(12), rng, settings=settings),
        range(12),
        plan,
        codec=gossip_codec(),
        wire_check=True,
    )
    views = {}
    for nid in range(12):
        n = sim.nodes[nid]
        assert isinstance(n, LoggingNode) and n.membership.view is not None
        views[nid] = set(n.membership.view)
        assert len(views[nid]) == 3 and nid not in views[nid]
    sim.run(max_time=0.9)
    for nid in range(12):
        n = sim.nodes[nid]
        assert isinstance(n, LoggingNode)
        partners = {dst for dst, kind in n.sent_log if kind in ("SyncRequest", "Rumor")}
        assert partners <= views[nid]
    watchers = [nid for nid in range(12) if 7 in views[nid] and nid != 7]
    assert watchers, "seed 12 should put node 7 in some view"
    sim.run(max_time=5.0)
    for nid in watchers:
        n = sim.nodes[nid]
        assert isinstance(n, LoggingNode) and n.membership.view is not None
        view = set(n.membership.view)
        assert 7 not in view and len(view) == 3
        assert n.membership.status_of(7) is Status.DEAD
