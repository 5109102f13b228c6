"""Lost checkpoint messages must not stop the low watermark (issue 24, point 1).

A checkpoint is broadcast once when taken (OSDI section 4.3). If copies are
lost, replicas can each hold fewer than 2f+1 matching checkpoints for a
sequence number: without retransmission the low watermark never advances,
the window fills, the primary stops ordering and view changes repeat
forever. Status-driven retransmission (TOCS 2002: message retransmission)
resends a replica's own checkpoints and the 2f+1 signed checkpoints proving
its stable checkpoint. Here honest replicas sit behind links that lose every
checkpoint message for a while, then stop losing them.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from patterns.byzantine.auth import ClusterConfig, NodeKeys
from patterns.byzantine.events import CheckpointStable, CheckpointTaken
from patterns.byzantine.messages import Checkpoint
from patterns.byzantine.replica import Replica
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import ReplicaFactory, SimCluster
from patterns.byzantine.state_machine import StateMachineFactory
from patterns.core.codec import Message
from patterns.core.ids import NodeId
from tests.byzantine.helpers import cluster, deliver, get, kv, put, run_ops
from tests.byzantine.scenarios import TEST_SETTINGS

SMALL = TEST_SETTINGS.model_copy(
    update={"checkpoint_interval": 2, "watermark_window": 4, "batch_max_requests": 1}
)
LOSS_UNTIL_S = 1.0  # checkpoint messages are lost before this (virtual seconds)


class CheckpointLossReplica(Replica):
    """An honest replica whose outgoing checkpoint messages to some peers are lost for a while.

    Every message a replica sends is produced while it handles a message, a timer
    or its start, so filtering the outbox after each models a network that drops
    exactly the checkpoint messages (the original broadcast and any retransmission)
    until ``drop_until``, then delivers them again.
    """

    drop_until: float = 0.0
    drop_to: frozenset[int] = frozenset()
    dropped: int = 0

    def start(self, now: float) -> None:
        """Start as usual, then lose the checkpoint messages produced."""
        super().start(now)
        self._lose_checkpoints(now)

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        """Handle ``msg`` as usual, then lose the checkpoint messages produced."""
        super().on_message(src, msg, now)
        self._lose_checkpoints(now)

    def on_timer(self, name: str, now: float) -> None:
        """Handle the timer as usual, then lose the checkpoint messages produced."""
        super().on_timer(name, now)
        self._lose_checkpoints(now)

    def _lose_checkpoints(self, now: float) -> None:
        if now >= self.drop_until:
            return
        kept = [
            (dst, m)
            for dst, m in self._outbox
            if not (isinstance(m, Checkpoint) and dst in self.drop_to)
        ]
        self.dropped += len(self._outbox) - len(kept)
        self._outbox = kept


def lossy_checkpoints(until: float, to: Collection[int]) -> ReplicaFactory:
    """A factory of replicas that lose their checkpoint messages to ``to`` before ``until``."""

    def make(
        nid: NodeId,
        config: ClusterConfig,
        keys: NodeKeys,
        settings: ByzantineSettings,
        sm: StateMachineFactory,
        rng: random.Random,
    ) -> Replica:
        rep = CheckpointLossReplica(nid, config, keys, settings, sm, rng)
        rep.drop_until = until
        rep.drop_to = frozenset(to)
        return rep

    return make


def _lossy(c: SimCluster, nid: NodeId) -> CheckpointLossReplica:
    rep = c.replica(nid)
    assert isinstance(rep, CheckpointLossReplica)
    return rep


def test_the_watermark_advances_and_requests_commit_after_checkpoint_losses_stop() -> None:
    everyone = range(4)
    factories = {r: lossy_checkpoints(LOSS_UNTIL_S, everyone) for r in everyone}
    c = cluster(settings=SMALL, replica_factories=factories)
    cid = c.clients[0]
    # fill the window (K=2, L=4): checkpoints 2 and 4 are taken, every copy is lost
    run_ops(c, cid, [put("k", str(i)) for i in range(4)])
    c.sim.run(max_time=LOSS_UNTIL_S)
    taken = {(n, e.seq) for _, n, e in c.sim.events if isinstance(e, CheckpointTaken)}
    assert taken == {(r, s) for r in everyone for s in (2, 4)}
    for r in everyone:
        lossy = _lossy(c, r)
        assert lossy.dropped > 0
        assert lossy.low == 0 and lossy.last_executed == 4  # the window (0, 4] is full
        assert all(set(got) == {r} for got in lossy.checkpoints.values())  # only its own
    assert not [e for _, _, e in c.sim.events if isinstance(e, CheckpointStable)]

    # the losses have stopped: retransmitted checkpoints make 4 stable, ordering resumes
    results = run_ops(c, cid, [put("k", "after"), get("k")], max_time=3.0)
    assert kv(results[1]).value == "after"
    c.sim.run(max_time=c.sim.now + 1.0)
    for rep in c.replicas().values():
        assert rep.low >= 4 and rep.last_executed == 6
        assert rep.view == 0  # no view change was needed: the primary was never at fault


def test_a_replica_that_lost_checkpoints_gets_the_stable_proof_when_losses_stop() -> None:
    # replica 3 receives no checkpoint at all for a while; the others make 4 stable
    # and drop their own checkpoint messages of 4, so only the proof can help it
    factories = {r: lossy_checkpoints(LOSS_UNTIL_S, {3}) for r in (0, 1, 2)}
    c = cluster(settings=SMALL, replica_factories=factories)
    run_ops(c, c.clients[0], [put("k", str(i)) for i in range(4)])
    c.sim.run(max_time=LOSS_UNTIL_S)
    rep3 = c.replica(3)
    assert rep3.low == 0 and rep3.last_executed == 4
    for r in (0, 1, 2):
        assert c.replica(r).low == 4 and not c.replica(r).checkpoints  # collected
    c.sim.run(until=lambda _: rep3.low == 4, max_time=LOSS_UNTIL_S + 1.0)
    assert rep3.low == 4 and rep3.stable_digest == c.replica(0).stable_digest
    assert not rep3.rejected  # every retransmitted checkpoint checked out


def test_a_forged_checkpoint_changes_nothing() -> None:
    c = cluster(settings=SMALL)
    rep = c.replica(0)
    forged = Checkpoint(2, bytes(32), 1, bytes(64))
    deliver(c, 0, 1, forged)
    assert rep.rejected["bad_signature"] == 1
    assert 2 not in rep.checkpoints  # authenticated before any entry is made
