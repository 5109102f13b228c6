"""Run the reference broadcast protocol end to end and report what happened.

Used by the kernel demo flow and the conformance tests: the same
:class:`~patterns.net.reference.ReliableBroadcastNode` runs under the
simulator (:func:`run_broadcast_sim`) or over QUIC on loopback
(:func:`run_broadcast_quic`), and both return a :class:`BroadcastReport`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import partial

from patterns.core.exceptions import ConfigError
from patterns.core.settings import QuicSettings
from patterns.net.faults import FaultPlan
from patterns.net.quic import QuicCluster
from patterns.net.reference import ReliableBroadcastNode, reference_codec
from patterns.net.sim import Simulator

MAX_DEMO_NODES = 1000
MAX_DEMO_VALUES = 10_000


@dataclass
class BroadcastReport:
    """Outcome of one reliable-broadcast run."""

    runtime: str
    nodes: int
    values_per_node: int
    complete: bool
    delivered_per_node: dict[int, int]
    messages_delivered: int
    elapsed_s: float
    seed: int | None = None
    details: dict[str, float | int | str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, int | str]]:
        """One row per node, for a table artifact."""
        expected = self.nodes * self.values_per_node
        return [
            {
                "node": n,
                "delivered": d,
                "expected": expected,
                "ok": "yes" if d == expected else "NO",
            }
            for n, d in sorted(self.delivered_per_node.items())
        ]


def check_size(nodes: int, values: int) -> None:
    """Validate the size of a demo run.

    Raises:
        ConfigError: naming the out-of-range argument.
    """
    if not 1 <= nodes <= MAX_DEMO_NODES:
        raise ConfigError(f"nodes must be in 1..{MAX_DEMO_NODES}, got {nodes}")
    if not 1 <= values <= MAX_DEMO_VALUES:
        raise ConfigError(f"values must be in 1..{MAX_DEMO_VALUES}, got {values}")


def _broadcast(node: ReliableBroadcastNode, now: float, payload: bytes) -> int:
    return node.broadcast_value(payload, now)


def run_broadcast_sim(
    nodes: int, values: int, plan: FaultPlan | None = None, max_time_s: float = 600.0
) -> BroadcastReport:
    """Every node broadcasts ``values`` values under the simulator with ``plan``'s faults."""
    check_size(nodes, values)
    plan = plan or FaultPlan()
    sim = Simulator(
        lambda nid, rng: ReliableBroadcastNode(nid, range(nodes), rng),
        range(nodes),
        plan,
        codec=reference_codec(),
        record=False,
        wire_check=True,
    )
    for origin in range(nodes):
        for k in range(values):
            sim.call(origin, partial(_broadcast, payload=b"value-%d" % k))
    total = nodes * values

    def done(s: Simulator) -> bool:
        return all(
            len(n.delivered) == total and n.all_acked  # type: ignore[attr-defined]
            for n in s.nodes.values()
        )

    result = sim.run(until=done, max_time=max_time_s)
    return BroadcastReport(
        runtime="simulator",
        nodes=nodes,
        values_per_node=values,
        complete=result.reached,
        delivered_per_node={
            nid: len(n.delivered)  # type: ignore[attr-defined]
            for nid, n in sim.nodes.items()
        },
        messages_delivered=sim.stats.delivered,
        elapsed_s=result.time,
        seed=plan.seed,
        details={"lost": sim.stats.lost, "duplicated": sim.stats.duplicated, "clock": "virtual"},
    )


async def run_broadcast_quic(
    nodes: int,
    values: int,
    certs_dir: str | os.PathLike[str],
    timeout_s: float = 60.0,
    settings: QuicSettings | None = None,
) -> BroadcastReport:
    """Every node broadcasts ``values`` values over real QUIC with mutual TLS on loopback.

    The cluster CA and node certificates live in ``certs_dir`` (created if missing).

    Raises:
        DeadlineExceededError: not every value was delivered within ``timeout_s``.
    """
    check_size(nodes, values)
    members = [ReliableBroadcastNode(nid, range(nodes)) for nid in range(nodes)]
    total = nodes * values
    started = time.perf_counter()
    async with QuicCluster(members, reference_codec(), certs_dir, settings) as cluster:
        for origin in range(nodes):
            for k in range(values):
                cluster.call(origin, partial(_broadcast, payload=b"value-%d" % k))

        def done() -> bool:
            return all(len(n.delivered) == total and n.all_acked for n in cluster.nodes.values())

        await cluster.run_until(done, timeout_s)
        elapsed = time.perf_counter() - started
        stats = cluster.stats()
        received = sum(st.messages_received for st in stats.values())
        return BroadcastReport(
            runtime="quic",
            nodes=nodes,
            values_per_node=values,
            complete=done(),
            delivered_per_node={nid: len(n.delivered) for nid, n in cluster.nodes.items()},
            messages_delivered=received,
            elapsed_s=elapsed,
            details={
                "bytes_sent": sum(st.bytes_sent for st in stats.values()),
                "clock": "wall",
            },
        )
