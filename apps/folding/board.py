"""The shared best-folds document: a pycrdt map replicated by gossip (pattern 3).

Each agent owns a replica of the document (agent ``k`` writes at peer ``k mod
peers``) and publishes its best fold there after every epoch; anti-entropy
gossip carries it to every other replica, where the other agents read it. A
reader re-scores what it reads before using it: the document is shared with
agents that may lie.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from patterns.gossip import ConvergenceWatch, GossipNode, GossipSettings, RootKind, gossip_codec
from patterns.net.faults import FaultPlan
from patterns.net.sim import Simulator

ROOTS = {"folds": RootKind.MAP}
CONVERGE_DEADLINE_S = 30.0  # virtual seconds to wait for every live replica to agree


class FoldBoard:
    """A gossip cluster of ``peers`` replicas of the best-folds document on the deterministic simulator."""

    def __init__(self, peers: int, seed: int = 0, plan: FaultPlan | None = None) -> None:
        self.peers = max(peers, 2)
        self.watch = ConvergenceWatch()
        n = self.peers
        self.sim = Simulator(
            lambda nid, rng: GossipNode(nid, range(n), rng, settings=GossipSettings(), roots=ROOTS),
            range(n),
            plan or FaultPlan(seed=seed),
            codec=gossip_codec(),
            checkers=[self.watch],
            record=False,
        )
        self.published = 0

    def publish_all(self, entries: dict[int, dict[str, Any]]) -> int:
        """Each agent ``k`` writes its entry at its own replica; gossip until every live replica has all.

        Returns:
            The number of live replicas holding every entry.
        """
        sim = self.sim
        keys = []
        for k, value in entries.items():
            writer = k % self.peers
            if writer not in sim.alive:
                writer = min(sim.alive)
            key = f"agent-{k}"
            text = json.dumps(value, sort_keys=True)
            sim.call(writer, _writer(key, text))
            keys.append(key)
            self.published += 1

        def holds(s: Simulator, i: int) -> bool:
            doc = _gossip(s.nodes[i]).snapshot()["folds"]
            return all(key in doc for key in keys)

        sim.run(
            until=lambda s: self.watch.converged(s) and all(holds(s, i) for i in s.alive),
            max_time=sim.now + CONVERGE_DEADLINE_S,
        )
        sim.events.clear()
        return sum(1 for i in sim.alive if holds(sim, i))

    def read(self, agent: int) -> dict[str, dict[str, Any]]:
        """The document as agent ``agent``'s replica holds it (entries that are not JSON are skipped)."""
        nid = agent % self.peers
        if nid not in self.sim.alive:
            nid = min(self.sim.alive)
        out: dict[str, dict[str, Any]] = {}
        for k, v in _gossip(self.sim.nodes[nid]).snapshot()["folds"].items():
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError):
                continue
        return out


def _writer(key: str, text: str) -> Callable[[object, float], object]:
    """A simulator call that writes ``key`` at one replica."""

    def write(node: object, now: float) -> object:
        return _gossip(node).set_key(key, text, now, root="folds")

    return write


def _gossip(node: object) -> GossipNode:
    assert isinstance(node, GossipNode)
    return node
