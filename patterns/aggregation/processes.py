"""The aggregation protocol over QUIC with its nodes spread over OS processes.

:func:`~patterns.aggregation.runner.run_tree_quic` hosts every node on one event loop,
so on one core. Here the root's children's subtrees are dealt into one group per process
(the root goes with the first group), so only the links from the root to its children
cross processes, as in a deployment that runs one agent host per group of agents. Each
process hosts its group's nodes with the same runtime, codec and mutual TLS; the parent
starts each epoch in every process at once and collects the root's result.

Processes are started with the ``spawn`` method: a script that calls this must guard its
entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from patterns.aggregation.aggregates import AggregateSpec, value_problem
from patterns.aggregation.exceptions import InvalidValueError
from patterns.aggregation.node import AggregateResult, AggregationNode, aggregation_codec
from patterns.aggregation.runner import (
    MAX_QUIC_NODES,
    WARMUP_SLOT_S,
    TreeRunReport,
    _begin,
    _forwarded,
    _set_slot,
    quic_node,
    quic_run_settings,
)
from patterns.aggregation.tree import tree_depth
from patterns.core.exceptions import ConfigError, DeadlineExceededError, SwarmError
from patterns.core.ids import NodeId
from patterns.core.keys import ClusterCA
from patterns.core.settings import QuicSettings
from patterns.net.ports import free_udp_ports
from patterns.net.quic import QuicNodeRuntime

START_TIMEOUT_S = 60.0  # for every group to open its endpoints


class GroupProcessError(SwarmError):
    """A process hosting a group of aggregation nodes failed; the message carries its error."""


def subtree(root: int, n: int, k: int) -> list[int]:
    """Heap positions under ``root`` (itself included) of an n-node k-ary tree."""
    out, frontier = [], [root]
    while frontier:
        out += frontier
        frontier = [c for p in frontier for c in range(k * p + 1, k * p + k + 1) if c < n]
    return out


def groups_of(n: int, k: int, processes: int) -> list[list[int]]:
    """The root's child subtrees dealt into ``processes`` groups of about equal size (largest
    first, each to the smallest group); the root goes with the first group. Empty groups are
    dropped, so a small tree may use fewer processes."""
    if processes < 1:
        raise ConfigError(f"processes must be >= 1, got {processes}")
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
    spec: AggregateSpec | None
    addresses: dict[NodeId, tuple[str, int]]
    certs: str
    quic_json: str
    timeout_s: float
    slot_s: float


@dataclass(frozen=True)
class _EpochReply:
    """One group's start of one epoch, and the root's result if the root is in the group."""

    started: float  # time.monotonic(): one clock for every process of the machine
    done_at: float | None
    result: AggregateResult | None


@dataclass(frozen=True)
class _Counts:
    """What one group's nodes did since the last epoch started."""

    forwarded: int
    messages: int
    rejected: int


def _group_main(tree: _Tree, ids: list[int], conn: Connection) -> None:
    try:
        asyncio.run(_group(tree, ids, conn))
    except EOFError:  # the parent is gone: nothing to report to
        return
    except BaseException as err:  # reported to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


async def _group(tree: _Tree, ids: list[int], conn: Connection) -> None:
    n = len(tree.values)
    ca = ClusterCA.open_or_create(tree.certs)
    settings = QuicSettings.model_validate_json(tree.quic_json)
    runtimes: dict[int, QuicNodeRuntime[AggregationNode]] = {}
    try:
        for nid in ids:
            node = quic_node(nid, n, tree.k, tree.spec, tree.slot_s, tree.values[nid])
            runtimes[nid] = QuicNodeRuntime(
                node, aggregation_codec(), ca.credentials(NodeId(nid)), tree.addresses, settings
            )
            await runtimes[nid].start()
        conn.send(("ready", None))
        mark: tuple[dict[int, int], int] = ({}, 0)
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command is None:
                return
            if command == "counts":
                conn.send(("counts", _counts(runtimes, *mark)))
                continue
            epoch, slot = command
            mark = (
                {nid: len(rt.events) for nid, rt in runtimes.items()},
                sum(rt.stats.messages_sent for rt in runtimes.values()),
            )
            conn.send(("epoch", await _run_epoch(runtimes, epoch, slot, tree.timeout_s)))
    finally:
        for rt in runtimes.values():
            await rt.stop()


async def _run_epoch(
    runtimes: dict[int, QuicNodeRuntime[AggregationNode]], epoch: int, slot: float, timeout_s: float
) -> _EpochReply:
    started = time.monotonic()
    for rt in runtimes.values():
        rt.call(partial(_set_slot, slot_s=slot))
    for rt in runtimes.values():
        rt.call(partial(_begin, epoch=epoch))
    root = runtimes.get(0)
    if root is None:
        return _EpochReply(started, None, None)
    node = root.node
    await root.wait_until(lambda: epoch in node.results, timeout_s)
    return _EpochReply(started, time.monotonic(), node.results[epoch])


def _counts(
    runtimes: dict[int, QuicNodeRuntime[AggregationNode]], events: dict[int, int], sent: int
) -> _Counts:
    rejected = sum(sum(vars(rt.node.rejected).values()) for rt in runtimes.values())
    return _Counts(
        sum(_forwarded(list(rt.events)[events.get(nid, 0) :]) for nid, rt in runtimes.items()),
        sum(rt.stats.messages_sent for rt in runtimes.values()) - sent,
        rejected,
    )


def _receive(pipe: Connection, timeout_s: float, what: str) -> Any:
    if not pipe.poll(timeout_s):
        raise DeadlineExceededError(f"{what}: no answer from a node group within {timeout_s} s")
    try:
        kind, body = pipe.recv()
    except EOFError as err:
        raise GroupProcessError(f"{what}: a node group's process died") from err
    if kind == "error":
        raise GroupProcessError(f"{what}: a node group failed: {body}")
    return body


def run_tree_quic_processes(
    values: Sequence[float],
    certs_dir: str | os.PathLike[str],
    k: int = 8,
    *,
    processes: int | None = None,
    spec: AggregateSpec | None = None,
    slot_s: float = 1.0,
    settings: QuicSettings | None = None,
    timeout_s: float = 60.0,
    host: str = "127.0.0.1",
) -> TreeRunReport:
    """Aggregate ``values[i]`` of node ``i`` over real QUIC, nodes spread over OS processes.

    The same protocol and report as :func:`~patterns.aggregation.runner.run_tree_quic`:
    epoch 0 opens the connections, the report is of epoch 1, timed from its start in the
    first process to the root's result.

    Args:
        values: one value per node (1 to 1,024 nodes).
        certs_dir: the cluster CA's directory (created if missing; node certificates are
            issued here before the processes start, so they only read them).
        k: the tree's fan-out.
        processes: node groups, one OS process each (default: the machine's CPU count, at
            least 2); a tree with fewer root children than this uses fewer.
        spec: the aggregates computed (default: the protocol's).
        slot_s: per-level wait of the timed epoch, seconds.
        settings: QUIC settings (default: handshake timeout raised to 30 s).
        timeout_s: how long any step may take, seconds.
        host: the address every node binds on.

    Raises:
        ConfigError: a bad node or process count.
        InvalidValueError: a value is NaN or infinite.
        DeadlineExceededError: a group did not start, or no result within ``timeout_s``.
        GroupProcessError: a group's process failed or died (its error is in the message).
    """
    n = len(values)
    if not 1 <= n <= MAX_QUIC_NODES:
        raise ConfigError(f"the QUIC run takes 1..{MAX_QUIC_NODES} nodes, got {n}")
    for i, v in enumerate(values):
        problem = value_problem(v)
        if problem is not None:
            raise InvalidValueError(f"node {i}: value {v!r} {problem}")
    groups = groups_of(n, k, processes if processes is not None else max(2, os.cpu_count() or 2))
    ports = free_udp_ports(n, host)
    addresses = {NodeId(i): (host, ports[i]) for i in range(n)}
    ca = ClusterCA.open_or_create(certs_dir)
    for i in range(n):
        ca.credentials(NodeId(i))
    tree = _Tree(
        [float(v) for v in values],
        k,
        spec,
        addresses,
        os.fspath(certs_dir),
        (settings or quic_run_settings()).model_dump_json(),
        timeout_s,
        slot_s,
    )
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    try:
        for ids in groups:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_group_main, args=(tree, ids, child), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            _receive(pipe, START_TIMEOUT_S, "start")
        replies: list[_EpochReply] = []
        for epoch, slot in ((0, WARMUP_SLOT_S), (1, slot_s)):
            for pipe in pipes:
                pipe.send((epoch, slot))
            replies = [_receive(pipe, timeout_s * 2, f"epoch {epoch}") for pipe in pipes]
        counts: list[_Counts] = []
        for pipe in pipes:  # asked once the root has its result: every partial was sent
            pipe.send("counts")
            counts.append(_receive(pipe, timeout_s, "counts"))
        for pipe in pipes:
            pipe.send(None)
    finally:
        for pipe in pipes:  # a group still waiting for a command sees EOF and stops
            pipe.close()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    root = next(r for r in replies if r.result is not None)
    assert root.done_at is not None
    return TreeRunReport(
        "quic-processes",
        n,
        k,
        tree_depth(n, k),
        root.result,
        sum(c.forwarded for c in counts),
        sum(c.messages for c in counts),
        root.done_at - min(r.started for r in replies),
        sum(c.rejected for c in counts),
    )
