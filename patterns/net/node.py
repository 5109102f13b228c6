"""The sans-IO node contract shared by every protocol in ``patterns``.

A protocol node is a pure state machine in the style of aioquic's
``QuicConnection``: it never reads the wall clock, opens a socket or draws
unseeded randomness. A runtime (the simulator in :mod:`patterns.net.sim`, the
QUIC runtime in :mod:`patterns.net.quic`) drives it by calling

* :meth:`Node.start` once when the node boots,
* :meth:`Node.receive` for every message from a peer,
* :meth:`Node.handle_timer` when the time reported by :meth:`Node.next_timer`
  has come,
* protocol-specific *commands* (ordinary methods taking ``now``),

and after each call collects what the node wants done with
:meth:`Node.drain_outbox` (messages to send) and :meth:`Node.drain_events`
(things that happened, for applications and invariant checkers).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from patterns.core.codec import Message
from patterns.core.ids import NodeId

if TYPE_CHECKING:
    from patterns.net.linkkeys import LinkKeys

Outgoing = tuple[NodeId, Message]
"""A message a node wants sent: ``(destination, message)``."""


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of node events; one frozen dataclass per kind."""


class Node(ABC):
    """A sans-IO protocol node.

    Subclasses implement :meth:`on_message` and, if they use timers,
    :meth:`on_timer`; they call :meth:`send`, :meth:`emit`, :meth:`set_timer`
    and :meth:`cancel_timer` from those methods.

    Args:
        node_id: this node's id.
        peers: ids of the other nodes it talks to (its own id is removed).
        rng: the seeded random generator this node may use.
    """

    events_wanted = True
    """False while nothing reads this node's events (a runtime says so): a hot path may
    then skip building them. Protocol state never depends on it."""

    def __init__(
        self, node_id: NodeId, peers: Iterable[NodeId], rng: random.Random | None = None
    ) -> None:
        self.node_id = node_id
        self.peers: tuple[NodeId, ...] = tuple(sorted(p for p in set(peers) if p != node_id))
        self.rng = rng if rng is not None else random.Random(node_id)
        self._outbox: list[Outgoing] = []
        self._events: list[Event] = []
        self._timers: dict[str, float] = {}

    # -- driven by a runtime ------------------------------------------------
    def start(self, now: float) -> None:  # noqa: B027 - optional hook
        """Called once by the runtime when the node boots (or reboots)."""

    def receive(self, src: NodeId, msg: Message, now: float) -> None:
        """Handle one message ``msg`` from peer ``src`` at local time ``now``."""
        self.on_message(src, msg, now)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        while self._timers:
            name, at = min(self._timers.items(), key=lambda kv: kv[1])
            if at > now:
                return
            del self._timers[name]
            self.on_timer(name, now)

    def next_timer(self) -> float | None:
        """The local time at which :meth:`handle_timer` must next be called."""
        return min(self._timers.values()) if self._timers else None

    def drain_outbox(self) -> list[Outgoing]:
        """Messages to send since the last drain, in order."""
        out, self._outbox = self._outbox, []
        return out

    def drain_events(self) -> list[Event]:
        """Events emitted since the last drain, in order."""
        ev, self._events = self._events, []
        return ev

    @property
    def has_output(self) -> bool:
        """True if the outbox or the event queue is not empty."""
        return bool(self._outbox or self._events)

    # -- for subclasses -----------------------------------------------------
    @abstractmethod
    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        """Protocol logic for one received message."""

    def on_timer(self, name: str, now: float) -> None:  # noqa: B027 - optional hook
        """Protocol logic for the timer ``name`` that came due."""

    def send(self, dst: NodeId, msg: Message) -> None:
        """Queue ``msg`` for ``dst``."""
        self._outbox.append((dst, msg))

    def broadcast(self, msg: Message, peers: Iterable[NodeId] | None = None) -> None:
        """Queue ``msg`` for every peer (or the given ones); the same object to each."""
        for dst in self.peers if peers is None else peers:
            if dst != self.node_id:
                self._outbox.append((dst, msg))

    def emit(self, event: Event) -> None:
        """Record an event for the runtime and checkers."""
        self._events.append(event)

    def set_timer(self, name: str, at: float) -> None:
        """Arm (or re-arm) the timer ``name`` for local time ``at``."""
        self._timers[name] = at

    def cancel_timer(self, name: str) -> None:
        """Disarm the timer ``name`` if armed."""
        self._timers.pop(name, None)

    def timer_armed(self, name: str) -> bool:
        """True if the timer ``name`` is armed."""
        return name in self._timers

    def use_link_keys(self, links: LinkKeys) -> bool:
        """Called by a transport that agrees a key per link (QUIC): True if the node
        authenticates its messages with them from now on (the default: it does not)."""
        return False

    def link_key_arrived(self, peer: NodeId, now: float) -> None:  # noqa: B027 - optional hook
        """Called by the transport when a new key from ``peer`` was installed."""

    def describe(self) -> dict[str, Any]:
        """A small JSON-able summary of the node's state, for logs and artifacts."""
        return {"node_id": self.node_id, "peers": len(self.peers), "timers": dict(self._timers)}
