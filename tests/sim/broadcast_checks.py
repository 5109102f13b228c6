"""Invariant checkers for the reference reliable-broadcast protocol (observe only)."""

from __future__ import annotations

from patterns.net.checkers import BaseChecker, InvariantViolation
from patterns.net.node import Event
from patterns.net.reference import Delivered
from patterns.net.sim import Simulator


class FifoExactlyOnce(BaseChecker):
    """Safety: each node delivers each origin's values once, in sequence order, unaltered."""

    def __init__(self, sent: dict[tuple[int, int], bytes]) -> None:
        self.sent = sent
        self.next: dict[tuple[int, int], int] = {}

    def on_event(self, t: float, node: int, event: Event) -> None:
        if not isinstance(event, Delivered):
            return
        key = (node, event.origin)
        expected = self.next.get(key, 0)
        if event.seq != expected:
            raise InvariantViolation(
                f"node {node} delivered {event.origin}:{event.seq}, expected seq {expected}"
            )
        if self.sent.get((event.origin, event.seq)) != event.payload:
            raise InvariantViolation(f"node {node} delivered an altered {event.origin}:{event.seq}")
        self.next[key] = expected + 1


def all_delivered(sim: Simulator, total: int) -> bool:
    """Liveness predicate: every live node delivered every value and all senders are acked."""
    return all(
        len(sim.nodes[n].delivered) == total and sim.nodes[n].all_acked  # type: ignore[attr-defined]
        for n in sim.alive
    )
