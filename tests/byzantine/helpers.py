"""Helpers for PBFT tests: quiet clusters, injected messages, kv shortcuts."""

from __future__ import annotations

from patterns.byzantine.client import CommittedResult
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import SimCluster, sim_cluster
from patterns.byzantine.state_machine import Get, KvResult, Put, decode_result, encode_op
from patterns.core.codec import Message
from patterns.net.faults import FaultPlan
from tests.byzantine.scenarios import TEST_SETTINGS


def cluster(
    f: int = 1,
    clients: int = 1,
    plan: FaultPlan | None = None,
    settings: ByzantineSettings | None = None,
    **kwargs: object,
) -> SimCluster:
    """A simulated cluster with the fast test settings."""
    return sim_cluster(
        f, clients, plan or FaultPlan(seed=1), settings=settings or TEST_SETTINGS, **kwargs
    )  # type: ignore[arg-type]


def put(key: str, value: str) -> bytes:
    return encode_op(Put(key, value))


def get(key: str) -> bytes:
    return encode_op(Get(key))


def kv(res: CommittedResult) -> KvResult:
    return decode_result(res.result)


def inject(c: SimCluster, src: int, dst: int, msg: Message) -> None:
    """Make node ``src`` send ``msg`` to ``dst`` now (it goes through the simulated network)."""
    c.sim.call(src, lambda node, now: node.send(dst, msg))


def deliver(c: SimCluster, dst: int, src: int, msg: Message) -> None:
    """Hand ``msg`` from ``src`` straight to replica ``dst`` (no network), then flush."""
    c.sim.call(dst, lambda node, now: node.receive(src, msg, now))


def run_ops(
    c: SimCluster, client: int, ops: list[bytes], max_time: float = 30.0
) -> list[CommittedResult]:
    """Submit ``ops`` at ``client`` and run until they all completed."""
    before = len(c.client(client).completed)
    for op in ops:
        c.submit(client, op)
    res = c.run_until_done(c.sim.now + max_time)
    assert res.reached, res.describe()
    return c.client(client).results[before:]
