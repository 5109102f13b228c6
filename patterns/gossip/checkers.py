"""Invariant checkers of CRDT replication (observe only): convergence and nothing lost."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pycrdt

from patterns.core.codec import Codec, Message
from patterns.core.ids import NodeId
from patterns.gossip.document import ReplicatedDoc
from patterns.gossip.events import DocChanged, LocalEdit, NodeStarted
from patterns.gossip.node import ReplicaNode
from patterns.gossip.statevec import StateVector, decode_state_vector, dominates
from patterns.net.checkers import BaseChecker, InvariantViolation
from patterns.net.node import Event

if TYPE_CHECKING:
    from patterns.net.sim import Simulator


def live_replicas(sim: Simulator) -> dict[NodeId, ReplicaNode]:
    """The live nodes of ``sim`` that hold a replicated document."""
    out: dict[NodeId, ReplicaNode] = {}
    for nid in sorted(sim.alive):
        node = sim.nodes[nid]
        if isinstance(node, ReplicaNode):
            out[nid] = node
    return out


def divergence(nodes: dict[NodeId, ReplicaNode]) -> str | None:
    """None if all ``nodes`` hold equal documents, else a description of the first difference.

    Equal means: the same state vector (the same structs integrated) and the same
    content (``to_py`` of every root), which also covers deletions.
    """
    if len(nodes) < 2:
        return None
    ids = list(nodes)
    ref_id = ids[0]
    ref = nodes[ref_id]
    ref_sv = ref.replica.state_vector
    ref_fp = ref.fingerprint
    ref_content: dict[str, Any] | None = None
    for nid in ids[1:]:
        node = nodes[nid]
        if node.fingerprint == ref_fp:
            continue  # same state vector and delete set: the same document
        if node.replica.state_vector != ref_sv:
            return (
                f"node {nid} state vector {node.replica.state_vector} differs from "
                f"node {ref_id}'s {ref_sv}"
            )
        if ref_content is None:
            ref_content = ref.snapshot()
        content = node.snapshot()
        if content != ref_content:
            return f"node {nid} content {content!r} differs from node {ref_id}'s {ref_content!r}"
    return None


class ConvergenceChecker(BaseChecker):
    """Convergence: when a run ends, every live node holds an equal document.

    Checked at the end of every :meth:`Simulator.run` unless constructed with
    ``at_end=False`` (then call :meth:`check` when the run should have converged).
    """

    def __init__(self, *, at_end: bool = True) -> None:
        self.enabled = at_end

    def at_end(self, sim: Simulator) -> None:
        """Check, if enabled."""
        if self.enabled:
            self.check(sim)

    def check(self, sim: Simulator) -> None:
        """Raise :class:`InvariantViolation` unless all live documents are equal."""
        why = divergence(live_replicas(sim))
        if why is not None:
            raise InvariantViolation(f"not converged at t={sim.now:.3f}s (seed={sim.seed}): {why}")


class NothingLostChecker(BaseChecker):
    """Nothing lost: every edit that had to survive is in every live node's document.

    Exact definition. Let edit E be a local transaction of node o, made by o's
    incarnation i (a restart starts a new incarnation with an empty document). E
    is *owed* at the end of a run if

    (a) o's incarnation i is still up (o never crashed after making E), or
    (b) E was acknowledged by replication to a survivor: some node incarnation
        that is up at the end reported (by a :class:`DocChanged` event) a state
        vector that covers every struct E created.

    The check: every owed edit is contained in every live node's document, that
    is, its structs are covered by the node's state vector and applying E to a
    copy of the document changes neither the state vector nor the content (so
    its deletions are there too). Edits only a crashed incarnation ever held are
    legitimately lost and not owed. An edit that only deletes creates no structs,
    so (b) cannot be observed for it: it is owed under (a) only.

    While the run goes, it also checks that a node's state vector never moves
    backwards within one incarnation (a replica never forgets).

    Args:
        at_end: check at the end of every run (else call :meth:`check`).
    """

    def __init__(self, *, at_end: bool = True) -> None:
        self.enabled = at_end
        self._incarnation: dict[NodeId, int] = {}
        self._held: dict[tuple[NodeId, int], StateVector] = {}
        self.edits: list[tuple[NodeId, int, bytes, StateVector]] = []

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """Track incarnations, edits and the state each incarnation reported."""
        if isinstance(event, DocChanged):
            key = (node, self._incarnation.get(node, 0))
            sv = decode_state_vector(event.state)
            before = self._held.get(key)
            if before is not None and not dominates(sv, before):
                raise InvariantViolation(
                    f"node {node}'s state vector went back from {before} to {sv} at t={t:.4f}s"
                )
            self._held[key] = sv
        elif isinstance(event, LocalEdit):
            edit_sv = decode_state_vector(pycrdt.get_state(event.update))
            self.edits.append((node, self._incarnation.get(node, 0), event.update, edit_sv))
        elif isinstance(event, NodeStarted):
            self._incarnation[node] = self._incarnation.get(node, -1) + 1

    def at_end(self, sim: Simulator) -> None:
        """Check, if enabled."""
        if self.enabled:
            self.check(sim)

    def owed(self, sim: Simulator) -> list[tuple[NodeId, bytes, StateVector]]:
        """The owed edits (origin, update, structs' state vector), in the order made."""
        up = {n: self._incarnation.get(n, 0) for n in sim.alive}
        survivors = [sv for (n, inc), sv in self._held.items() if up.get(n) == inc]
        out: list[tuple[NodeId, bytes, StateVector]] = []
        for origin, inc, update, edit_sv in self.edits:
            if up.get(origin) == inc or (
                edit_sv and any(dominates(sv, edit_sv) for sv in survivors)
            ):
                out.append((origin, update, edit_sv))
        return out

    def lost(self, sim: Simulator) -> int:
        """How many edits were made but are not owed (legitimately lost with a crash)."""
        return len(self.edits) - len(self.owed(sim))

    def check(self, sim: Simulator) -> None:
        """Raise :class:`InvariantViolation` if a live node lacks an owed edit."""
        owed = self.owed(sim)
        if not owed:
            return
        nodes = live_replicas(sim)
        checked: set[bytes] = set()
        for nid, node in nodes.items():
            sv = node.replica.state_vector
            for origin, _update, edit_sv in owed:
                if not dominates(sv, edit_sv):
                    raise InvariantViolation(
                        f"node {nid} lacks an edit of node {origin} (structs {edit_sv}, "
                        f"node has {sv}) at t={sim.now:.3f}s (seed={sim.seed})"
                    )
            fp = node.fingerprint
            if fp in checked:
                continue  # an equal document was already checked for deletions
            checked.add(fp)
            if not contains(node.replica, [u for _, u, _ in owed]):
                raise InvariantViolation(
                    f"node {nid}'s document changes when the owed edits are applied again: "
                    f"a deletion was lost (t={sim.now:.3f}s, seed={sim.seed})"
                )


def contains(replica: ReplicatedDoc, updates: list[bytes]) -> bool:
    """True if applying ``updates`` to a copy of ``replica`` changes nothing."""
    copy = ReplicatedDoc(client_id=1, roots=replica.roots)
    copy.apply_remote(replica.full_update())
    before_state, before = copy.state, copy.snapshot()
    copy.apply_remote(pycrdt.merge_updates(*updates))
    return copy.state == before_state and copy.snapshot() == before


class ConvergenceWatch(BaseChecker):
    """A cheap predicate for ``Simulator.run(until=...)``: all live documents are equal.

    It keeps each node's latest fingerprint from :class:`DocChanged` events and a
    count of distinct fingerprints, so a check is O(1); after a crash or restart it
    recounts from the nodes. Register it in the simulator's checkers.
    """

    def __init__(self) -> None:
        self._fp: dict[NodeId, bytes] = {}
        self._count: Counter[bytes] = Counter()
        self._epoch: tuple[int, int] | None = None
        self._alive: frozenset[NodeId] = frozenset()

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """Track fingerprints."""
        if isinstance(event, DocChanged) and node in self._alive:
            self._set(node, event.fingerprint)

    def _set(self, node: NodeId, fp: bytes) -> None:
        old = self._fp.get(node)
        if old is not None:
            self._count[old] -= 1
            if not self._count[old]:
                del self._count[old]
        self._fp[node] = fp
        self._count[fp] += 1

    def converged(self, sim: Simulator) -> bool:
        """True if every live node holds an equal document."""
        epoch = (sim.stats.crashes, sim.stats.restarts)
        if epoch != self._epoch:
            self._epoch = epoch
            self._alive = frozenset(sim.alive)
            self._fp.clear()
            self._count.clear()
            for nid, node in live_replicas(sim).items():
                self._set(nid, node.fingerprint)
        return len(self._count) <= 1

    def distinct(self) -> int:
        """Distinct documents among live nodes at the last check."""
        return len(self._count)


class TrafficMeter(BaseChecker):
    """Counts delivered messages and their encoded bytes, by sender and by message type."""

    def __init__(self, codec: Codec[Message]) -> None:
        self.codec = codec
        self.messages = 0
        self.bytes = 0
        self.by_type: Counter[str] = Counter()
        self.bytes_by_type: Counter[str] = Counter()
        self.bytes_by_sender: Counter[NodeId] = Counter()

    def on_delivery(self, t: float, src: NodeId, dst: NodeId, msg: Message) -> None:
        """Count one delivered message."""
        size = len(self.codec.encode(msg))
        name = type(msg).__name__
        self.messages += 1
        self.bytes += size
        self.by_type[name] += 1
        self.bytes_by_type[name] += size
        self.bytes_by_sender[src] += size

    def reset(self) -> None:
        """Zero every counter."""
        self.messages = 0
        self.bytes = 0
        self.by_type.clear()
        self.bytes_by_type.clear()
        self.bytes_by_sender.clear()
