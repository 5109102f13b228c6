"""Baseline for comparison: naive full-state push (the whole document to random peers each round)."""

from __future__ import annotations

from patterns.core.codec import DEFAULT_MAX_FRAME_BYTES, Codec, Message
from patterns.core.ids import NodeId
from patterns.gossip.node import ReplicaNode
from patterns.gossip.statevec import checksum

ROUND_TIMER = "full-state"


class FullState(Message, frozen=True):
    """The sender's whole document as one update."""

    update: bytes
    crc: int


def naive_codec(max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Codec[Message]:
    """The codec of the naive baseline."""
    return Codec([FullState], max_frame_bytes=max_frame_bytes)


class NaiveFullStateNode(ReplicaNode):
    """Each ``period_s``, push the entire document to ``fanout`` uniformly random peers.

    No state vectors, no rumors, no membership: the straw man that delta
    anti-entropy is measured against (Demers et al. 1987, section 1.3 notes that
    comparing whole databases is what makes naive anti-entropy expensive).
    """

    def start(self, now: float) -> None:
        """Boot and schedule the first push at a random phase."""
        super().start(now)
        if self.peers:
            self.set_timer(ROUND_TIMER, now + self.rng.uniform(0.0, self.settings.period_s))

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        if isinstance(msg, FullState):
            self.apply_remote(src, msg.update, msg.crc, "full-state")

    def on_timer(self, name: str, now: float) -> None:
        if name != ROUND_TIMER:
            return
        self.stats.rounds += 1
        self.set_timer(ROUND_TIMER, now + self.settings.period_s)
        update = self.replica.full_update()
        if not self.sendable(update):
            return
        msg = FullState(update, checksum(update))
        k = min(self.settings.fanout, len(self.peers))
        for peer in self.rng.sample(self.peers, k):
            self.stats.update_bytes_sent += len(update)
            self.send(peer, msg)
