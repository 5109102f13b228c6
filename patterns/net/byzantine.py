"""Byzantine wrappers: misbehaviour injected on a node's outgoing messages.

A :class:`ByzantineWrapper` sits between a node's outbox and the simulated
network and applies the behaviours a :class:`~patterns.net.faults.ByzantineNode`
declares: drop, delay, corrupt (flip bytes of the encoding), forge (change a
field), equivocate (send different versions of one broadcast to different
peers), replay (resend an earlier message) or stay silent. It uses only the
seeded generator it is given, so runs replay exactly.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from patterns.core.codec import Codec, Message
from patterns.core.exceptions import CodecError
from patterns.core.ids import NodeId
from patterns.net.faults import ByzantineBehavior, ByzantineKind
from patterns.net.node import Outgoing

REPLAY_HISTORY = 256  # messages remembered for replay


@dataclass
class ByzantineStats:
    """What a wrapper did, by behaviour."""

    counts: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str) -> None:
        """Count one application of ``key``."""
        self.counts[key] = self.counts.get(key, 0) + 1


def mutate_message(msg: Message, rng: random.Random) -> Message:
    """A copy of ``msg`` with one scalar field changed (the generic forgery).

    Integers move by a small non-zero amount, booleans flip, bytes and strings
    get one character changed (or one added when empty). A message without
    scalar fields is returned unchanged.
    """
    names = [
        f for f in msg.__struct_fields__ if isinstance(getattr(msg, f), int | float | bytes | str)
    ]
    if not names:
        return msg
    name = rng.choice(names)
    value: Any = getattr(msg, name)
    new: Any
    if isinstance(value, bool):
        new = not value
    elif isinstance(value, int):
        new = value + rng.choice((-2, -1, 1, 2, 7))
    elif isinstance(value, float):
        new = value + rng.choice((-1.0, 1.0)) * (abs(value) + 1.0)
    elif isinstance(value, bytes):
        if value:
            i = rng.randrange(len(value))
            new = value[:i] + bytes([value[i] ^ (1 + rng.randrange(255))]) + value[i + 1 :]
        else:
            new = bytes([rng.randrange(256)])
    else:
        new = value + "\u2020" if not value else value[:-1] + chr((ord(value[-1]) + 1) % 0x10000)
    return msgspec.structs.replace(msg, **{name: new})


class ByzantineWrapper:
    """Apply declared misbehaviours to one node's outgoing messages.

    Args:
        behaviors: applied in order to each batch of outgoing messages.
        rng: the seeded generator for every random choice.
        codec: used by CORRUPT to reach the bytes; without one, msgpack of the
            message's own type is used.
    """

    def __init__(
        self,
        behaviors: Sequence[ByzantineBehavior],
        rng: random.Random,
        codec: Codec[Any] | None = None,
    ) -> None:
        self.behaviors = tuple(behaviors)
        self.rng = rng
        self.codec = codec
        self.stats = ByzantineStats()
        self._history: deque[Outgoing] = deque(maxlen=REPLAY_HISTORY)

    def apply(self, batch: list[Outgoing]) -> list[tuple[NodeId, Message, float]]:
        """Transform one outbox batch into ``(dst, msg, extra_delay_s)`` triples."""
        out: list[tuple[NodeId, Message, float]] = [(d, m, 0.0) for d, m in batch]
        for beh in self.behaviors:
            out = self._apply_one(beh, out)
        self._history.extend(batch)
        return out

    def _hit(self, beh: ByzantineBehavior) -> bool:
        return beh.probability >= 1.0 or self.rng.random() < beh.probability

    def _apply_one(
        self, beh: ByzantineBehavior, items: list[tuple[NodeId, Message, float]]
    ) -> list[tuple[NodeId, Message, float]]:
        kind = beh.kind
        rng = self.rng
        key = kind.value
        if kind is ByzantineKind.SILENT:
            for _ in items:
                self.stats.bump(key)
            return []
        if kind is ByzantineKind.EQUIVOCATE:
            return self._equivocate(beh, items)
        out: list[tuple[NodeId, Message, float]] = []
        for dst, msg, delay in items:
            if not self._hit(beh):
                out.append((dst, msg, delay))
                continue
            self.stats.bump(key)
            if kind is ByzantineKind.DROP:
                continue
            if kind is ByzantineKind.DELAY:
                out.append((dst, msg, delay + rng.uniform(0.0, beh.max_delay_s)))
            elif kind is ByzantineKind.FORGE:
                out.append((dst, mutate_message(msg, rng), delay))
            elif kind is ByzantineKind.CORRUPT:
                bad = self._corrupt(msg)
                if bad is None:
                    self.stats.bump("corrupt_rejected_by_codec")
                else:
                    out.append((dst, bad, delay))
            elif kind is ByzantineKind.REPLAY:
                out.append((dst, msg, delay))
                if self._history:
                    old_dst, old_msg = rng.choice(self._history)
                    target = dst if rng.random() < 0.5 else old_dst
                    out.append((target, old_msg, delay + rng.uniform(0.0, beh.max_delay_s)))
        return out

    def _equivocate(
        self, beh: ByzantineBehavior, items: list[tuple[NodeId, Message, float]]
    ) -> list[tuple[NodeId, Message, float]]:
        # A broadcast is the same message object sent to several peers in one batch.
        groups: dict[int, list[int]] = {}
        for i, (_, msg, _) in enumerate(items):
            groups.setdefault(id(msg), []).append(i)
        out = list(items)
        for idxs in groups.values():
            if len(idxs) < 2 or not self._hit(beh):
                continue
            self.stats.bump(beh.kind.value)
            other = mutate_message(items[idxs[0]][1], self.rng)
            victims = self.rng.sample(idxs, len(idxs) // 2)
            for i in victims:
                dst, _, delay = out[i]
                out[i] = (dst, other, delay)
        return out

    def _corrupt(self, msg: Message) -> Message | None:
        data = bytearray(
            self.codec.encode(msg) if self.codec is not None else msgspec.msgpack.encode(msg)
        )
        for _ in range(1 + self.rng.randrange(3)):
            i = self.rng.randrange(len(data))
            data[i] ^= 1 + self.rng.randrange(255)
        try:
            if self.codec is not None:
                decoded: Message = self.codec.decode(bytes(data))
                return decoded
            return msgspec.msgpack.decode(bytes(data), type=type(msg))
        except (CodecError, msgspec.DecodeError, msgspec.ValidationError):
            return None
