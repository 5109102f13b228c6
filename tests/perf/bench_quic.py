"""QUIC transport on loopback: round-trip latency and pipelined throughput against plain TCP.

All figures come from one process and one event loop on 127.0.0.1, with 64-byte
payloads in the reference protocol's ``Data`` message, framed exactly as the runtime
frames them (``Codec.encode_frame``: 4-byte big-endian length + msgpack).

* ``quic_*``: a minimal echo written **directly on aioquic** (not through the
  runtime), with the runtime's mutual TLS: the server sends a CertificateRequest
  (via the runtime's ``_request_client_certificate``) and verifies the client's chain
  with ``aioquic.tls.verify_certificate`` after the handshake, the client verifies
  the server against the cluster CA and ``node-<id>``. One bidirectional stream.
* ``tcp_*``: the same echo on asyncio streams over TCP (no TLS), the baseline.
* ``runtime_*``: two :class:`~patterns.net.quic.QuicNodeRuntime` hosting trivial
  nodes: a round trip is node A -> node B -> node A over the two connections the
  runtimes dial, including node calls, flushes and the send queue.

Run: ``python -m tests.perf.bench_quic`` (prints JSON).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aioquic import tls
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import HandshakeCompleted, QuicEvent, StreamDataReceived

from patterns.core.codec import Codec, Message
from patterns.core.ids import NodeId, node_name
from patterns.core.keys import ClusterCA, NodeCredentials
from patterns.core.settings import QuicSettings
from patterns.net.node import Node
from patterns.net.quic import QuicNodeRuntime, _request_client_certificate
from patterns.net.reference import Data, reference_codec

PAYLOAD = b"x" * 64
WARMUP = 200
ALPN = "swarmkit/1"
CONNECT_SAMPLES = 5
ECHO, COUNT = 0, 1  # Data.origin: echo this message back / only count it
STREAM_PAYLOAD_BYTES = 1024  # message size of the bulk-transfer figure (quic_stream_bytes_per_s)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Echo:
    """Shared echo logic: decode frames, echo ``ECHO`` messages, count the others."""

    def __init__(self, codec: Codec[Message]) -> None:
        self.codec = codec
        self.reader = codec.reader()
        self.counted = 0

    def replies(self, data: bytes) -> bytes:
        out = []
        for msg in self.reader.feed(data):
            if isinstance(msg, Data) and msg.origin == COUNT:
                self.counted += 1
            else:
                out.append(self.codec.encode_frame(msg))
        return b"".join(out)


# -- QUIC directly on aioquic ------------------------------------------------------------
class _QuicEchoServer(QuicConnectionProtocol):
    def __init__(self, quic: QuicConnection, *, ca_pem: bytes, **kwargs: Any) -> None:
        super().__init__(quic, **kwargs)
        _request_client_certificate(quic)
        self._ca_pem = ca_pem
        self._echo = _Echo(reference_codec())
        self._authenticated = False

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            cert = self._quic.tls._peer_certificate
            assert cert is not None, "client sent no certificate"
            tls.verify_certificate(
                certificate=cert, chain=self._quic.tls._peer_certificate_chain, cadata=self._ca_pem
            )
            self._authenticated = True
        elif isinstance(event, StreamDataReceived) and self._authenticated:
            reply = self._echo.replies(event.data)
            if reply:
                self._quic.send_stream_data(event.stream_id, reply)


class _QuicEchoClient(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader = reference_codec().reader()
        self.waiter: asyncio.Future[None] | None = None
        self.stream_id = -1

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, StreamDataReceived):
            for _ in self.reader.feed(event.data):
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)

    async def request(self, frame: bytes) -> None:
        self.waiter = self._loop.create_future()
        self._quic.send_stream_data(self.stream_id, frame)
        self.transmit()
        await self.waiter


def _client_config(creds: NodeCredentials, server: NodeId) -> QuicConfiguration:
    config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], server_name=node_name(server))
    config.load_verify_locations(cadata=creds.ca_path.read_bytes())
    config.load_cert_chain(creds.cert_path, creds.key_path)
    return config


async def _quic_bench(
    ca: ClusterCA, n_rtt: int, n_pipelined: int, stream_payloads: tuple[int, ...] = ()
) -> tuple[dict[str, float], dict[int, float]]:
    """Bare aioquic figures, and framed stream bytes/s for each message size in ``stream_payloads``."""
    codec = reference_codec()
    server_creds, client_creds = ca.credentials(1), ca.credentials(2)
    server_config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
    server_config.load_cert_chain(server_creds.cert_path, server_creds.key_path)
    ca_pem = ca.ca_path.read_bytes()

    def make_server(quic: QuicConnection, **kwargs: Any) -> _QuicEchoServer:
        return _QuicEchoServer(quic, ca_pem=ca_pem, **kwargs)

    server = await serve("127.0.0.1", 0, configuration=server_config, create_protocol=make_server)
    port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
    figures: dict[str, float] = {}
    try:
        connect_ms = []
        for _ in range(CONNECT_SAMPLES):
            t0 = time.perf_counter()
            async with connect(
                "127.0.0.1", port, configuration=_client_config(client_creds, 1)
            ) as client:
                connect_ms.append((time.perf_counter() - t0) * 1e3)
                await client.ping()  # the server has verified us once this returns
        figures["quic_connect_ms"] = statistics.median(connect_ms)

        async with connect(
            "127.0.0.1",
            port,
            configuration=_client_config(client_creds, 1),
            create_protocol=_QuicEchoClient,
        ) as proto:
            assert isinstance(proto, _QuicEchoClient)
            proto.stream_id = proto._quic.get_next_available_stream_id()
            rtts = await _measure_rtt(proto.request, codec, n_rtt)
            figures["quic_rtt_p50_us"] = _percentile(rtts, 0.5)
            figures["quic_rtt_p99_us"] = _percentile(rtts, 0.99)

            async def pipeline(frames: list[bytes], last: bytes) -> None:
                for frame in frames:
                    proto._quic.send_stream_data(proto.stream_id, frame)
                await proto.request(last)

            figures["quic_msgs_per_s"] = await _measure_pipelined(pipeline, codec, n_pipelined)
            streams: dict[int, float] = {}
            for size in stream_payloads:
                payload = b"x" * size
                frame_bytes = len(codec.encode_frame(Data(COUNT, 0, payload)))
                rate = await _measure_pipelined(pipeline, codec, n_pipelined, payload)
                streams[size] = rate * frame_bytes
    finally:
        server.close()
    return figures, streams


# -- TCP baseline -------------------------------------------------------------------------
async def _tcp_bench(n_rtt: int, n_pipelined: int) -> dict[str, float]:
    codec = reference_codec()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        echo = _Echo(codec)
        try:
            while chunk := await reader.read(1 << 16):
                reply = echo.replies(chunk)
                if reply:
                    writer.write(reply)
                    await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames_in = codec.reader()

    async def request(frame: bytes) -> None:
        writer.write(frame)
        while True:
            chunk = await reader.read(1 << 16)
            if sum(1 for _ in frames_in.feed(chunk)):
                return

    async def pipeline(frames: list[bytes], last: bytes) -> None:
        for frame in frames:
            writer.write(frame)
        await writer.drain()
        await request(last)

    figures: dict[str, float] = {}
    try:
        rtts = await _measure_rtt(request, codec, n_rtt)
        figures["tcp_rtt_p50_us"] = _percentile(rtts, 0.5)
        figures["tcp_rtt_p99_us"] = _percentile(rtts, 0.99)
        figures["tcp_msgs_per_s"] = await _measure_pipelined(pipeline, codec, n_pipelined)
    finally:
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
    return figures


# -- through the runtime ------------------------------------------------------------------
class _Pong(Node):
    """Replies to ``ECHO`` messages, counts the others."""

    def __init__(self, node_id: NodeId, peers: list[NodeId]) -> None:
        super().__init__(node_id, peers)
        self.counted = 0

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        if isinstance(msg, Data) and msg.origin == COUNT:
            self.counted += 1
        else:
            self.send(src, msg)


class _Ping(Node):
    """Counts what it receives."""

    def __init__(self, node_id: NodeId, peers: list[NodeId]) -> None:
        super().__init__(node_id, peers)
        self.counted = 0

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        self.counted += 1


async def _runtime_bench(ca: ClusterCA, n_rtt: int, n_pipelined: int) -> dict[str, float]:
    codec = reference_codec()
    settings = QuicSettings.model_validate({"send_queue_messages": n_pipelined + 1})
    a = QuicNodeRuntime(_Ping(1, [2]), codec, ca.credentials(1), {1: ("127.0.0.1", 0)}, settings)
    b = QuicNodeRuntime(_Pong(2, [1]), codec, ca.credentials(2), {2: ("127.0.0.1", 0)}, settings)
    await a.start()
    await b.start()
    a.set_peer_address(2, b.address)
    b.set_peer_address(1, a.address)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] | None = None
    target = 0

    def on_activity() -> None:
        if waiter is not None and not waiter.done() and a.node.counted >= target:
            waiter.set_result(None)

    a.add_listener(on_activity)

    async def request(frame: bytes) -> None:
        nonlocal waiter, target
        target = a.node.counted + 1
        waiter = loop.create_future()
        a.call(lambda node, now: node.send(2, Data(ECHO, 0, PAYLOAD)))
        await waiter

    async def pipeline(frames: list[bytes], last: bytes) -> None:
        n = len(frames)

        def burst(node: Node, now: float) -> None:
            for seq in range(n):
                node.send(2, Data(COUNT, seq, PAYLOAD))

        start = b.node.counted
        a.call(burst)
        await b.wait_until(lambda: b.node.counted - start >= n, 120.0)

    figures: dict[str, float] = {}
    try:
        rtts = await _measure_rtt(request, codec, n_rtt)
        figures["runtime_rtt_p50_us"] = _percentile(rtts, 0.5)
        figures["runtime_rtt_p99_us"] = _percentile(rtts, 0.99)
        figures["runtime_msgs_per_s"] = await _measure_pipelined(pipeline, codec, n_pipelined)
    finally:
        await a.stop()
        await b.stop()
    return figures


# -- measurement --------------------------------------------------------------------------
async def _measure_rtt(
    request: Callable[[bytes], Any], codec: Codec[Message], n: int
) -> list[float]:
    frame = codec.encode_frame(Data(ECHO, 0, PAYLOAD))
    for _ in range(WARMUP):
        await request(frame)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await request(frame)
        samples.append((time.perf_counter() - t0) * 1e6)
    return samples


async def _measure_pipelined(
    pipeline: Callable[[list[bytes], bytes], Any],
    codec: Codec[Message],
    n: int,
    payload: bytes = PAYLOAD,
) -> float:
    """Messages per second of ``n`` back-to-back messages carrying ``payload``."""
    frames = [codec.encode_frame(Data(COUNT, seq, payload)) for seq in range(n)]
    last = codec.encode_frame(Data(ECHO, n, payload))
    await pipeline(frames[: min(n, 1000)], last)  # warm-up
    t0 = time.perf_counter()
    await pipeline(frames, last)
    return n / (time.perf_counter() - t0)


async def _bench(n_rtt: int, n_pipelined: int, stream_payload_bytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = ClusterCA.create(Path(tmp) / "certs")
        figures = await _tcp_bench(n_rtt, n_pipelined)
        quic, streams = await _quic_bench(
            ca, n_rtt, n_pipelined, (stream_payload_bytes,) if stream_payload_bytes else ()
        )
        figures |= quic
        if stream_payload_bytes:
            figures["quic_stream_bytes_per_s"] = streams[stream_payload_bytes]
        figures |= await _runtime_bench(ca, n_rtt, n_pipelined)
    figures["quic_over_tcp_rtt_p50_ratio"] = figures["quic_rtt_p50_us"] / figures["tcp_rtt_p50_us"]
    figures["quic_over_tcp_msgs_ratio"] = figures["quic_msgs_per_s"] / figures["tcp_msgs_per_s"]
    return {k: round(v, 3) for k, v in sorted(figures.items())}


def run_quic_bench(
    n_rtt: int = 2000, n_pipelined: int = 20000, stream_payload_bytes: int = STREAM_PAYLOAD_BYTES
) -> dict[str, float]:
    """Measure QUIC (mutual TLS) and TCP echo latency and throughput on loopback.

    Args:
        n_rtt: round trips measured (after :data:`WARMUP` unmeasured ones).
        n_pipelined: messages sent back to back, one direction, for throughput.
        stream_payload_bytes: payload of the bulk figure ``quic_stream_bytes_per_s``
            (framed stream bytes per second through bare aioquic, ``n_pipelined``
            messages of this size back to back); 0 skips it.

    Returns:
        ``quic_rtt_p50_us``, ``quic_rtt_p99_us``, ``quic_msgs_per_s``,
        ``tcp_rtt_p50_us``, ``tcp_rtt_p99_us``, ``tcp_msgs_per_s``,
        ``quic_over_tcp_rtt_p50_ratio``, ``quic_over_tcp_msgs_ratio``,
        ``quic_connect_ms`` (median mutual-TLS handshake), ``quic_stream_bytes_per_s``,
        and the same round-trip
        and throughput figures through two runtimes (``runtime_*``).
    """
    return asyncio.run(_bench(n_rtt, n_pipelined, stream_payload_bytes))


def run_quic_floors(
    n_rtt: int, n_pipelined: int, stream_payloads: tuple[int, ...]
) -> tuple[dict[str, float], dict[int, float]]:
    """Only the bare-aioquic figures (no TCP, no runtime): the floors other benchmarks divide by.

    Returns:
        The ``quic_*`` figures of :func:`run_quic_bench`, and framed stream bytes per second
        for each message size in ``stream_payloads``.
    """

    async def main() -> tuple[dict[str, float], dict[int, float]]:
        with tempfile.TemporaryDirectory() as tmp:
            ca = ClusterCA.create(Path(tmp) / "certs")
            return await _quic_bench(ca, n_rtt, n_pipelined, stream_payloads)

    return asyncio.run(main())


if __name__ == "__main__":
    print(json.dumps(run_quic_bench(), indent=2, sort_keys=True))
