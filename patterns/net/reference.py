"""Reference protocol: reliable FIFO broadcast with acknowledgements and retransmission.

A small protocol with timers that exercises every part of the kernel. The
sender of value ``seq`` sends ``Data`` to every peer and retransmits to the
peers that have not acknowledged it, with exponential backoff, until all have.
A receiver acknowledges every copy and delivers each origin's values exactly
once and in sequence order (FIFO reliable broadcast for a correct sender over
fair-lossy links; Cachin, Guerraoui & Rodrigues, *Reliable and Secure
Distributed Programming*, 2nd ed., §3.3 and §3.9).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from patterns.core.codec import Codec, Message
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.net.node import Event, Node

RETRANSMIT_INITIAL_S = 0.05  # first retransmission after 50 ms
RETRANSMIT_MAX_S = 1.0  # backoff cap
MAX_PAYLOAD_BYTES = 64 * 1024


class Data(Message, frozen=True):
    """One broadcast value: the ``seq``-th value of ``origin``."""

    origin: int
    seq: int
    payload: bytes


class Ack(Message, frozen=True):
    """Receipt of ``Data(origin, seq)``."""

    origin: int
    seq: int


REFERENCE_MESSAGES: tuple[type[Message], ...] = (Data, Ack)


def reference_codec(max_frame_bytes: int = 1 << 20) -> Codec[Message]:
    """The codec of the reference protocol."""
    return Codec(REFERENCE_MESSAGES, max_frame_bytes=max_frame_bytes)


@dataclass(frozen=True, slots=True)
class Delivered(Event):
    """The node delivered value ``seq`` of ``origin``."""

    origin: int
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class FullyAcked(Event):
    """Every peer acknowledged this node's value ``seq``."""

    seq: int


class ReliableBroadcastNode(Node):
    """One participant in reliable FIFO broadcast.

    Commands: :meth:`broadcast_value`.
    """

    def __init__(
        self,
        node_id: NodeId,
        peers: Iterable[NodeId],
        rng: random.Random | None = None,
        *,
        retransmit_initial_s: float = RETRANSMIT_INITIAL_S,
        retransmit_max_s: float = RETRANSMIT_MAX_S,
    ) -> None:
        super().__init__(node_id, peers, rng)
        self.retransmit_initial_s = retransmit_initial_s
        self.retransmit_max_s = retransmit_max_s
        self._next_seq = 0
        self._sent: dict[int, Data] = {}
        self._unacked: dict[int, set[NodeId]] = {}
        self._backoff: dict[int, float] = {}
        self._due: dict[int, float] = {}
        self._next_expected: dict[NodeId, int] = {}
        self._held: dict[NodeId, dict[int, bytes]] = {}
        self.delivered: list[tuple[NodeId, int, bytes]] = []
        self.malformed = 0

    # -- commands -------------------------------------------------------------
    def broadcast_value(self, payload: bytes, now: float) -> int:
        """Broadcast ``payload`` to every peer; returns its sequence number.

        Raises:
            ConfigError: ``payload`` is larger than :data:`MAX_PAYLOAD_BYTES`.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ConfigError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
        seq = self._next_seq
        self._next_seq += 1
        msg = Data(self.node_id, seq, payload)
        self._sent[seq] = msg
        self._deliver(self.node_id, seq, payload)
        if not self.peers:
            self.emit(FullyAcked(seq))
            return seq
        self._unacked[seq] = set(self.peers)
        self.broadcast(msg)
        self._backoff[seq] = self.retransmit_initial_s
        self._due[seq] = now + self.retransmit_initial_s
        self._arm()
        return seq

    @property
    def all_acked(self) -> bool:
        """True when every value this node broadcast is acknowledged by all peers."""
        return not self._unacked

    # -- protocol ---------------------------------------------------------------
    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        if isinstance(msg, Data):
            if msg.origin != src:  # only the origin sends its values here
                self.malformed += 1
                return
            self.send(src, Ack(msg.origin, msg.seq))
            self._deliver(msg.origin, msg.seq, msg.payload)
        elif isinstance(msg, Ack):
            waiting = self._unacked.get(msg.seq)
            if msg.origin != self.node_id or waiting is None:
                return
            waiting.discard(src)
            if not waiting:
                del self._unacked[msg.seq], self._backoff[msg.seq], self._due[msg.seq]
                self.emit(FullyAcked(msg.seq))
                self._arm()
        else:
            self.malformed += 1

    def on_timer(self, name: str, now: float) -> None:
        for seq, due in list(self._due.items()):
            if due <= now:
                for dst in sorted(self._unacked[seq]):
                    self.send(dst, self._sent[seq])
                self._backoff[seq] = min(self._backoff[seq] * 2, self.retransmit_max_s)
                self._due[seq] = now + self._backoff[seq]
        self._arm()

    def _arm(self) -> None:
        if self._due:
            self.set_timer("retransmit", min(self._due.values()))
        else:
            self.cancel_timer("retransmit")

    def _deliver(self, origin: NodeId, seq: int, payload: bytes) -> None:
        expected = self._next_expected.get(origin, 0)
        if seq < expected:
            return  # duplicate
        held = self._held.setdefault(origin, {})
        held[seq] = payload
        while expected in held:
            value = held.pop(expected)
            self.delivered.append((origin, expected, value))
            self.emit(Delivered(origin, expected, value))
            expected += 1
        self._next_expected[origin] = expected
