"""The QUIC runtime on loopback: delivery, mutual TLS, reconnects, bounds, bad frames, leaks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent

from patterns.core.codec import FRAME_HEADER, Message
from patterns.core.exceptions import DeadlineExceededError, PeerUnavailableError
from patterns.core.ids import NodeId, node_name
from patterns.core.keys import ClusterCA, NodeCredentials
from patterns.core.settings import QuicSettings
from patterns.net.node import Event, Node
from patterns.net.quic import (
    HELLO_CODEC,
    CloseCode,
    Hello,
    QuicCluster,
    QuicNodeRuntime,
)
from patterns.net.reference import Data, Delivered, ReliableBroadcastNode, reference_codec

pytestmark = pytest.mark.quic

ROOT = Path(__file__).resolve().parents[2]
CONFTEST = Path(__file__).with_name("conftest.py")
LOOPBACK = "127.0.0.1"
TIMEOUT_S = 10.0


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """These tests never touch Prefect: skip the suite-wide Prefect test server."""
    yield


# -- helpers ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Got(Event):
    """A :class:`Recorder` received ``seq`` from ``src``."""

    src: int
    seq: int


class Recorder(Node):
    """Records every message; command :func:`send_data` sends one."""

    def __init__(self, node_id: NodeId, peers: list[NodeId]) -> None:
        super().__init__(node_id, peers)
        self.received: list[tuple[NodeId, Message]] = []

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        self.received.append((src, msg))
        self.emit(Got(src, msg.seq if isinstance(msg, Data) else -1))

    def seqs_from(self, src: NodeId) -> list[int]:
        return [m.seq for s, m in self.received if s == src and isinstance(m, Data)]


class Exploding(Recorder):
    """Raises on every message."""

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        raise RuntimeError("boom")


def send_data(dst: NodeId, seq: int, payload: bytes = b"x") -> Callable[[Node, float], None]:
    """A command sending ``Data(own id, seq, payload)`` to ``dst``."""

    def command(node: Node, now: float) -> None:
        node.send(dst, Data(node.node_id, seq, payload))

    return command


def broadcast_value(payload: bytes) -> Callable[[ReliableBroadcastNode, float], int]:
    """A command broadcasting ``payload`` from a :class:`ReliableBroadcastNode`."""

    def command(node: ReliableBroadcastNode, now: float) -> int:
        return node.broadcast_value(payload, now)

    return command


def free_udp_port() -> int:
    """A UDP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def foreign_credentials(tmp_path: Path, node_id: NodeId, trusted_ca: Path) -> NodeCredentials:
    """A certificate for ``node_id`` issued by another CA, trusting our CA."""
    other = ClusterCA.create(tmp_path / "foreign-ca").issue(node_id)
    return NodeCredentials(node_id, other.cert_path, other.key_path, trusted_ca)


def runtime(
    node: Node,
    creds: NodeCredentials,
    settings: QuicSettings,
    peers: dict[NodeId, tuple[str, int]] | None = None,
) -> QuicNodeRuntime[Any]:
    addresses = {node.node_id: (LOOPBACK, 0), **(peers or {})}
    return QuicNodeRuntime(node, reference_codec(), creds, addresses, settings)


class RawClient(QuicConnectionProtocol):
    """A bare aioquic client that records how its connection ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.terminated: asyncio.Future[ConnectionTerminated] = self._loop.create_future()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated) and not self.terminated.done():
            self.terminated.set_result(event)
        super().quic_event_received(event)


def raw_client_config(creds: NodeCredentials, server: NodeId) -> QuicConfiguration:
    config = QuicConfiguration(
        is_client=True, alpn_protocols=["swarmkit/1"], server_name=node_name(server)
    )
    config.load_verify_locations(cafile=str(creds.ca_path))
    config.load_cert_chain(creds.cert_path, creds.key_path)
    return config


# -- delivery -----------------------------------------------------------------------------
async def test_reliable_broadcast_four_nodes_all_deliver(
    ca_dir: Path, quic_settings: QuicSettings
) -> None:
    ids = [1, 2, 3, 4]
    nodes = [ReliableBroadcastNode(i, ids) for i in ids]
    values = 5
    async with QuicCluster(nodes, reference_codec(), ca_dir, quic_settings) as cluster:
        for i in ids:
            for k in range(values):
                cluster.call(i, broadcast_value(b"v%d" % k))

        def done() -> bool:
            return all(
                len(n.delivered) == values * len(ids) and n.all_acked
                for n in cluster.nodes.values()
            )

        await cluster.run_until(done, TIMEOUT_S)
        for node in cluster.nodes.values():
            for origin in ids:
                got = [(seq, p) for o, seq, p in node.delivered if o == origin]
                assert got == [(k, b"v%d" % k) for k in range(values)]
        delivered = [ev for _, ev in cluster.events if isinstance(ev, Delivered)]
        assert len(delivered) == values * len(ids) * len(ids)
        for stats in cluster.stats().values():
            assert stats.connects == 3
            assert stats.auth_failures == stats.malformed_frames == stats.queue_drops == 0
            assert stats.messages_received > 0 and stats.bytes_sent > 0
        # every established connection, inbound and outbound, holds ACKs as configured
        conns = [c for rt in cluster.runtimes.values() for c in rt._conns]
        assert len(conns) == 4 * 3 * 2
        assert {c._quic._ack_delay for c in conns} == {quic_settings.ack_delay_s}


async def test_ack_delay_setting_reaches_every_connection(
    ca_dir: Path, quic_settings: QuicSettings
) -> None:
    ids = [1, 2, 3]
    held = quic_settings.model_copy(update={"ack_delay_s": 0.02})
    nodes = [ReliableBroadcastNode(i, ids) for i in ids]
    async with QuicCluster(nodes, reference_codec(), ca_dir, held) as cluster:
        cluster.call(1, broadcast_value(b"x"))
        await cluster.run_until(
            lambda: all(len(n.delivered) == 1 and n.all_acked for n in cluster.nodes.values()),
            TIMEOUT_S,
        )
        conns = [c for rt in cluster.runtimes.values() for c in rt._conns]
        assert conns and {c._quic._ack_delay for c in conns} == {0.02}
        quiet = {nid: st.immediate_acks for nid, st in cluster.stats().items()}
        # a bulk transfer: packets arrive back to back, every second one is acked at once
        before = len(cluster.node(2).delivered)
        for k in range(200):
            cluster.call(1, broadcast_value(b"%04d" % k + b"x" * 2000))
        await cluster.run_until(lambda: len(cluster.node(2).delivered) == before + 200, TIMEOUT_S)
        bulk = {nid: st.immediate_acks for nid, st in cluster.stats().items()}
        assert bulk[2] > quiet[2] and bulk[3] > quiet[3]


async def test_events_iterator_callback_and_clean_stop(
    ca: ClusterCA, quic_settings: QuicSettings
) -> None:
    seen: list[Event] = []
    rt1 = runtime(Recorder(1, [2]), ca.credentials(1), quic_settings)
    rt2 = runtime(Recorder(2, [1]), ca.credentials(2), quic_settings)
    rt2.on_event = seen.append
    await rt1.start()
    await rt2.start()
    rt1.set_peer_address(2, rt2.address)
    collected: list[Event] = []

    async def consume() -> None:
        async for event in rt2.iter_events():
            collected.append(event)

    consumer = asyncio.get_running_loop().create_task(consume())
    try:
        for seq in range(3):
            rt1.call(send_data(2, seq))
        await rt2.wait_until(lambda: len(rt2.events) == 3, TIMEOUT_S)
        assert rt2.events == [Got(1, 0), Got(1, 1), Got(1, 2)] == seen
        assert rt2.inbound_peers() == {1} and rt1.connected_peers() == {2}
    finally:
        await rt1.stop()
        await rt2.stop()
        await rt2.stop()  # idempotent
    await asyncio.wait_for(consumer, TIMEOUT_S)  # stop() ends the iterator
    assert collected == rt2.events
    with pytest.raises(PeerUnavailableError):
        rt1.call(send_data(2, 9))


async def test_the_node_knows_whether_anything_reads_its_events(
    ca: ClusterCA, quic_settings: QuicSettings
) -> None:
    node = Recorder(1, [2])
    rt = QuicNodeRuntime(
        node,
        reference_codec(),
        ca.credentials(1),
        {1: (LOOPBACK, 0)},
        quic_settings,
        record_events=False,
    )
    assert node.events_wanted is False
    rt.on_event = print
    assert node.events_wanted is True
    rt.on_event = None
    assert node.events_wanted is False
    events = rt.iter_events()
    reader = asyncio.get_running_loop().create_task(anext(events))
    await asyncio.sleep(0)  # the iterator subscribes when it first runs
    assert node.events_wanted is True
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await events.aclose()
    assert node.events_wanted is False
    rt.record_events = True
    assert node.events_wanted is True


async def test_node_exception_is_reported_by_run_until(
    ca_dir: Path, quic_settings: QuicSettings
) -> None:
    nodes: list[Recorder] = [Recorder(1, [2]), Exploding(2, [1])]
    async with QuicCluster(nodes, reference_codec(), ca_dir, quic_settings) as cluster:
        cluster.call(1, send_data(2, 0))
        with pytest.raises(RuntimeError, match="boom"):
            await cluster.run_until(lambda: False, TIMEOUT_S)
        assert cluster.runtimes[2].stats.node_errors == 1
        with pytest.raises(DeadlineExceededError):
            await cluster.runtimes[1].wait_until(lambda: False, 0.05)


# -- mutual TLS ---------------------------------------------------------------------------
async def test_client_certificate_from_foreign_ca_is_refused(
    ca: ClusterCA, tmp_path: Path, quic_settings: QuicSettings
) -> None:
    server = runtime(Recorder(1, [2]), ca.credentials(1), quic_settings)
    await server.start()
    bad = foreign_credentials(tmp_path, 2, ca.ca_path)
    client = runtime(Recorder(2, [1]), bad, quic_settings, {1: server.address})
    await client.start()
    try:
        client.call(send_data(1, 0))
        await server.wait_until(lambda: server.stats.auth_failures >= 1, TIMEOUT_S)
        await client.wait_until(lambda: client.stats.refused_by_peer >= 1, TIMEOUT_S)
        assert server.node.received == [] and server.stats.messages_received == 0
        assert server.inbound_peers() == set()
    finally:
        await client.stop()
        await server.stop()


async def test_server_certificate_from_foreign_ca_is_refused(
    ca: ClusterCA, tmp_path: Path, quic_settings: QuicSettings
) -> None:
    bad = foreign_credentials(tmp_path, 1, ca.ca_path)
    server = runtime(Recorder(1, [2]), bad, quic_settings)
    await server.start()
    client = runtime(Recorder(2, [1]), ca.credentials(2), quic_settings, {1: server.address})
    await client.start()
    try:
        client.call(send_data(1, 0))
        await client.wait_until(lambda: client.stats.auth_failures >= 1, TIMEOUT_S)
        assert client.stats.connects == 0 and client.queue_depth(1) == 1
        assert server.node.received == [] and server.inbound_peers() == set()
    finally:
        await client.stop()
        await server.stop()


async def test_hello_claiming_another_node_than_the_certificate_is_refused(
    ca: ClusterCA, quic_settings: QuicSettings, caplog: pytest.LogCaptureFixture
) -> None:
    server = runtime(Recorder(1, [2]), ca.credentials(1), quic_settings)
    await server.start()
    liar = ca.issue(2, common_name=node_name(5))  # certificate for node-5, hello says 2
    client = runtime(Recorder(2, [1]), liar, quic_settings, {1: server.address})
    await client.start()
    try:
        with caplog.at_level(logging.ERROR, logger="patterns.net.quic"):
            client.call(send_data(1, 0))
            await server.wait_until(lambda: server.stats.identity_failures >= 1, TIMEOUT_S)
            await client.wait_until(lambda: client.stats.refused_by_peer >= 1, TIMEOUT_S)
        assert server.node.received == [] and server.stats.messages_received == 0
        assert any("PeerIdentityError" in r.getMessage() for r in caplog.records)
    finally:
        await client.stop()
        await server.stop()


async def test_server_whose_certificate_names_another_node_is_refused(
    ca: ClusterCA, quic_settings: QuicSettings
) -> None:
    impostor = ca.issue(2, common_name=node_name(3))  # listens as node 2, certified as node-3
    server = runtime(Recorder(2, [1]), impostor, quic_settings)
    await server.start()
    client = runtime(Recorder(1, [2]), ca.credentials(1), quic_settings, {2: server.address})
    await client.start()
    try:
        client.call(send_data(2, 0))
        await client.wait_until(lambda: client.stats.auth_failures >= 1, TIMEOUT_S)
        assert client.stats.connects == 0
        assert server.node.received == [] and server.inbound_peers() == set()
    finally:
        await client.stop()
        await server.stop()


# -- reconnects and bounds ----------------------------------------------------------------
async def test_restarted_peer_is_reconnected_on_the_same_port(
    ca_dir: Path, quic_settings: QuicSettings
) -> None:
    nodes = [Recorder(1, [2]), Recorder(2, [1])]
    async with QuicCluster(nodes, reference_codec(), ca_dir, quic_settings) as cluster:
        cluster.call(1, send_data(2, 0))
        cluster.call(2, send_data(1, 0))
        await cluster.run_until(
            lambda: cluster.node(2).seqs_from(1) == [0] and cluster.node(1).seqs_from(2) == [0],
            TIMEOUT_S,
        )
        port = cluster.runtimes[2].port
        await cluster.restart(2, Recorder(2, [1]))
        assert cluster.runtimes[2].port == port
        rt1 = cluster.runtimes[1]
        # node 1 notices the loss and re-dials eagerly, with backoff, until node 2 answers
        await cluster.run_until(
            lambda: rt1.stats.reconnects >= 1 and 2 in rt1.connected_peers(), TIMEOUT_S
        )
        cluster.call(1, send_data(2, 1))
        cluster.call(2, send_data(1, 1))
        await cluster.run_until(
            lambda: cluster.node(2).seqs_from(1) == [1] and cluster.node(1).seqs_from(2) == [0, 1],
            TIMEOUT_S,
        )
        assert rt1.stats.connects == 2


async def test_reliable_broadcast_survives_a_restart(
    ca_dir: Path, quic_settings: QuicSettings
) -> None:
    ids = [1, 2, 3]
    nodes = [ReliableBroadcastNode(i, ids) for i in ids]
    async with QuicCluster(nodes, reference_codec(), ca_dir, quic_settings) as cluster:
        await cluster.stop_node(3)
        # sent while node 3 is down: kept in node 1's queue, then retransmitted
        cluster.call(1, broadcast_value(b"during"))
        await cluster.start_node(ReliableBroadcastNode(3, ids))
        await cluster.run_until(
            lambda: (
                cluster.node(1).all_acked and all(len(cluster.node(i).delivered) == 1 for i in ids)
            ),
            TIMEOUT_S,
        )


async def test_send_queue_is_bounded_and_drops_oldest(
    ca: ClusterCA, quic_settings: QuicSettings
) -> None:
    settings = quic_settings.model_copy(update={"send_queue_messages": 8, "connect_timeout_s": 0.3})
    port = free_udp_port()  # node 2 is down: nothing listens there yet
    rt1 = runtime(Recorder(1, [2]), ca.credentials(1), settings, {2: (LOOPBACK, port)})
    await rt1.start()
    rt2: QuicNodeRuntime[Any] | None = None
    try:
        for seq in range(20):
            rt1.call(send_data(2, seq))
        assert rt1.queue_depth(2) == 8
        assert rt1.stats.queue_drops == 12
        await rt1.wait_until(lambda: rt1.stats.dial_failures >= 1, TIMEOUT_S)
        assert rt1.queue_depth(2) == 8
        rt2 = QuicNodeRuntime(
            Recorder(2, [1]),
            reference_codec(),
            ca.credentials(2),
            {2: (LOOPBACK, port), 1: rt1.address},
            settings,
        )
        await rt2.start()
        node2 = rt2.node
        await rt2.wait_until(lambda: len(node2.received) == 8, TIMEOUT_S)
        assert node2.seqs_from(1) == list(range(12, 20))  # the oldest 12 were dropped
        assert rt1.queue_depth(2) == 0 and rt1.stats.messages_sent == 8
    finally:
        await rt1.stop()
        if rt2 is not None:
            await rt2.stop()


# -- bad frames ---------------------------------------------------------------------------
HELLO_7_TO_1 = HELLO_CODEC.encode_frame(Hello(node_id=7, dst=1))
BAD_STREAMS = {
    "garbage-frame": (HELLO_7_TO_1 + FRAME_HEADER.pack(5) + b"\xc1\xff\x00\x13\x37", False),
    "oversized-header": (HELLO_7_TO_1 + FRAME_HEADER.pack(0xFFFFFFFF), True),
    "garbage-hello": (FRAME_HEADER.pack(3) + b"\x93\x01\x02", False),
    "protocol-frame-as-hello": (reference_codec().encode_frame(Data(7, 0, b"")), False),
    "hello-as-protocol-frame": (HELLO_7_TO_1 + HELLO_7_TO_1, False),
}


@pytest.mark.parametrize("case", sorted(BAD_STREAMS))
async def test_bad_frame_closes_only_that_connection(
    case: str, ca_dir: Path, quic_settings: QuicSettings
) -> None:
    payload, oversized = BAD_STREAMS[case]
    nodes = [Recorder(1, [2]), Recorder(2, [1])]
    async with QuicCluster(nodes, reference_codec(), ca_dir, quic_settings) as cluster:
        rt1 = cluster.runtimes[1]
        host, port = rt1.address
        config = raw_client_config(cluster.ca.credentials(7), server=1)
        async with connect(host, port, configuration=config, create_protocol=RawClient) as raw:
            assert isinstance(raw, RawClient)
            _, writer = await raw.create_stream()
            writer.write(payload)
            ended = await asyncio.wait_for(raw.terminated, TIMEOUT_S)
            writer.close()
        expected = CloseCode.FRAME_TOO_LARGE if oversized else CloseCode.MALFORMED_FRAME
        assert ended.error_code == expected
        assert rt1.stats.malformed_frames == 1
        assert rt1.stats.oversized_frames == int(oversized)
        # the node keeps serving its other peer in both directions
        cluster.call(2, send_data(1, 0))
        cluster.call(1, send_data(2, 0))
        await cluster.run_until(
            lambda: cluster.node(1).seqs_from(2) == [0] and cluster.node(2).seqs_from(1) == [0],
            TIMEOUT_S,
        )
        assert [src for src, _ in cluster.node(1).received] == [2]


# -- the leak fixture ---------------------------------------------------------------------
LEAKY_TESTS = """
import asyncio


async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.Event().wait(), name="leaky-task")


async def test_cleans_up():
    task = asyncio.get_running_loop().create_task(asyncio.Event().wait())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
"""


async def test_leak_fixture_fails_a_leaking_test(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
        str(tmp_path),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "2 passed, 1 error" in text, text
    assert "leaked 1 asyncio task(s): leaky-task" in text, text
