"""Step 7's last part: the shared incident document, a pycrdt map replicated by gossip (pattern 3).

Every monitor scope holds a replica of the document; the healer writes an incident's
outcome at its own replica and anti-entropy gossip carries it to all the others.
"""

from __future__ import annotations

import json
from typing import Any

from patterns.gossip import ConvergenceWatch, GossipNode, GossipSettings, RootKind, gossip_codec
from patterns.net.faults import FaultPlan
from patterns.net.sim import Simulator

ROOTS = {"incidents": RootKind.MAP}
CONVERGE_DEADLINE_S = 30.0  # virtual seconds to wait for every live replica to agree


class IncidentBoard:
    """A gossip cluster of ``peers`` document replicas on the deterministic simulator."""

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

    def publish(self, key: str, value: dict[str, Any]) -> int:
        """Write ``key`` at the first live replica and gossip until every live replica has it.

        Returns:
            The number of live replicas that hold the outcome.
        """
        sim = self.sim
        writer = min(sim.alive)
        text = json.dumps(value, sort_keys=True, default=str)
        sim.call(writer, lambda node, now: _gossip(node).set_key(key, text, now, root="incidents"))

        def done(s: Simulator) -> bool:
            return self.watch.converged(s) and all(
                key in _gossip(s.nodes[i]).snapshot()["incidents"] for i in s.alive
            )

        sim.run(until=done, max_time=sim.now + CONVERGE_DEADLINE_S)
        sim.events.clear()
        return sum(1 for i in sim.alive if key in _gossip(sim.nodes[i]).snapshot()["incidents"])

    def document(self, replica: int | None = None) -> dict[str, Any]:
        """The incident map as one replica sees it (the first live one by default)."""
        nid = min(self.sim.alive) if replica is None else replica
        doc = _gossip(self.sim.nodes[nid]).snapshot()["incidents"]
        return {k: json.loads(v) for k, v in doc.items()}


def _gossip(node: object) -> GossipNode:
    assert isinstance(node, GossipNode)
    return node
