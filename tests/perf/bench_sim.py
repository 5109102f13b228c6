"""Simulator throughput: delivered messages per second of wall time."""

from __future__ import annotations

import time

from patterns.core.codec import Message
from patterns.net.faults import FaultPlan
from patterns.net.node import Node
from patterns.net.reference import ReliableBroadcastNode
from patterns.net.sim import Simulator


class Token(Message, frozen=True):
    hops: int


class Relay(Node):
    """Forwards every token to a random peer: constant load, minimal protocol work."""

    def on_message(self, src: int, msg: Message, now: float) -> None:
        assert isinstance(msg, Token)
        self.send(self.peers[self.rng.randrange(len(self.peers))], Token(msg.hops + 1))


def relay_deliveries_per_s(
    nodes: int, deliveries: int = 300_000, tokens_per_node: int = 4
) -> float:
    """Wall-clock deliveries/s of the simulator relaying tokens among ``nodes`` nodes."""
    sim = Simulator(
        lambda nid, rng: Relay(nid, range(nodes), rng),
        range(nodes),
        FaultPlan(seed=1),
        record=False,
    )
    for nid in range(nodes):
        for _ in range(tokens_per_node):
            sim.call(nid, lambda node, now: node.send(node.peers[0], Token(0)))
    t0 = time.perf_counter()
    result = sim.run(max_steps=deliveries)
    elapsed = time.perf_counter() - t0
    return result.steps / elapsed


def broadcast_deliveries_per_s(nodes: int, values: int = 2) -> float:
    """Wall-clock deliveries/s of reliable broadcast (with acks) among ``nodes`` nodes, 10% loss."""
    plan = FaultPlan(seed=1, loss=0.1, faults_until_s=2.0)
    sim = Simulator(
        lambda nid, rng: ReliableBroadcastNode(nid, range(nodes), rng),
        range(nodes),
        plan,
        record=False,
    )
    for nid in range(nodes):
        for k in range(values):
            sim.call(nid, lambda node, now, k=k: node.broadcast_value(b"%d" % k, now))
    t0 = time.perf_counter()
    sim.run(max_time=60.0)
    elapsed = time.perf_counter() - t0
    return sim.stats.delivered / elapsed


def run_sim_bench() -> dict[str, float]:
    """The simulator figures of the kernel benchmark."""
    return {
        "sim_deliveries_per_s_100": relay_deliveries_per_s(100),
        "sim_deliveries_per_s_1000": relay_deliveries_per_s(1000),
        "sim_broadcast_deliveries_per_s_100": broadcast_deliveries_per_s(100),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run_sim_bench(), indent=2))
