"""Step 7's last part: the shared incident document, a pycrdt map replicated by gossip (pattern 3).

Every monitor scope holds a replica of the document; the healer writes an incident's
outcome at its own replica and anti-entropy gossip carries it to all the others.
"""

from __future__ import annotations

import json
from typing import Any

from patterns.gossip import RootKind, SimulatedCluster

ROOT = "incidents"
CONVERGE_DEADLINE_S = 30.0  # virtual seconds to wait for every live replica to agree


class IncidentBoard(SimulatedCluster):
    """A gossip cluster of ``peers`` document replicas on the deterministic simulator."""

    ROOTS = {ROOT: RootKind.MAP}

    def publish(self, key: str, value: dict[str, Any]) -> int:
        """Write ``key`` at the first live replica and gossip until every live replica has it.

        Returns:
            The number of live replicas that hold the outcome.
        """
        self.set_key(self.live(), ROOT, key, json.dumps(value, sort_keys=True, default=str))
        self.gossip_until_converged(CONVERGE_DEADLINE_S, root=ROOT, keys=(key,))
        return self.holders(ROOT, (key,))

    def document(self, replica: int | None = None) -> dict[str, Any]:
        """The incident map as one replica sees it (the first live one by default)."""
        nid = min(self.sim.alive) if replica is None else replica
        return {k: json.loads(v) for k, v in self.snapshot(nid)[ROOT].items()}
