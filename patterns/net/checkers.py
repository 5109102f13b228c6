"""Invariant checkers: observe a simulation, apart from the fault injectors.

A checker sees every delivery and every node event the simulator records and
raises :class:`InvariantViolation` the moment an invariant breaks, or at the
end of a run. Checkers never change what happens; injectors never check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from patterns.core.codec import Message
from patterns.core.exceptions import PermanentError
from patterns.core.ids import NodeId
from patterns.net.node import Event

if TYPE_CHECKING:
    from patterns.net.sim import Simulator


class InvariantViolation(PermanentError):
    """A safety or liveness invariant does not hold."""


class Checker(Protocol):
    """Observer of a simulation run. Every method is optional in spirit; implement no-ops."""

    def on_delivery(self, t: float, src: NodeId, dst: NodeId, msg: Message) -> None:
        """A message was delivered at virtual time ``t``."""

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """``node`` emitted ``event`` at virtual time ``t``."""

    def at_end(self, sim: Simulator) -> None:
        """The run stopped; check final-state invariants."""


class BaseChecker:
    """A checker with no-op hooks, to subclass."""

    def on_delivery(self, t: float, src: NodeId, dst: NodeId, msg: Message) -> None:
        """No-op."""

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """No-op."""

    def at_end(self, sim: Simulator) -> None:
        """No-op."""
