"""Conformance: the reference protocol runs unchanged under the simulator and over QUIC.

One suite, parametrized over both runtimes through a small adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from patterns.core.settings import QuicSettings
from patterns.net.faults import FaultPlan
from patterns.net.quic import QuicCluster
from patterns.net.reference import (
    MAX_PAYLOAD_BYTES,
    FullyAcked,
    ReliableBroadcastNode,
    reference_codec,
)
from patterns.net.sim import Simulator


class Runtime(Protocol):
    nodes: dict[int, ReliableBroadcastNode]

    def call(self, node_id: int, fn: Callable[[Any, float], Any]) -> Any: ...

    async def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None: ...

    def events_of(self, node_id: int) -> list[object]: ...


class SimRuntime:
    def __init__(self, n: int) -> None:
        self.sim = Simulator(
            lambda nid, rng: ReliableBroadcastNode(nid, range(n), rng),
            range(n),
            FaultPlan(seed=1),
            codec=reference_codec(),
            wire_check=True,
        )
        self.nodes = self.sim.nodes  # type: ignore[assignment]

    def call(self, node_id: int, fn: Callable[[Any, float], Any]) -> Any:
        return self.sim.call(node_id, fn)

    async def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        result = self.sim.run(until=lambda _: predicate(), max_time=timeout_s)
        assert result.reached, result.describe()

    def events_of(self, node_id: int) -> list[object]:
        return [e for _, n, e in self.sim.events if n == node_id]


class QuicRuntime:
    def __init__(self, cluster: QuicCluster[ReliableBroadcastNode]) -> None:
        self.cluster = cluster

    @property
    def nodes(self) -> dict[int, ReliableBroadcastNode]:
        return self.cluster.nodes

    def call(self, node_id: int, fn: Callable[[Any, float], Any]) -> Any:
        return self.cluster.call(node_id, fn)

    async def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        await self.cluster.run_until(predicate, timeout_s)

    def events_of(self, node_id: int) -> list[object]:
        return [e for n, e in self.cluster.events if n == node_id]


N = 4


@pytest.fixture(params=["sim", "quic"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    if request.param == "sim":
        yield SimRuntime(N)
        return
    settings = QuicSettings.model_validate({"reconnect_initial_s": 0.02, "reconnect_max_s": 0.5})
    nodes = [ReliableBroadcastNode(nid, range(N)) for nid in range(N)]
    async with QuicCluster(nodes, reference_codec(), tmp_path / "certs", settings) as cluster:
        yield QuicRuntime(cluster)


async def test_every_node_delivers_every_value_in_order(runtime: Runtime) -> None:
    for origin in range(N):
        for k in range(5):
            runtime.call(
                origin,
                lambda node, now, o=origin, k=k: node.broadcast_value(b"%d-%d" % (o, k), now),
            )
    await runtime.run_until(
        lambda: all(len(n.delivered) == N * 5 and n.all_acked for n in runtime.nodes.values()), 20.0
    )
    for node in runtime.nodes.values():
        for origin in range(N):
            mine = [(s, p) for o, s, p in node.delivered if o == origin]
            assert mine == [(k, b"%d-%d" % (origin, k)) for k in range(5)]


async def test_sender_learns_every_value_is_acknowledged(runtime: Runtime) -> None:
    seqs = [
        runtime.call(2, lambda node, now, k=k: node.broadcast_value(b"v%d" % k, now))
        for k in range(3)
    ]
    assert seqs == [0, 1, 2]
    await runtime.run_until(lambda: runtime.nodes[2].all_acked, 20.0)
    acked = sorted(e.seq for e in runtime.events_of(2) if isinstance(e, FullyAcked))
    assert acked == [0, 1, 2]


async def test_oversized_payload_is_refused_before_sending(runtime: Runtime) -> None:
    from patterns.core.exceptions import ConfigError

    with pytest.raises(ConfigError, match="exceeds"):
        runtime.call(0, lambda node, now: node.broadcast_value(b"x" * (MAX_PAYLOAD_BYTES + 1), now))
    assert runtime.nodes[0].all_acked and runtime.nodes[0].delivered == []
