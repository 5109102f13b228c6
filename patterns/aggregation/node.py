"""The sans-IO aggregation node: epoch-based tree aggregation with re-parenting around failures.

Time is cut into epochs of ``period_s`` (TAG, Madden et al., OSDI 2002, §3).
In epoch ``e`` every node merges its own value with its children's partials
and sends one :class:`PartialMsg` to its parent: one upward message per agent
when nothing fails. A node of height ``h`` waits until ``start + (h+1)*slot_s``.

When an expected sender is missing at that deadline, the node *adopts* its
subtree: it asks the missing node for its own value alone
(:class:`SoloRequest`) and tells the missing node's children to send their
partials here instead (:class:`Redirect`), then waits one more slot. Missing
adoptees are handled the same way, level by level, so the subtree of a dead
node is re-parented to the nearest live ancestor. A node accepts at most one
partial per sender per epoch, and nothing but a solo partial from a node it
has adopted around, so no agent is ever counted twice. Every partial carries
its coverage; the root reports the result with its coverage by a deadline
and never waits forever.
"""

from __future__ import annotations

import logging
import math
import numbers
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from patterns.aggregation.aggregates import AggregateSpec, Summary, value_problem
from patterns.aggregation.exceptions import InvalidValueError, SketchMismatchError
from patterns.aggregation.tree import KaryTree
from patterns.core.codec import Codec, Message
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.net.node import Event, Node

logger = logging.getLogger(__name__)

DEFAULT_PERIOD_S = 1.0
DEFAULT_SLOT_S = 0.05
KEEP_EPOCHS = 3  # epochs of state kept for late redirects


class PartialMsg(Message, frozen=True):
    """A subtree's partial aggregate for ``epoch`` (``solo``: the sender's own value only)."""

    epoch: int
    summary: Summary
    solo: bool = False


class Redirect(Message, frozen=True):
    """Send your partial for ``epoch`` to ``to`` (your parent is missing)."""

    epoch: int
    to: int


class SoloRequest(Message, frozen=True):
    """Send your own value alone for ``epoch`` to ``to`` (your subtree is adopted)."""

    epoch: int
    to: int


AGGREGATION_MESSAGES: tuple[type[Message], ...] = (PartialMsg, Redirect, SoloRequest)


COMPRESS_MIN_BYTES = 512  # partials with a HyperLogLog (4 KiB of mostly empty registers)


def aggregation_codec(max_frame_bytes: int = 4 << 20) -> Codec[Message]:
    """The codec of the aggregation protocol.

    Frames of ``COMPRESS_MIN_BYTES`` or more are deflated: a subtree's HyperLogLog is
    4 KiB of registers, nearly all empty low in the tree, which is several datagrams
    raw and a few dozen bytes deflated.
    """
    return Codec(
        AGGREGATION_MESSAGES, max_frame_bytes=max_frame_bytes, compress_min_bytes=COMPRESS_MIN_BYTES
    )


@dataclass(frozen=True, slots=True)
class AggregateResult(Event):
    """The root's result for ``epoch``: ``coverage`` of ``members`` agents included."""

    epoch: int
    summary: Summary
    coverage: int
    members: int

    @property
    def complete(self) -> bool:
        """True if every member's value is included."""
        return self.coverage == self.members


@dataclass(frozen=True, slots=True)
class Forwarded(Event):
    """This node sent its partial for ``epoch`` to ``to`` covering ``coverage`` agents."""

    epoch: int
    to: int
    coverage: int


@dataclass
class RejectCounts:
    """Inputs refused, by reason."""

    unknown_sender: int = 0
    duplicate: int = 0
    invalid: int = 0
    late: int = 0
    mismatched: int = 0


@dataclass
class _Round:
    start: float
    deadline: float
    expected: set[NodeId]
    acc: Summary
    heard: set[NodeId] = field(default_factory=set)
    adopted_around: set[NodeId] = field(default_factory=set)  # accept only solo from these
    solo_expected: set[NodeId] = field(default_factory=set)
    extensions: int = 0
    sent: PartialMsg | None = None
    done: bool = False


class AggregationNode(Node):
    """One agent in the aggregation tree.

    Commands: :meth:`set_value`.

    Args:
        node_id: this node.
        members: every member of the tree (this node included).
        rng: the node's seeded generator (unused by the protocol; kept for the contract).
        k: tree fanout.
        spec: which aggregates to compute.
        period_s: epoch length; must exceed the worst-case round ``(2*depth + 1) * slot_s``.
        slot_s: time allowed per tree level (above the one-way latency).
        epochs: number of epochs to run from the first (``None``: forever).
        track_members: carry member lists in partials (for audits and tests).
        value: this agent's initial value (``None``: none yet; see :meth:`set_value`).
        auto: start epochs from the clock at multiples of ``period_s``; when false,
            epochs start only by the :meth:`begin_epoch` command.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Iterable[NodeId],
        rng: random.Random | None = None,
        *,
        k: int = 8,
        spec: AggregateSpec | None = None,
        period_s: float = DEFAULT_PERIOD_S,
        slot_s: float = DEFAULT_SLOT_S,
        epochs: int | None = 1,
        track_members: bool = False,
        value: float | None = None,
        auto: bool = True,
    ) -> None:
        self.tree = KaryTree(members, k)
        super().__init__(node_id, self.tree.members, rng)
        if node_id not in self.tree:
            raise ConfigError(f"node {node_id} is not among the members")
        self.spec = (spec or AggregateSpec()).check()
        if slot_s <= 0 or period_s <= 0:
            raise ConfigError("period_s and slot_s must be positive")
        worst = (2 * self.tree.depth + 2) * slot_s
        if period_s <= worst:
            raise ConfigError(
                f"period_s={period_s} must exceed the worst-case round {worst:.3f}s "
                f"for depth {self.tree.depth} and slot_s={slot_s}"
            )
        self.period_s = period_s
        self.slot_s = slot_s
        self.epochs = epochs
        self.track = track_members
        self.parent = self.tree.parent(node_id)
        self.children = self.tree.children(node_id)
        self.height = self.tree.height(node_id)
        self.value: tuple[float, int | str | bytes | None] | None = None
        if value is not None:
            self.set_value(value, 0.0)
        self.auto = auto
        self.rounds: dict[int, _Round] = {}
        self.redirects: dict[int, NodeId] = {}
        self.results: dict[int, AggregateResult] = {}
        self.rejected = RejectCounts()
        self._early: dict[int, list[tuple[NodeId, PartialMsg]]] = {}
        self._next_epoch = 0
        self._remaining = epochs

    # -- commands -------------------------------------------------------------
    def set_value(self, value: float, now: float, key: int | str | bytes | None = None) -> None:
        """Set this agent's value (used from the next epoch that starts).

        Raises:
            InvalidValueError: ``value`` is NaN or infinite.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidValueError(f"node {self.node_id}: value {value!r} is not a number")
        problem = value_problem(value)
        if problem is not None:
            raise InvalidValueError(f"node {self.node_id}: value {value!r} {problem}")
        self.value = (float(value), key)

    def begin_epoch(self, epoch: int, now: float) -> None:
        """Start ``epoch`` now (manual mode; every member must be told the same epoch)."""
        if epoch in self.rounds or epoch < self._next_epoch:
            raise ConfigError(f"epoch {epoch} already started on node {self.node_id}")
        self._next_epoch = epoch + 1
        self._begin(epoch, now)

    # -- runtime hooks ----------------------------------------------------------
    def start(self, now: float) -> None:
        if not self.auto:
            return
        self._next_epoch = max(0, math.ceil(now / self.period_s - 1e-9))
        self.set_timer("epoch", self._next_epoch * self.period_s)

    def on_timer(self, name: str, now: float) -> None:
        if name == "epoch":
            self._begin(self._next_epoch, now)
            self._next_epoch += 1
            if self._remaining is not None:
                self._remaining -= 1
            if self._remaining is None or self._remaining > 0:
                self.set_timer("epoch", self._next_epoch * self.period_s)
        elif name.startswith("deadline:"):
            self._on_deadline(int(name.split(":", 1)[1]), now)

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        if src not in self.tree:
            self.rejected.unknown_sender += 1
            return
        if isinstance(msg, PartialMsg):
            self._on_partial(src, msg, now)
        elif isinstance(msg, Redirect | SoloRequest):
            # only an ancestor may re-parent us, and only to one of our ancestors
            anc = self.tree.ancestors(self.node_id)
            if src not in anc or msg.to not in anc:
                self.rejected.unknown_sender += 1
                return
            if isinstance(msg, Redirect):
                self._on_redirect(msg.epoch, msg.to)
            else:
                self.send(msg.to, PartialMsg(msg.epoch, self._own(), solo=True))
        else:
            self.rejected.invalid += 1

    # -- protocol -----------------------------------------------------------------
    def _own(self) -> Summary:
        if self.value is None:
            return Summary.identity(self.spec, track=self.track)
        value, key = self.value
        return Summary.of(self.spec, self.node_id, value, key, track=self.track)

    def _begin(self, epoch: int, now: float) -> None:
        deadline = now + (self.height + 1) * self.slot_s
        rnd = _Round(now, deadline, set(self.children), self._own())
        self.rounds[epoch] = rnd
        for old in [e for e in self.rounds if e < epoch - KEEP_EPOCHS]:
            del self.rounds[old]
            self.redirects.pop(old, None)
        for src, msg in self._early.pop(epoch, []):
            self._on_partial(src, msg, now)
        if not rnd.done:
            if rnd.expected <= rnd.heard:
                self._finish(epoch, rnd)
            else:
                self.set_timer(f"deadline:{epoch}", deadline)

    def _on_partial(self, src: NodeId, msg: PartialMsg, now: float) -> None:
        rnd = self.rounds.get(msg.epoch)
        if rnd is None:
            if msg.epoch >= self._next_epoch and msg.epoch < self._next_epoch + KEEP_EPOCHS:
                self._early.setdefault(msg.epoch, []).append((src, msg))
            else:
                self.rejected.late += 1
            return
        if rnd.done:
            self.rejected.late += 1
            return
        if src in rnd.adopted_around:
            if not msg.solo or src not in rnd.solo_expected:
                self.rejected.duplicate += 1
                return
            rnd.solo_expected.discard(src)
        elif src not in rnd.expected or msg.solo:
            self.rejected.unknown_sender += 1
            return
        elif src in rnd.heard:
            self.rejected.duplicate += 1
            return
        try:
            summary = msg.summary.check()
            rnd.acc = rnd.acc.merge(summary)
        except SketchMismatchError:
            self.rejected.mismatched += 1
            return
        except InvalidValueError:
            self.rejected.invalid += 1
            return
        if src not in rnd.adopted_around:
            rnd.heard.add(src)
        if self._complete(rnd):
            self._finish(msg.epoch, rnd)

    @staticmethod
    def _complete(rnd: _Round) -> bool:
        return not rnd.solo_expected and all(
            s in rnd.heard or s in rnd.adopted_around for s in rnd.expected
        )

    def _on_deadline(self, epoch: int, now: float) -> None:
        rnd = self.rounds.get(epoch)
        if rnd is None or rnd.done:
            return
        missing = [
            s for s in sorted(rnd.expected) if s not in rnd.heard and s not in rnd.adopted_around
        ]
        if not missing or rnd.extensions > self.height:
            self._finish(epoch, rnd)
            return
        # adopt the subtrees of missing senders: their own value alone, their children directly
        for m in missing:
            rnd.adopted_around.add(m)
            rnd.solo_expected.add(m)
            self.send(m, SoloRequest(epoch, self.node_id))
            for c in self.tree.children(m):
                rnd.expected.add(c)
                self.send(c, Redirect(epoch, self.node_id))
        rnd.extensions += 1
        rnd.deadline = now + 2 * self.slot_s
        self.set_timer(f"deadline:{epoch}", rnd.deadline)

    def _on_redirect(self, epoch: int, to: NodeId) -> None:
        self.redirects[epoch] = to
        rnd = self.rounds.get(epoch)
        if rnd is not None and rnd.sent is not None:
            self.send(to, rnd.sent)
            self.emit(Forwarded(epoch, to, rnd.sent.summary.coverage))

    def _finish(self, epoch: int, rnd: _Round) -> None:
        rnd.done = True
        self.cancel_timer(f"deadline:{epoch}")
        if self.parent is None:
            result = AggregateResult(epoch, rnd.acc, rnd.acc.coverage, len(self.tree))
            self.results[epoch] = result
            self.emit(result)
            return
        msg = PartialMsg(epoch, rnd.acc)
        rnd.sent = msg
        to = self.redirects.get(epoch, self.parent)
        self.send(to, msg)
        self.emit(Forwarded(epoch, to, rnd.acc.coverage))
