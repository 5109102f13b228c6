"""A PBFT cluster over real QUIC with mutual TLS: local (one process) or from a cluster file.

:class:`LocalCluster` runs 3f+1 replicas and some clients, each node in its
own :class:`~patterns.net.quic.QuicNodeRuntime`, on loopback in the running
event loop. :func:`run_client` runs one client node against replicas at
known addresses (as a cluster file gives them, see :mod:`.clusterfile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any

from patterns.byzantine.auth import ClusterConfig, NodeKeys, generate_cluster
from patterns.byzantine.client import Client, CommittedResult
from patterns.byzantine.exceptions import RequestTimeoutError
from patterns.byzantine.messages import pbft_codec
from patterns.byzantine.replica import Replica
from patterns.byzantine.settings import ByzantineSettings, checked
from patterns.byzantine.state_machine import KeyValueStore, StateMachineFactory
from patterns.core.exceptions import ConfigError, DeadlineExceededError
from patterns.core.ids import NodeId
from patterns.core.settings import QuicSettings
from patterns.net.node import Node
from patterns.net.quic import CloseCode, QuicCluster, QuicNodeRuntime

DEFAULT_TIMEOUT_S = 30.0
STOP_GRACE_S = 0.5  # wait before re-cancelling link tasks a runtime stop left hanging


class LocalCluster:
    """3f+1 PBFT replicas and ``clients`` clients over QUIC on loopback, in this event loop.

    Use it as an async context manager::

        async with LocalCluster(tmp / "certs", f=1) as cluster:
            results = await cluster.submit([encode_op(Put("k", "v"))])

    Args:
        certs_dir: directory of the cluster CA and node certificates (created if missing).
        f: faults tolerated.
        clients: number of client nodes (ids ``n..n+clients-1``).
        sessions: logical clients hosted by each client node (1: the node is the client);
            a node with many is a closed loop with that many requests in flight.
        settings: protocol settings (``f`` is overridden by the argument).
        quic_settings: QUIC runtime settings.
        state_machine: the replicated state machine.
        key_seed: derive the keys from this seed (tests); fresh random keys if None.
    """

    def __init__(
        self,
        certs_dir: str | os.PathLike[str],
        f: int = 1,
        clients: int = 1,
        *,
        sessions: int = 1,
        settings: ByzantineSettings | None = None,
        quic_settings: QuicSettings | None = None,
        state_machine: StateMachineFactory = KeyValueStore,
        key_seed: int | None = None,
    ) -> None:
        if clients < 1 or sessions < 1:
            raise ConfigError("a local cluster needs clients >= 1 and sessions >= 1")
        base = settings if settings is not None else ByzantineSettings()
        self.settings = checked(base.model_copy(update={"f": f}))
        n = 3 * f + 1
        self.client_ids: tuple[NodeId, ...] = tuple(range(n, n + clients))
        hosted: dict[NodeId, list[NodeId]] = {c: [c] for c in self.client_ids}
        if sessions > 1:
            first = n + clients
            hosted = {
                c: list(range(first + i * sessions, first + (i + 1) * sessions))
                for i, c in enumerate(self.client_ids)
            }
        hosts = {cid: node for node, ids in hosted.items() for cid in ids if cid != node}
        logical = [cid for ids in hosted.values() for cid in ids]
        self.config, self.keys = generate_cluster(f, logical, seed=key_seed, hosts=hosts)
        self.state_machine = state_machine
        nodes: list[Node] = [self.make_replica(r) for r in self.config.replicas]
        nodes += [
            Client(c, self.config, {cid: self.keys[cid] for cid in hosted[c]}, self.settings)
            for c in self.client_ids
        ]
        self.quic = QuicCluster(nodes, pbft_codec(), certs_dir, quic_settings)

    def make_replica(self, node_id: NodeId) -> Replica:
        """A fresh replica object for ``node_id`` (for a start or a restart)."""
        return Replica(node_id, self.config, self.keys[node_id], self.settings, self.state_machine)

    async def __aenter__(self) -> LocalCluster:
        await self.quic.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for rt in self.quic.runtimes.values():
            await stop_runtime(rt)

    def replica(self, node_id: NodeId) -> Replica:
        """The current replica object of ``node_id``."""
        node = self.quic.node(node_id)
        assert isinstance(node, Replica)
        return node

    def client(self, node_id: NodeId | None = None) -> Client:
        """A client (the first one by default)."""
        node = self.quic.node(self.client_ids[0] if node_id is None else node_id)
        assert isinstance(node, Client)
        return node

    async def submit(
        self,
        ops: Sequence[bytes],
        *,
        client: NodeId | None = None,
        want_certificate: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> list[CommittedResult]:
        """Submit ``ops`` through one client (in order) and wait for their results.

        With ``want_certificate`` it also waits until each result carries a verified
        commit certificate.

        Raises:
            RequestTooLargeError: an operation is over ``max_request_bytes``.
            RequestTimeoutError: not every result arrived within ``timeout_s``.
        """
        cid = self.client_ids[0] if client is None else client
        node = self.client(cid)
        tickets: list[int] = self.quic.call(
            cid, partial(submit_all, ops=ops, want=want_certificate)
        )
        done = _Completion(node, tickets, want_certificate)
        try:
            await self.quic.run_until(done, timeout_s)
        except DeadlineExceededError as err:
            raise RequestTimeoutError(
                f"{done.next} of {len(ops)} operations completed within {timeout_s}s"
            ) from err
        return node.take(tickets)

    async def stop_replica(self, node_id: NodeId) -> None:
        """Crash replica ``node_id`` (its runtime stops; its address stays reserved)."""
        await stop_runtime(self.quic.runtimes[node_id])

    async def restart_replica(self, node_id: NodeId) -> None:
        """Start a fresh replica (no state) for ``node_id``; it catches up from the others."""
        await self.quic.start_node(self.make_replica(node_id))

    def describe(self) -> dict[str, Any]:
        """Every running replica's summary."""
        return {
            str(r): self.replica(r).describe() for r in self.config.replicas if r in self.quic.alive
        }


def submit_all(node: Node, now: float, ops: Sequence[bytes], want: bool) -> list[int]:
    """Command for a runtime's ``call``: submit ``ops`` at a client node; return the tickets."""
    if not isinstance(node, Client):
        raise ConfigError(f"node {node.node_id} is not a client")
    return [node.submit(op, now, want) for op in ops]


async def stop_runtime(runtime: QuicNodeRuntime[Any]) -> None:
    """Stop a QUIC runtime, working around two bugs of ``QuicNodeRuntime.stop``.

    Kernel bugs (patterns/net/quic.py, Python 3.11), both when ``stop()`` meets a
    dial in progress:

    1. ``_dial`` awaits the handshake with ``asyncio.wait_for``, which swallows a
       cancellation that races with the handshake completing (CPython gh-86296);
       the link task goes on into ``_serve`` and waits for ``conn.closed`` forever,
       so ``stop()`` never returns. Here link tasks still pending after a grace
       period are cancelled again (a second cancellation is not swallowed).
    2. A dial cancelled inside ``create_datagram_endpoint`` leaves a connection
       that never called ``connect()``; ``stop()`` then closes it and aioquic raises
       ``IndexError`` (no network path), leaving the runtime half stopped. Here
       the remaining connections and the server are closed.

    Both touch the runtime's private state; remove this once the kernel is fixed.
    """
    stopper = asyncio.ensure_future(runtime.stop())
    while True:
        done, _ = await asyncio.wait({stopper}, timeout=STOP_GRACE_S)
        if done:
            break
        for link in list(runtime._links.values()):  # bug 1
            if link.task is not None and not link.task.done():
                link.task.cancel()
    try:
        await stopper
    except IndexError:  # bug 2
        for conn in list(runtime._conns):
            if conn._quic._network_paths:
                with contextlib.suppress(Exception):
                    conn.close(CloseCode.NO_ERROR, "shutdown")
            conn.dispose()
        runtime._conns.clear()
        if runtime._server is not None:
            runtime._server.close()
            runtime._server = None


class _Completion:
    """Predicate: every ticket completed (with a certificate if wanted); checks each once."""

    def __init__(self, node: Client, tickets: Sequence[int], want_certificate: bool) -> None:
        self.node = node
        self.tickets = tickets
        self.want = want_certificate
        self.next = 0

    def __call__(self) -> bool:
        done = self.node.completed
        while self.next < len(self.tickets):
            res = done.get(self.tickets[self.next])
            if res is None or (self.want and res.certificate is None):
                return False
            self.next += 1
        return True


async def run_client(
    config: ClusterConfig,
    keys: NodeKeys,
    addresses: dict[NodeId, tuple[str, int]],
    certs_dir: str | os.PathLike[str],
    ops: Sequence[bytes],
    *,
    settings: ByzantineSettings | None = None,
    quic_settings: QuicSettings | None = None,
    want_certificate: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[CommittedResult]:
    """Run one client node over QUIC against replicas at ``addresses`` and submit ``ops``.

    Raises:
        RequestTimeoutError: not every result arrived within ``timeout_s``.
    """
    from patterns.core.keys import ClusterCA

    s = checked((settings or ByzantineSettings()).model_copy(update={"f": config.f}))
    client = Client(keys.node_id, config, keys, s)
    ca = ClusterCA.open_or_create(certs_dir)
    runtime = QuicNodeRuntime(
        client, pbft_codec(), ca.credentials(keys.node_id), addresses, quic_settings
    )
    await runtime.start()
    try:
        tickets: list[int] = runtime.call(partial(submit_all, ops=ops, want=want_certificate))
        done = _Completion(client, tickets, want_certificate)
        try:
            await runtime.wait_until(done, timeout_s)
        except DeadlineExceededError as err:
            raise RequestTimeoutError(
                f"{done.next} of {len(ops)} operations completed within {timeout_s}s"
            ) from err
    finally:
        await stop_runtime(runtime)
    return client.take(tickets)
