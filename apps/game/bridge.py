"""The bridge between the two kinds of peer: a websocket room's document and a gossip node's replica.

Browsers (and :class:`~apps.game.wspeer.WebsocketPeer`) edit the room's pycrdt document
through the Yjs sync protocol; Python peers replicate the world by pattern-3 gossip.
The host runs one gossip node next to the room and a :class:`RoomBridge` between the
two: :meth:`RoomBridge.sync` ships each side exactly the update it lacks (state-vector
difference plus delete set), then pushes what came from the room as a rumor, so both
kinds of peer converge on one document. It is a no-op when the two are equal (their
state vectors and delete sets match), so it can run after every change of either side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pycrdt import Doc

from patterns.gossip import GossipNode
from patterns.gossip.statevec import fingerprint

T = TypeVar("T")
NodeCall = Callable[[Callable[[GossipNode, float], Any]], Any]


@dataclass(slots=True)
class BridgeStats:
    """Updates moved each way, and syncs that found nothing to do."""

    to_gossip: int = 0
    to_room: int = 0
    in_step: int = 0


def doc_fingerprint(doc: Doc[Any]) -> bytes:
    """State vector plus delete set of a bare pycrdt document (equal iff the content is)."""
    state = doc.get_state()
    return fingerprint(state, doc.get_update(state))


class RoomBridge:
    """Keeps ``room`` and the gossip node reached through ``call`` equal.

    Args:
        room: the websocket room's document.
        call: runs ``fn(node, now)`` on the gossip node and sends its output
            (``Simulator.call`` bound to a node, or ``QuicNodeRuntime.call``).
    """

    def __init__(self, room: Doc[Any], call: NodeCall) -> None:
        self.room = room
        self.call = call
        self.stats = BridgeStats()
        self._busy = False

    def sync(self) -> bool:
        """Exchange what each side lacks; True if either changed."""
        if self._busy:  # re-entered from an observer of our own write
            return False
        self._busy = True
        try:
            return bool(self.call(self._step))
        finally:
            self._busy = False

    def _step(self, node: GossipNode, now: float) -> bool:
        replica = node.replica
        if doc_fingerprint(self.room) == replica.fingerprint:
            self.stats.in_step += 1
            return False
        up = self.room.get_update(replica.state)
        changed = node.apply_remote(node.node_id, up, None, "bridge")
        if changed:
            self.stats.to_gossip += 1
            node.on_local_update(up, now)  # rumor it on, as if edited here
        down = replica.update_for(self.room.get_state())
        before = doc_fingerprint(self.room)
        self.room.apply_update(down)
        if doc_fingerprint(self.room) != before:
            self.stats.to_room += 1
        return True
