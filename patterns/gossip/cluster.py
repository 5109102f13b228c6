"""Replicas of one document gossiping on the deterministic simulator: the cluster apps share state with.

An app that shares a document between its agents (the self-healing loop's incident
board, the folding swarm's best folds, the game's world) holds one
:class:`SimulatedCluster`: ``peers`` :class:`~patterns.gossip.GossipNode` replicas on
:class:`~patterns.net.sim.Simulator` under a fault plan, edits made at one replica, and
anti-entropy gossip run until the live replicas agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from pycrdt import Doc

from patterns.gossip.checkers import ConvergenceWatch
from patterns.gossip.document import DEFAULT_ROOTS, RootKind
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import FaultPlan
from patterns.net.sim import Simulator


class SimulatedCluster:
    """``peers`` replicas of one document gossiping on the deterministic simulator.

    Args:
        peers: replicas (fewer than 2 are raised to 2).
        seed: the fault plan's seed when ``plan`` is not given (it drives every random
            choice of the network).
        plan: the network's fault plan.
        settings: gossip settings (defaults when ``None``).
        roots: the document's roots and their kinds (default: the class's ``ROOTS``, which
            an app's subclass sets to its document's).
    """

    ROOTS: ClassVar[Mapping[str, RootKind]] = DEFAULT_ROOTS

    def __init__(
        self,
        peers: int,
        seed: int = 0,
        plan: FaultPlan | None = None,
        settings: GossipSettings | None = None,
        roots: Mapping[str, RootKind] | None = None,
    ) -> None:
        self.peers = max(2, peers)
        self.watch = ConvergenceWatch()
        n, cfg = self.peers, settings or GossipSettings()
        kinds = dict(self.ROOTS if roots is None else roots)
        self.sim = Simulator(
            lambda nid, rng: GossipNode(nid, range(n), rng, settings=cfg, roots=kinds),
            range(n),
            plan or FaultPlan(seed=seed),
            codec=gossip_codec(),
            checkers=[self.watch],
            record=False,
            link_keys=True,  # every message MACed with its link key, as over QUIC
        )

    def node(self, peer: int) -> GossipNode:
        """The gossip node of ``peer``."""
        node = self.sim.nodes[peer]
        assert isinstance(node, GossipNode)
        return node

    def live(self, peer: int | None = None) -> int:
        """``peer`` if it is alive, else the lowest live replica."""
        alive = self.sim.alive
        return peer if peer is not None and peer in alive else min(alive)

    def edit(self, peer: int, fn: Callable[[Doc[Any], float], None]) -> None:
        """Run ``fn(doc, now)`` as one local transaction at ``peer`` (gossip carries it on)."""
        self.sim.call(peer, lambda node, now: node.edit(lambda doc: fn(doc, now), now))

    def set_key(self, peer: int, root: str, key: str, value: Any) -> None:
        """Write ``value`` under ``key`` of the map root ``root`` at ``peer``."""
        self.sim.call(peer, lambda node, now: node.set_key(key, value, now, root=root))

    def snapshot(self, peer: int) -> dict[str, Any]:
        """``peer``'s replica of the document as plain Python."""
        return self.node(peer).snapshot()

    def converged(self) -> bool:
        """Every live replica holds an equal document."""
        return self.watch.converged(self.sim)

    def holders(self, root: str, keys: Collection[str]) -> int:
        """Live replicas whose ``root`` holds every one of ``keys``."""
        return sum(1 for i in self.sim.alive if self._holds(i, root, keys))

    def gossip_until_converged(
        self, max_s: float = 120.0, *, root: str | None = None, keys: Collection[str] = ()
    ) -> float:
        """Gossip until every live replica holds an equal document (and, with ``root``, holds
        every one of ``keys`` in it), or for ``max_s`` virtual seconds.

        Returns:
            The virtual seconds it took, ``inf`` when ``max_s`` ran out first.
        """
        sim = self.sim
        t0 = sim.now

        def done(s: Simulator) -> bool:
            if not self.watch.converged(s):
                return False
            return root is None or all(self._holds(i, root, keys) for i in s.alive)

        result = sim.run(until=done, max_time=t0 + max_s)
        sim.events.clear()
        return result.time - t0 if result.reached else math.inf

    def _holds(self, peer: int, root: str, keys: Collection[str]) -> bool:
        held = self.snapshot(peer)[root]
        return all(key in held for key in keys)
