"""The shared best-folds document: a pycrdt map replicated by gossip (pattern 3).

Each agent owns a replica of the document (agent ``k`` writes at peer ``k mod
peers``) and publishes its best fold there after every epoch; anti-entropy
gossip carries it to every other replica, where the other agents read it. A
reader re-scores what it reads before using it: the document is shared with
agents that may lie.
"""

from __future__ import annotations

import json
from typing import Any

from patterns.gossip import RootKind, SimulatedCluster
from patterns.net.faults import FaultPlan

ROOT = "folds"
CONVERGE_DEADLINE_S = 30.0  # virtual seconds to wait for every live replica to agree


class FoldBoard(SimulatedCluster):
    """A gossip cluster of ``peers`` replicas of the best-folds document on the deterministic simulator."""

    ROOTS = {ROOT: RootKind.MAP}

    def __init__(self, peers: int, seed: int = 0, plan: FaultPlan | None = None) -> None:
        super().__init__(peers, seed, plan)
        self.published = 0

    def publish_all(self, entries: dict[int, dict[str, Any]]) -> int:
        """Each agent ``k`` writes its entry at its own replica; gossip until every live replica has all.

        Returns:
            The number of live replicas holding every entry.
        """
        keys = []
        for k, value in entries.items():
            key = f"agent-{k}"
            self.set_key(self.live(k % self.peers), ROOT, key, json.dumps(value, sort_keys=True))
            keys.append(key)
            self.published += 1
        self.gossip_until_converged(CONVERGE_DEADLINE_S, root=ROOT, keys=keys)
        return self.holders(ROOT, keys)

    def read(self, agent: int) -> dict[str, dict[str, Any]]:
        """The document as agent ``agent``'s replica holds it (entries that are not JSON are skipped)."""
        out: dict[str, dict[str, Any]] = {}
        for k, v in self.snapshot(self.live(agent % self.peers))[ROOT].items():
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError):
                continue
        return out
