"""The aggregation protocol over QUIC with its nodes split over OS processes (for the bench).

``run_tree_quic`` hosts every node on one event loop, so on one core. Here the root's
children's subtrees are dealt into one group per process (the root goes with the first
group), each process hosts its group's nodes with the same runtime, codec and mutual TLS,
and the parent starts each epoch in every process at once. Epoch 0 opens the
connections; epoch 1 is timed from its start in the first process to the root's result
(``time.monotonic`` is one clock for every process of the machine).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

from patterns.aggregation.node import AggregationNode, aggregation_codec
from patterns.aggregation.runner import WARMUP_SLOT_S, _begin, _period, _set_slot
from patterns.core.ids import NodeId
from patterns.core.keys import ClusterCA
from patterns.core.settings import QuicSettings
from patterns.net.quic import QuicNodeRuntime
from tests.integration.pbft_procs import free_udp_ports

EPOCH_TIMEOUT_S = 60.0


def subtree(root: int, n: int, k: int) -> list[int]:
    """Heap positions under ``root`` (itself included) of an n-node k-ary tree."""
    out, frontier = [], [root]
    while frontier:
        out += frontier
        frontier = [c for p in frontier for c in range(k * p + 1, k * p + k + 1) if c < n]
    return out


def groups_of(n: int, k: int, processes: int) -> list[list[int]]:
    """The root's child subtrees dealt into ``processes`` groups of about equal size (largest
    first, each to the smallest group); the root goes with the first group."""
    subtrees = sorted((subtree(c, n, k) for c in range(1, k + 1) if c < n), key=len, reverse=True)
    groups: list[list[int]] = [[0]] + [[] for _ in range(processes - 1)]
    for tree in subtrees:
        min(groups, key=len).extend(tree)
    return [g for g in groups if g]


@dataclass(frozen=True)
class _Tree:
    """What every group process needs to know of the whole tree."""

    values: list[float]
    k: int
    addresses: dict[NodeId, tuple[str, int]]
    certs: str
    quic_json: str


def _group_main(tree: _Tree, ids: list[int], conn: Connection) -> None:
    asyncio.run(_group(tree, ids, conn))


async def _group(tree: _Tree, ids: list[int], conn: Connection) -> None:
    values, k, addresses = tree.values, tree.k, tree.addresses
    n = len(values)
    period = _period(n, k, 1.0)
    ca = ClusterCA.open_or_create(tree.certs)
    settings = QuicSettings.model_validate_json(tree.quic_json)
    runtimes = {}
    for nid in ids:
        node = AggregationNode(
            NodeId(nid),
            range(n),
            None,
            k=k,
            period_s=period,
            slot_s=1.0,
            epochs=None,
            value=values[nid],
            auto=False,
        )
        runtimes[nid] = QuicNodeRuntime(
            node,
            aggregation_codec(),
            ca.credentials(NodeId(nid)),
            addresses,
            settings,
            record_events=False,
        )
        await runtimes[nid].start()
    conn.send("ready")
    while True:
        command = await asyncio.to_thread(conn.recv)
        if command is None:
            break
        epoch, slot = command
        started = time.monotonic()
        for rt in runtimes.values():
            rt.call(partial(_set_slot, slot_s=slot))
        for rt in runtimes.values():
            rt.call(partial(_begin, epoch=epoch))
        done_at, coverage = None, 0
        if 0 in runtimes:
            root = runtimes[0]
            await root.wait_until(lambda e=epoch, r=root: e in r.node.results, EPOCH_TIMEOUT_S)
            done_at, coverage = time.monotonic(), root.node.results[epoch].coverage
        conn.send((started, done_at, coverage))
    for rt in runtimes.values():
        await rt.stop()


def run_tree_quic_processes(
    values: list[float], certs_dir: Path, k: int = 8, processes: int | None = None
) -> tuple[float, int]:
    """Epoch 1's time (seconds) and the root's coverage, nodes split over ``processes``."""
    n = len(values)
    groups = groups_of(n, k, processes or max(2, os.cpu_count() or 2))
    ports = free_udp_ports(n)
    addresses = {NodeId(i): ("127.0.0.1", ports[i]) for i in range(n)}
    ca = ClusterCA.open_or_create(certs_dir)
    for i in range(n):  # issued here, so the children only read them
        ca.credentials(NodeId(i))
    quic = QuicSettings.model_validate({"connect_timeout_s": 30.0}).model_dump_json()
    tree = _Tree(values, k, addresses, str(certs_dir), quic)
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for ids in groups:
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_group_main,
            args=(tree, ids, child),
            daemon=True,
        )
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    try:
        for pipe in pipes:
            if not pipe.poll(EPOCH_TIMEOUT_S) or pipe.recv() != "ready":
                raise TimeoutError("a node group did not start")
        result = (0.0, 0)
        for epoch, slot in ((0, WARMUP_SLOT_S), (1, 1.0)):
            for pipe in pipes:
                pipe.send((epoch, slot))
            replies = []
            for pipe in pipes:
                if not pipe.poll(EPOCH_TIMEOUT_S * 2):
                    raise TimeoutError(f"epoch {epoch} did not finish")
                replies.append(pipe.recv())
            start = min(r[0] for r in replies)
            done = next(r for r in replies if r[1] is not None)
            result = (done[1] - start, done[2])
        for pipe in pipes:
            pipe.send(None)
        return result
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
