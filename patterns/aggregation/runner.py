"""Run the aggregation protocol end to end: under the simulator or over QUIC, and workloads."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from patterns.aggregation.aggregates import AggregateSpec
from patterns.aggregation.node import (
    DEFAULT_SLOT_S,
    AggregateResult,
    AggregationNode,
    Forwarded,
    aggregation_codec,
)
from patterns.aggregation.tree import tree_depth
from patterns.core.exceptions import ConfigError
from patterns.core.settings import QuicSettings
from patterns.net.faults import FaultPlan
from patterns.net.node import Event
from patterns.net.quic import QuicCluster
from patterns.net.sim import Simulator

MAX_PROTOCOL_NODES = 100_000
MAX_QUIC_NODES = 1024  # endpoints of one QUIC run on one machine
WARMUP_SLOT_S = 10.0  # per-level wait while connections are still being opened


@dataclass
class TreeRunReport:
    """The root's result of one protocol run and what it cost."""

    runtime: str
    nodes: int
    k: int
    depth: int
    result: AggregateResult | None
    partial_messages: int
    total_messages: int
    elapsed_s: float
    rejected: int

    @property
    def coverage(self) -> int:
        """Agents included in the result (0 if the root produced none)."""
        return self.result.coverage if self.result is not None else 0


def simulated_metrics(n: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """Request latencies (ms) of ``n`` simulated agents: lognormal with a slow 1% tail."""
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(mean=3.0, sigma=0.5, size=n)
    slow = rng.random(n) < 0.01
    latency[slow] *= rng.uniform(5.0, 20.0, size=int(slow.sum()))
    return latency


def _period(n: int, k: int, slot_s: float) -> float:
    return (2 * tree_depth(n, k) + 4) * slot_s


def _forwarded(events: Sequence[Event]) -> int:
    return sum(1 for e in events if isinstance(e, Forwarded))


def run_tree_sim(
    values: Sequence[float],
    k: int = 8,
    plan: FaultPlan | None = None,
    *,
    spec: AggregateSpec | None = None,
    slot_s: float = DEFAULT_SLOT_S,
    track_members: bool = False,
) -> TreeRunReport:
    """Aggregate ``values[i]`` of node ``i`` with the protocol under the simulator (one epoch).

    A node restarted after a crash comes back without its value.
    """
    n = len(values)
    if not 1 <= n <= MAX_PROTOCOL_NODES:
        raise ConfigError(f"the protocol runs 1..{MAX_PROTOCOL_NODES} nodes, got {n}")
    period = _period(n, k, slot_s)
    booted: set[int] = set()

    def factory(nid: int, rng: random.Random) -> AggregationNode:
        value = None if nid in booted else float(values[nid])
        booted.add(nid)
        return AggregationNode(
            nid,
            range(n),
            rng,
            k=k,
            spec=spec,
            period_s=period,
            slot_s=slot_s,
            epochs=1,
            track_members=track_members,
            value=value,
        )

    sim = Simulator(factory, range(n), plan or FaultPlan(), codec=aggregation_codec(), record=False)

    def root_done(s: Simulator) -> bool:
        root = s.nodes[0]
        return isinstance(root, AggregationNode) and bool(root.results)

    run = sim.run(until=root_done, max_time=period * 2)
    root = sim.nodes[0]
    assert isinstance(root, AggregationNode)
    rejected = sum(
        sum(vars(node.rejected).values())
        for node in sim.nodes.values()
        if isinstance(node, AggregationNode)
    )
    result = next(iter(root.results.values()), None)
    return TreeRunReport(
        "simulator",
        n,
        k,
        tree_depth(n, k),
        result,
        _forwarded([e for _, _, e in sim.events]),
        sim.stats.sent,
        run.time,
        rejected,
    )


def _set_slot(node: AggregationNode, now: float, slot_s: float) -> None:
    node.slot_s = slot_s


def _has_result(root: AggregationNode, epoch: int) -> bool:
    return epoch in root.results


def _begin(node: AggregationNode, now: float, epoch: int) -> None:
    node.begin_epoch(epoch, now)


def quic_node(
    nid: int, n: int, k: int, spec: AggregateSpec | None, slot_s: float, value: float
) -> AggregationNode:
    """Node ``nid`` of an n-node QUIC run: epochs begun by the runner (``_begin``), not by
    its own timer, with the period that ``slot_s`` per level gives the tree."""
    return AggregationNode(
        nid,
        range(n),
        None,
        k=k,
        spec=spec,
        period_s=_period(n, k, slot_s),
        slot_s=slot_s,
        epochs=None,
        value=value,
        auto=False,
    )


def quic_run_settings() -> QuicSettings:
    """QUIC settings of a run: many handshakes at once, so a 30 s handshake timeout."""
    return QuicSettings.model_validate({"connect_timeout_s": 30.0})


async def run_tree_quic(
    values: Sequence[float],
    certs_dir: str | os.PathLike[str],
    k: int = 8,
    *,
    spec: AggregateSpec | None = None,
    slot_s: float = 1.0,
    settings: QuicSettings | None = None,
    timeout_s: float = 60.0,
    processes: int = 1,
) -> TreeRunReport:
    """Aggregate ``values[i]`` of node ``i`` over real QUIC on loopback.

    Epoch 0 opens the connections (many handshakes at once on one event loop, so
    it runs with a long per-level wait and the handshake timeout is raised to
    30 s); the report is of epoch 1, timed from its start on every node to the
    root's result.

    With ``processes`` > 1 the nodes are dealt by subtree over that many OS
    processes (:func:`~patterns.aggregation.processes.run_tree_quic_processes`,
    run in a worker thread), so the tree uses that many cores.

    Raises:
        ConfigError: a bad node or process count.
        DeadlineExceededError: no result within ``timeout_s``.
        GroupProcessError: with ``processes`` > 1, a group's process failed.
    """
    n = len(values)
    if not 1 <= n <= MAX_QUIC_NODES:
        raise ConfigError(f"the QUIC run takes 1..{MAX_QUIC_NODES} nodes, got {n}")
    if processes < 1:
        raise ConfigError(f"processes must be >= 1, got {processes}")
    if processes > 1:
        from patterns.aggregation.processes import run_tree_quic_processes

        return await asyncio.to_thread(
            partial(
                run_tree_quic_processes,
                values,
                certs_dir,
                k,
                processes=processes,
                spec=spec,
                slot_s=slot_s,
                settings=settings,
                timeout_s=timeout_s,
            )
        )
    nodes = [quic_node(nid, n, k, spec, slot_s, float(values[nid])) for nid in range(n)]
    async with QuicCluster(
        nodes, aggregation_codec(), certs_dir, settings or quic_run_settings()
    ) as cluster:
        root = cluster.node(0)
        elapsed = 0.0
        for epoch, slot in ((0, WARMUP_SLOT_S), (1, slot_s)):
            before = len(cluster.events)
            for nid in range(n):
                cluster.call(nid, partial(_set_slot, slot_s=slot))
            started = time.perf_counter()
            for nid in range(n):
                cluster.call(nid, partial(_begin, epoch=epoch))
            await cluster.run_until(partial(_has_result, root, epoch), timeout_s)
            elapsed = time.perf_counter() - started
        stats = cluster.stats()
        return TreeRunReport(
            "quic",
            n,
            k,
            tree_depth(n, k),
            root.results[1],
            _forwarded([e for _, e in cluster.events[before:]]),
            sum(st.messages_sent for st in stats.values()),
            elapsed,
            sum(sum(vars(nd.rejected).values()) for nd in cluster.nodes.values()),
        )
