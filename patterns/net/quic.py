"""QUIC runtime: hosts sans-IO nodes over mutually authenticated QUIC streams (aioquic)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import IntEnum
from functools import partial
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from aioquic import tls
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.quic import events as quic_events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from patterns.core.codec import FRAME_HEADER, FRAME_HEADER_BYTES, Codec, FrameReader, Message
from patterns.core.exceptions import (
    AuthenticationError,
    CodecError,
    ConfigError,
    DeadlineExceededError,
    FrameTooLargeError,
    MalformedFrameError,
    PeerIdentityError,
    PeerUnavailableError,
    ProtocolError,
    SwarmError,
)
from patterns.core.ids import NodeId, node_name
from patterns.core.keys import ClusterCA, NodeCredentials, certificate_node_id
from patterns.core.settings import QuicSettings
from patterns.net.linkkeys import LinkKeys
from patterns.net.node import Event, Node

__all__ = [
    "HELLO_CODEC",
    "RUNTIME_PROTOCOL_VERSION",
    "SEND_WINDOW_BYTES",
    "CloseCode",
    "Hello",
    "QuicCluster",
    "QuicNodeRuntime",
    "QuicStats",
]

logger = logging.getLogger(__name__)

N = TypeVar("N", bound=Node)
R = TypeVar("R")

Address = tuple[str, int]
"""A UDP address: ``(host, port)``."""

RUNTIME_PROTOCOL_VERSION = 1
SEND_WINDOW_BYTES = 1 << 20
"""Bytes a peer's stream may hold in aioquic (written, not yet acknowledged) before the
runtime stops moving frames from the peer's send queue into it."""
PRE_AUTH_BUFFER_BYTES = 64 * 1024
"""Stream bytes buffered from a peer whose certificate is not yet verified."""
EVENT_QUEUE_MAX = 65536
"""Bound of each :meth:`QuicNodeRuntime.iter_events` subscriber queue (oldest dropped)."""
_CRYPTO_ERROR_MIN = 0x100  # QUIC CRYPTO_ERROR + TLS alert (RFC 9001 section 4.8)
_CRYPTO_ERROR_MAX = 0x1FF


class CloseCode(IntEnum):
    """Application error codes this runtime closes QUIC connections with."""

    NO_ERROR = 0x0
    AUTH_FAILED = 0x10
    IDENTITY_MISMATCH = 0x11
    MALFORMED_FRAME = 0x20
    FRAME_TOO_LARGE = 0x21
    PROTOCOL_VIOLATION = 0x22


_REFUSAL_CODES = frozenset({CloseCode.AUTH_FAILED, CloseCode.IDENTITY_MISMATCH})
RESTART_MARGIN_S = 0.05  # a connection made this close to a peer's restart is kept


class Hello(Message, frozen=True, tag="swarmkit.runtime.hello"):
    """First frame of every stream: who is sending, to whom, in which runtime version.

    It is encoded with its own :data:`HELLO_CODEC`, never with a protocol's codec, so
    its tag cannot collide with protocol message tags.
    """

    node_id: int
    dst: int
    version: int = RUNTIME_PROTOCOL_VERSION
    incarnation: int = 0  # random per runtime start: a new one says the peer restarted
    uptime_ms: int = 0  # how long the sender's runtime has been up when it opened the stream
    link_key: bytes = b""  # the dialer's MAC key for this link (inside TLS; see linkkeys)


HELLO_CODEC: Codec[Hello] = Codec([Hello], max_frame_bytes=256)
"""The codec of the runtime's control frame."""


@dataclass
class QuicStats:
    """Counters of one runtime (cumulative since construction).

    Attributes:
        messages_sent: protocol messages handed to a QUIC stream.
        bytes_sent: framed bytes handed to QUIC streams (hellos excluded).
        messages_received: protocol messages decoded from authenticated peers.
        bytes_received: stream bytes received from authenticated peers.
        malformed_frames: connections closed for an undecodable or oversized frame.
        oversized_frames: the subset of ``malformed_frames`` that were oversized.
        auth_failures: peers refused by this node (bad or foreign certificate, server
            certificate naming another node, hello contradicting the certificate).
        identity_failures: the subset of ``auth_failures`` that were identity mismatches.
        refused_by_peer: outbound connections the peer closed as unauthenticated.
        connects: outbound connections established (handshake and identity verified).
        reconnects: ``connects`` after the first one, per peer.
        dial_failures: outbound attempts that failed without an authentication error.
        queue_drops: messages dropped because a peer's send queue was full.
        encode_errors: outgoing messages that could not be encoded (too large).
        node_errors: exceptions raised by the node while handling a message or timer.
        events_dropped: events dropped from a slow :meth:`QuicNodeRuntime.iter_events`.
        immediate_acks: ACKs sent at once for a second unacknowledged data packet
            (see ``QuicSettings.ack_delay_s``).
        peers_silent: outbound connections dropped because the peer stopped answering
            (``liveness_timeout_s``) or restarted.
        peer_restarts: hellos from a peer with a new incarnation (the process restarted).
    """

    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    malformed_frames: int = 0
    oversized_frames: int = 0
    auth_failures: int = 0
    identity_failures: int = 0
    refused_by_peer: int = 0
    connects: int = 0
    reconnects: int = 0
    dial_failures: int = 0
    queue_drops: int = 0
    encode_errors: int = 0
    node_errors: int = 0
    events_dropped: int = 0
    immediate_acks: int = 0
    peers_silent: int = 0
    peer_restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


def _termination_error(event: quic_events.ConnectionTerminated) -> SwarmError:
    """Map a connection termination seen before the handshake completed to an error."""
    code, reason = event.error_code, event.reason_phrase
    if event.frame_type is not None and _CRYPTO_ERROR_MIN <= code <= _CRYPTO_ERROR_MAX:
        return AuthenticationError(f"TLS handshake failed (alert {code - 0x100}): {reason}")
    if event.frame_type is None and code in _REFUSAL_CODES:
        return AuthenticationError(f"refused by peer ({CloseCode(code).name}): {reason}")
    return PeerUnavailableError(f"connection closed during handshake (code {code:#x}): {reason}")


class _InboundStream:
    """Decoding state of one stream opened by a peer: its hello, then protocol frames."""

    __slots__ = ("hello", "pre", "reader")

    def __init__(self, reader: FrameReader[Any]) -> None:
        self.hello: Hello | None = None
        self.pre = bytearray()
        self.reader = reader

    def take_hello(self, data: bytes) -> bytes | None:
        """Consume the hello frame; return the bytes after it, or None if incomplete.

        Raises:
            FrameTooLargeError: the hello announces more than ``HELLO_CODEC`` allows.
            MalformedFrameError: the first frame is not a hello.
        """
        self.pre += data
        if len(self.pre) < FRAME_HEADER_BYTES:
            return None
        (size,) = FRAME_HEADER.unpack_from(self.pre)
        if size > HELLO_CODEC.max_frame_bytes:
            raise FrameTooLargeError(size, HELLO_CODEC.max_frame_bytes)
        end = FRAME_HEADER_BYTES + size
        if len(self.pre) < end:
            return None
        self.hello = HELLO_CODEC.decode(bytes(self.pre[FRAME_HEADER_BYTES:end]))
        rest = bytes(self.pre[end:])
        self.pre = bytearray()
        return rest


class _Connection(QuicConnectionProtocol):
    """One QUIC connection of a runtime, outbound (we dialed) or inbound (we accepted).

    Outbound connections carry one bidirectional stream of frames to the peer. Inbound
    connections deliver the frames of their streams to the node once the peer's client
    certificate is verified; until then stream data is held (bounded).
    """

    def __init__(
        self, quic: QuicConnection, runtime: QuicNodeRuntime[Any], expected_peer: NodeId | None
    ) -> None:
        super().__init__(quic)
        self._rt = runtime
        self.outbound = expected_peer is not None
        self.expected_peer = expected_peer
        self.peer_id: NodeId | None = None
        self.handshake: asyncio.Future[None] = self._loop.create_future()
        self.closed = asyncio.Event()
        self.socket_closed = asyncio.Event()
        self.termination: quic_events.ConnectionTerminated | None = None
        self.closing = False
        self.stream_id: int | None = None
        self.link: _PeerLink | None = None
        self.last_heard = self._loop.time()
        self.established_at = self._loop.time()
        self._ping_uid = 0
        self._disposed = False
        self._streams: dict[int, _InboundStream] = {}
        self._held: list[tuple[int, bytes, bool]] = []
        self._held_bytes = 0
        self._stream_data = False  # the datagram being processed carried stream data
        if not self.outbound:
            _request_client_certificate(quic)
        runtime._conns.add(self)

    # -- aioquic hooks ------------------------------------------------------------
    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        """Process a datagram, then move queued frames in if acknowledgements made room.

        ACKs are held up to ``QuicSettings.ack_delay_s``, except that a second packet of
        stream data arriving while one is still unacknowledged is acknowledged at once
        (RFC 9000 section 13.2.2), so a bulk transfer keeps its congestion window open.
        """
        now = self._loop.time()
        self.last_heard = now
        space = self._quic._spaces.get(tls.Epoch.ONE_RTT)
        held = space is not None and space.ack_at is not None
        self._stream_data = False
        self._quic.receive_datagram(cast(bytes, data), addr, now=now)
        self._process_events()
        if held and self._stream_data and space is not None and space.ack_at is not None:
            space.ack_at = now  # the second unacknowledged data packet: acknowledge now
            self._rt.stats.immediate_acks += 1
        self.transmit()
        if self.link is not None:
            self.link.pump()

    def transmit(self) -> None:
        """Send pending datagrams unless the connection was disposed of or has no path yet.

        aioquic can create an inbound connection for a packet it then rejects ("Packet
        contains no CRYPTO frame") before the connection has a network path; its
        ``datagrams_to_send`` would raise IndexError for it, so there is nothing to send.
        """
        if not self._disposed and self._quic._network_paths:
            super().transmit()

    def quic_event_received(self, event: quic_events.QuicEvent) -> None:
        """Dispatch one QUIC event (stream readers of the base class are not used)."""
        if isinstance(event, quic_events.StreamDataReceived):
            self._on_stream_data(event.stream_id, event.data, event.end_stream)
        elif isinstance(event, quic_events.HandshakeCompleted):
            self._on_handshake()
        elif isinstance(event, quic_events.ConnectionTerminated):
            self._on_terminated(event)
        elif isinstance(event, quic_events.StreamReset):
            self._streams.pop(event.stream_id, None)

    def connection_lost(self, exc: Exception | None) -> None:
        """The UDP socket is closed (only outbound connections own theirs)."""
        self.socket_closed.set()

    # -- state ----------------------------------------------------------------------
    def close(self, error_code: int = CloseCode.NO_ERROR, reason_phrase: str = "") -> None:
        """Close the connection with an application error code and reason."""
        self.closing = True
        if not self._disposed:
            super().close(error_code=int(error_code), reason_phrase=reason_phrase)

    @property
    def usable(self) -> bool:
        """True if frames may be written to the outbound stream."""
        # ``_close_event`` is set as soon as a close is received or begun, before the
        # draining period that delays ConnectionTerminated by three PTOs.
        return not self.closing and self.stream_id is not None and self._quic._close_event is None

    def backlog(self) -> int:
        """Bytes written to the outbound stream and not yet acknowledged by the peer."""
        if self.stream_id is None:
            return 0
        stream = self._quic._streams.get(self.stream_id)
        return 0 if stream is None else len(stream.sender._buffer)

    def send_keepalive(self) -> None:
        """Send a QUIC PING (the peer acknowledges it: proof of life)."""
        if not self._disposed:
            self._quic.send_ping(self._ping_uid)
            self._ping_uid += 1
            self.transmit()

    def open_stream(self, hello_frame: bytes) -> None:
        """Open the outbound stream and send the hello on it."""
        self.stream_id = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(self.stream_id, hello_frame)
        self.transmit()

    def write(self, data: bytes) -> bool:
        """Write framed bytes to the outbound stream; False if the stream refused them."""
        if self.stream_id is None:
            return False
        try:
            self._quic.send_stream_data(self.stream_id, data)
        except (ValueError, AssertionError) as err:
            logger.warning(
                "node %s: stream to %s refused data: %s", self._rt.node_id, self.expected_peer, err
            )
            self.close(CloseCode.PROTOCOL_VIOLATION, "stream unusable")
            return False
        self._transmit_soon()
        return True

    def dispose(self) -> None:
        """Cancel this connection's timers and close its own UDP socket (if outbound)."""
        if self._disposed:
            return
        self._disposed = True
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transmit_task is not None:
            self._transmit_task.cancel()
            self._transmit_task = None
        if not self.handshake.done():
            self.handshake.cancel()
        if self.outbound and self._transport is not None:
            self._transport.close()
        self.link = None
        self._rt._conns.discard(self)

    # -- events -------------------------------------------------------------------
    def _on_handshake(self) -> None:
        self.established_at = self._loop.time()
        # aioquic acks 1 ms after data arrives and exposes no setting for it: hold ACKs up
        # to the max_ack_delay it advertises (see QuicSettings.ack_delay_s)
        self._quic._ack_delay = self._rt.settings.ack_delay_s
        if self.outbound:
            # aioquic verified the chain to our CA and the SAN against node-<expected>.
            cert = self._quic.tls._peer_certificate
            try:
                if cert is None:
                    raise AuthenticationError("server presented no certificate")
                got = certificate_node_id(cert)
                if got != self.expected_peer:
                    raise PeerIdentityError(
                        f"dialed node {self.expected_peer} but its certificate names node {got}"
                    )
            except AuthenticationError as err:
                self.close(CloseCode.IDENTITY_MISMATCH, str(err))
                if not self.handshake.done():
                    self.handshake.set_exception(err)
                return
            self.peer_id = self.expected_peer
            if not self.handshake.done():
                self.handshake.set_result(None)
            return
        try:
            self.peer_id = self._rt._authenticate_client(self._quic)
        except AuthenticationError as err:
            self._rt._refuse(self, err)
            return
        if not self.handshake.done():
            self.handshake.set_result(None)
        held, self._held = self._held, []
        for stream_id, data, end in held:
            self._on_stream_data(stream_id, data, end)

    def _on_terminated(self, event: quic_events.ConnectionTerminated) -> None:
        self.closing = True
        self.termination = event
        if not self.handshake.done():
            if self.outbound:  # the dialer awaits it
                self.handshake.set_exception(_termination_error(event))
            else:
                self.handshake.cancel()
        self.closed.set()
        self._rt._connection_terminated(self)

    def _on_stream_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        self._stream_data = True
        if self.closing or self.outbound:
            return  # a peer never sends on the streams we open; ignore it
        if self.peer_id is None:
            self._held.append((stream_id, data, end_stream))
            self._held_bytes += len(data)
            if self._held_bytes > PRE_AUTH_BUFFER_BYTES:
                self._rt._fail(
                    self,
                    CloseCode.PROTOCOL_VIOLATION,
                    ProtocolError("too much stream data before authentication"),
                )
            return
        rt = self._rt
        rt.stats.bytes_received += len(data)
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = _InboundStream(rt.codec.reader())
        try:
            if stream.hello is None:
                rest = stream.take_hello(data)
                if rest is None:
                    self._check_end(stream, end_stream)
                    return
                self._check_hello(stream.hello)
                data = rest
            if data:
                rt._receive_frames(self.peer_id, stream.reader, data)
            self._check_end(stream, end_stream)
        except FrameTooLargeError as err:
            rt.stats.oversized_frames += 1
            rt._malformed(self, CloseCode.FRAME_TOO_LARGE, err)
        except CodecError as err:
            rt._malformed(self, CloseCode.MALFORMED_FRAME, err)
        except PeerIdentityError as err:
            rt._refuse(self, err)
        except ProtocolError as err:
            rt._fail(self, CloseCode.PROTOCOL_VIOLATION, err)
        if end_stream:
            self._streams.pop(stream_id, None)

    def _check_hello(self, hello: Hello | None) -> None:
        assert hello is not None
        if hello.version != RUNTIME_PROTOCOL_VERSION:
            raise ProtocolError(
                f"hello of runtime version {hello.version}, expected {RUNTIME_PROTOCOL_VERSION}"
            )
        if hello.node_id != self.peer_id:
            raise PeerIdentityError(
                f"hello claims node {hello.node_id} but the certificate names node {self.peer_id}"
            )
        if hello.dst != self._rt.node_id:
            raise PeerIdentityError(
                f"hello of node {hello.node_id} is addressed to node {hello.dst}, "
                f"this is node {self._rt.node_id}"
            )
        self._rt._peer_hello(hello.node_id, hello.incarnation, hello.uptime_ms, hello.link_key)

    @staticmethod
    def _check_end(stream: _InboundStream, end_stream: bool) -> None:
        if end_stream and (stream.hello is None or stream.reader.buffered or stream.pre):
            raise MalformedFrameError("stream ended inside a frame")


class _Server(QuicServer):
    """aioquic's server, telling when its UDP socket is actually closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.socket_closed = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed (asyncio closes it one loop iteration after close())."""
        self.socket_closed.set()


def _request_client_certificate(quic: QuicConnection) -> None:
    """Make a server connection send a TLS CertificateRequest (aioquic does not by default).

    aioquic creates the TLS context in ``QuicConnection._initialize`` on the first
    Initial packet; this wraps that method to set the (private) request flag. aioquic
    never verifies the client's chain: the runtime does it after the handshake.
    """
    original = quic._initialize

    def initialize(peer_cid: bytes) -> None:
        original(peer_cid)
        quic.tls._request_client_certificate = True

    quic._initialize = initialize  # type: ignore[method-assign]


class _PeerLink:
    """The outbound side towards one peer: bounded send queue and a dialer task.

    The queue holds encoded frames. When it is full the oldest frame is dropped
    (counted in ``QuicStats.queue_drops``): a sans-IO node cannot react to a refusal at
    flush time, and protocols that need reliability retransmit anyway.
    """

    def __init__(self, runtime: QuicNodeRuntime[Any], peer: NodeId, address: Address | None):
        self._rt = runtime
        self.peer = peer
        self.address = address
        self.queue: deque[bytes] = deque()
        self.conn: _Connection | None = None
        self.task: asyncio.Task[None] | None = None
        self.ever_connected = False
        self.eager = False  # dial even with nothing queued (the peer needs our link key)
        self.key_rotated = False  # the send key was replaced already for the next connection
        self._stale = False
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Start the dialer task (idle until there is something to send)."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name=f"quic-link-{self._rt.node_id}->{self.peer}"
            )

    def wake(self) -> None:
        """Re-evaluate whether to dial."""
        self._wake.set()

    def enqueue(self, frames: list[bytes]) -> None:
        """Queue frames and pump once; then drop the oldest of those still waiting while
        more than the bound wait (what the connection took at once never counts)."""
        queue = self.queue
        queue.extend(frames)
        if self.conn is None:
            self._wake.set()
        else:
            self.pump()
        over = len(queue) - self._rt.settings.send_queue_messages
        if over > 0:
            for _ in range(over):
                queue.popleft()
            self._rt.stats.queue_drops += over

    def pump(self) -> None:
        """Move queued frames into the connection while its send window has room."""
        conn = self.conn
        if conn is None or not self.queue or not conn.usable:
            return
        room = SEND_WINDOW_BYTES - conn.backlog()
        if room <= 0:
            return
        batch: list[bytes] = []
        size = 0
        queue = self.queue
        while queue and size < room:
            frame = queue.popleft()
            batch.append(frame)
            size += len(frame)
        if conn.write(batch[0] if len(batch) == 1 else b"".join(batch)):
            stats = self._rt.stats
            stats.messages_sent += len(batch)
            stats.bytes_sent += size

    async def _watch(self, conn: _Connection) -> bool:
        """Wait for the connection to end; ping a quiet peer, give up on a silent one.

        Returns True if the peer went silent for ``liveness_timeout_s`` (a killed process
        answers nothing, and QUIC alone would wait for its idle timeout) or restarted.
        """
        s = self._rt.settings
        loop = asyncio.get_running_loop()
        # one waiter for the whole connection: asyncio.wait (unlike wait_for on 3.11) never
        # swallows a cancellation of this task that races with the connection closing
        closed = loop.create_task(conn.closed.wait())
        try:
            while True:
                done, _ = await asyncio.wait({closed}, timeout=s.keepalive_s)
                if self._stale:
                    self._stale = False
                    return True
                if done:
                    return False
                quiet = loop.time() - conn.last_heard
                if quiet >= s.liveness_timeout_s:
                    conn.close(CloseCode.NO_ERROR, "peer silent")
                    return True
                if quiet >= s.keepalive_s and not conn.closing:
                    conn.send_keepalive()
        finally:
            closed.cancel()

    def peer_restarted(self, restarted_at: float) -> None:
        """The peer came back as a new process at ``restarted_at`` (loop time, about):
        drop our connection if it was made to the old process."""
        if self.conn is not None and self.conn.established_at < restarted_at - RESTART_MARGIN_S:
            self._stale = True
            self.conn.close(CloseCode.NO_ERROR, "peer restarted")
            self.conn.closed.set()  # no need to wait out the draining period

    def _want_connection(self) -> bool:
        return self.address is not None and (bool(self.queue) or self.ever_connected or self.eager)

    async def _run(self) -> None:
        rt = self._rt
        settings = rt.settings
        backoff = settings.reconnect_initial_s
        while True:
            while not self._want_connection():
                self._wake.clear()
                await self._wake.wait()
            assert self.address is not None
            try:
                conn = await rt._dial(self.peer, self.address)
            except AuthenticationError as err:
                rt.stats.auth_failures += 1
                if isinstance(err, PeerIdentityError):
                    rt.stats.identity_failures += 1
                logger.error(
                    "node %s: refusing node %s at %s: %s: %s",
                    rt.node_id,
                    self.peer,
                    self.address,
                    type(err).__name__,
                    err,
                )
                rt._notify()
            except PeerUnavailableError as err:
                rt.stats.dial_failures += 1
                logger.warning(
                    "node %s: cannot reach node %s at %s: %s",
                    rt.node_id,
                    self.peer,
                    self.address,
                    err,
                )
                rt._notify()
            else:
                backoff = await self._serve(conn, backoff)
            if not rt.running:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, settings.reconnect_max_s)

    async def _serve(self, conn: _Connection, backoff: float) -> float:
        """Use an established connection until it ends; return the next backoff."""
        rt = self._rt
        rt.stats.connects += 1
        if self.ever_connected:
            rt.stats.reconnects += 1
            if rt.session_keys and not self.key_rotated:  # a new connection, a new key
                rt.link_keys.rotate(self.peer)
        self.key_rotated = False
        self.ever_connected = True
        self.conn = conn
        conn.link = self
        conn.open_stream(rt._hello_frame(self.peer))
        logger.debug("node %s: connected to node %s", rt.node_id, self.peer)
        self.pump()
        rt._notify()
        silent = False
        try:
            silent = await self._watch(conn)
        finally:
            self.conn = None
            conn.dispose()
        end = conn.termination
        if silent or end is None:
            rt.stats.peers_silent += 1
            logger.warning(
                "node %s: node %s silent for %.1f s (or restarted): dropping the connection",
                rt.node_id,
                self.peer,
                rt.settings.liveness_timeout_s,
            )
            rt._notify()
            return rt.settings.reconnect_initial_s
        if end.frame_type is None and end.error_code in _REFUSAL_CODES:
            rt.stats.refused_by_peer += 1
            logger.error(
                "node %s: node %s refused the connection: %s",
                rt.node_id,
                self.peer,
                end.reason_phrase,
            )
        elif end.error_code == CloseCode.NO_ERROR:
            logger.info(
                "node %s: connection to node %s closed (%s)",
                rt.node_id,
                self.peer,
                end.reason_phrase or "no reason",
            )
            backoff = rt.settings.reconnect_initial_s
        else:
            logger.warning(
                "node %s: connection to node %s lost (code %#x): %s",
                rt.node_id,
                self.peer,
                end.error_code,
                end.reason_phrase,
            )
        rt._notify()
        return backoff


class QuicNodeRuntime(Generic[N]):
    """Host one sans-IO :class:`Node` on asyncio and QUIC with mutual TLS.

    Each node binds one QUIC server. Towards every peer it keeps one outbound
    connection (dialed on the first message, then re-dialed with exponential backoff
    whenever it is lost) carrying one long-lived stream: a :class:`Hello` frame, then
    the protocol's length-prefixed frames. A node therefore receives from a peer over
    the connection *that peer* dialed, and the peer's id is the node id in its
    verified client certificate.

    Time given to the node is ``loop.time()``. After every call into the node
    (``start``, ``receive``, ``handle_timer``, commands run with :meth:`call`) the
    runtime sends its outbox, publishes its events (the :attr:`events` list, the
    ``on_event`` callback, :meth:`iter_events` subscribers), re-arms its timer with
    ``loop.call_at`` and notifies listeners (:meth:`add_listener`).

    Delivery is FIFO and at-most-once per connection: frames handed to a connection
    that is then lost are not replayed, so protocols must tolerate loss (as they
    must anyway). Frames for a disconnected peer wait in its send queue, which holds
    at most ``settings.send_queue_messages`` frames; when full **the oldest frame is
    dropped** and counted in ``stats.queue_drops``. At most :data:`SEND_WINDOW_BYTES`
    unacknowledged bytes per peer sit inside aioquic, so memory stays bounded.

    Args:
        node: the node to host.
        codec: the protocol's codec.
        credentials: this node's certificate, key and cluster CA.
        addresses: known addresses by node id. This node's own entry is the address
            to bind (port 0 picks a free port, see :attr:`address`); if absent it binds
            ``settings.host`` on a free port. More can be given later with
            :meth:`set_peer_address`.
        settings: QUIC settings (defaults if None).
        on_event: called with every event the node emits.
        record_events: keep every event in :attr:`events` (disable for long runs).
    """

    def __init__(
        self,
        node: N,
        codec: Codec[Any],
        credentials: NodeCredentials,
        addresses: Mapping[NodeId, Address],
        settings: QuicSettings | None = None,
        *,
        on_event: Callable[[Event], None] | None = None,
        record_events: bool = True,
    ) -> None:
        self.node = node
        self.node_id: NodeId = node.node_id
        self.codec = codec
        self.credentials = credentials
        self.settings = settings if settings is not None else QuicSettings.model_validate({})
        self.stats = QuicStats()
        self.events: list[Event] = []
        self.node_errors: list[Exception] = []
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._on_event = on_event
        self._record_events = record_events
        self._event_demand()
        self._addresses: dict[NodeId, Address] = dict(addresses)
        self._bind: Address = self._addresses.pop(node.node_id, (self.settings.host, 0))
        self._bound: Address | None = None
        self._links: dict[NodeId, _PeerLink] = {}
        self.incarnation = secrets.randbits(62)
        self._started_at = 0.0
        self._incarnations: dict[NodeId, int] = {}
        self.link_keys = LinkKeys()
        self.session_keys = node.use_link_keys(self.link_keys)
        self._eager = 0  # how many of link_keys.peers() have a link that dials unasked
        self._conns: set[_Connection] = set()
        self._listeners: list[Callable[[], None]] = []
        self._server: _Server | None = None
        self._server_config: QuicConfiguration | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._local: deque[Message] = deque()
        self._local_handle: asyncio.Handle | None = None
        self._running = False
        self._ca_pem = b""
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- events -------------------------------------------------------------------
    @property
    def on_event(self) -> Callable[[Event], None] | None:
        """Called with every event the node emits."""
        return self._on_event

    @on_event.setter
    def on_event(self, callback: Callable[[Event], None] | None) -> None:
        self._on_event = callback
        self._event_demand()

    @property
    def record_events(self) -> bool:
        """Keep every event in :attr:`events`."""
        return self._record_events

    @record_events.setter
    def record_events(self, record: bool) -> None:
        self._record_events = record
        self._event_demand()

    def _event_demand(self) -> None:
        """Tell the node whether anything reads its events (it may skip building them)."""
        self.node.events_wanted = bool(
            self._record_events or self._on_event is not None or self._subscribers
        )

    # -- lifecycle ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    @property
    def address(self) -> Address:
        """The bound ``(host, port)``.

        Raises:
            ConfigError: the runtime has not been started.
        """
        if self._bound is None:
            raise ConfigError(f"node {self.node_id}: runtime not started, no bound address")
        return self._bound

    @property
    def port(self) -> int:
        """The bound UDP port."""
        return self.address[1]

    async def start(self) -> None:
        """Bind the QUIC server, then boot the node with ``node.start(loop.time())``.

        Raises:
            ConfigError: already running, or the TLS material cannot be loaded.
            OSError: the address cannot be bound.
        """
        if self._running:
            raise ConfigError(f"node {self.node_id}: runtime already running")
        loop = self._loop = asyncio.get_running_loop()
        creds = self.credentials
        try:
            self._ca_pem = creds.ca_path.read_bytes()
            config = self._base_config(is_client=False)
            config.load_cert_chain(creds.cert_path, creds.key_path)
        except (OSError, ValueError) as err:
            raise ConfigError(f"node {self.node_id}: cannot load TLS material: {err}") from err
        self._server_config = config
        if config.certificate is not None:
            try:
                own = certificate_node_id(config.certificate)
            except PeerIdentityError:
                own = None
            if own != self.node_id:
                logger.warning("node %s: its certificate names node %s", self.node_id, own)
        transport, server = await loop.create_datagram_endpoint(
            lambda: _Server(configuration=config, create_protocol=self._accept),
            local_addr=self._bind,
        )
        self._server = server
        _size_buffers(transport, self.settings.socket_buffer_bytes)
        self._started_at = loop.time()
        sockname = transport.get_extra_info("sockname")
        self._bound = (str(sockname[0]), int(sockname[1]))
        self._running = True
        for link in self._links.values():
            link.start()
        logger.info("node %s: QUIC runtime listening on %s:%s", self.node_id, *self._bound)
        if self.session_keys:
            # connect to every known peer now: each learns this incarnation's keys (and that
            # it restarted) before it needs them, not when a reply first goes its way
            for peer in self._addresses:
                self.link_keys.send_key(peer)
        try:
            self.node.start(loop.time())
        except BaseException:
            await self.stop()
            raise
        self._flush()

    async def stop(self) -> None:
        """Close every connection and the server, cancel tasks and timers.

        Frames still queued are discarded. :meth:`iter_events` iterators end.
        """
        if not self._running:
            return
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None
        if self._local_handle is not None:
            self._local_handle.cancel()
            self._local_handle = None
        tasks = [link.task for link in self._links.values() if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._links.values():
            link.task = None
            link.conn = None
            link.queue.clear()
        for conn in list(self._conns):
            conn.close(CloseCode.NO_ERROR, "shutdown")
        sockets: list[asyncio.Event] = []
        if self._server is not None:
            self._server.close()
            sockets.append(self._server.socket_closed)
            self._server = None
        for conn in list(self._conns):
            if conn.outbound and conn._transport is not None:
                sockets.append(conn.socket_closed)
            conn.dispose()
        self._conns.clear()
        # asyncio closes UDP sockets one loop iteration later: wait, so that the port
        # can be bound again as soon as stop() returns
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in sockets)), 2.0)
        for queue in self._subscribers:
            _put_dropping_oldest(queue, None)
        logger.info("node %s: QUIC runtime stopped", self.node_id)
        self._notify()

    async def __aenter__(self) -> QuicNodeRuntime[N]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- public API ---------------------------------------------------------------
    def set_peer_address(self, peer: NodeId, address: Address) -> None:
        """Set (or change) the address of ``peer``; a change applies at the next dial."""
        if peer == self.node_id:
            raise ConfigError(f"node {self.node_id}: cannot set its own address as a peer")
        self._addresses[peer] = address
        link = self._links.get(peer)
        if link is not None:
            link.address = address
            link.wake()

    def peer_address(self, peer: NodeId) -> Address | None:
        """The known address of ``peer``, if any."""
        return self._addresses.get(peer)

    def call(self, fn: Callable[[N, float], R]) -> R:
        """Run the command ``fn(node, now)``, then flush the node's output.

        Returns:
            What ``fn`` returned. Exceptions from ``fn`` propagate (output is still
            flushed).

        Raises:
            PeerUnavailableError: the runtime is not running.
        """
        if not self._running or self._loop is None:
            raise PeerUnavailableError(f"node {self.node_id}: runtime is not running")
        try:
            return fn(self.node, self._loop.time())
        finally:
            self._flush()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every node call and connection state change."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Undo :meth:`add_listener`."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``predicate()`` holds, re-checking after every notification.

        Raises:
            DeadlineExceededError: it did not hold within ``timeout_s`` seconds.
        """
        await _wait_until([self], predicate, timeout_s)

    async def iter_events(self) -> AsyncIterator[Event]:
        """Iterate over events emitted from now on, until :meth:`stop`.

        Each iterator has a queue of :data:`EVENT_QUEUE_MAX` events; if it falls that
        far behind, the oldest are dropped (``stats.events_dropped``).
        """
        queue: asyncio.Queue[Event | None] = asyncio.Queue(EVENT_QUEUE_MAX)
        self._subscribers.append(queue)
        self._event_demand()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._subscribers.remove(queue)
            self._event_demand()

    def queue_depth(self, peer: NodeId) -> int:
        """Frames waiting in the send queue of ``peer``."""
        link = self._links.get(peer)
        return 0 if link is None else len(link.queue)

    def connected_peers(self) -> set[NodeId]:
        """Peers with a usable outbound connection."""
        return {p for p, link in self._links.items() if link.conn is not None and link.conn.usable}

    def inbound_peers(self) -> set[NodeId]:
        """Authenticated peers with an open inbound connection."""
        return {
            c.peer_id
            for c in self._conns
            if not c.outbound and c.peer_id is not None and not c.closing
        }

    # -- node driving ---------------------------------------------------------------
    def _flush(self) -> None:
        node = self.node
        out = node.drain_outbox()
        if out:
            frames: dict[int, bytes | None] = {}
            by_peer: dict[NodeId, list[bytes]] = {}  # one enqueue (and stream write) per peer
            for dst, msg in out:
                if dst == self.node_id:
                    self._deliver_local_soon(msg)
                    continue
                key = id(msg)  # broadcasts queue one object for many peers: encode once
                if key in frames:
                    frame = frames[key]
                else:
                    try:
                        frame = self.codec.encode_frame(msg)
                    except CodecError as err:
                        self.stats.encode_errors += 1
                        logger.error(
                            "node %s: cannot encode %s: %s", self.node_id, type(msg).__name__, err
                        )
                        frame = None
                    frames[key] = frame
                if frame is not None:
                    queued = by_peer.get(dst)
                    if queued is None:
                        by_peer[dst] = [frame]
                    else:
                        queued.append(frame)
            for dst, queued in by_peer.items():
                self._link(dst).enqueue(queued)
        if self.session_keys and len(self.link_keys) != self._eager:
            self._dial_keyed_peers()
        events = node.drain_events()
        for event in events:
            if self._record_events:
                self.events.append(event)
            if self._on_event is not None:
                self._on_event(event)
            for queue in self._subscribers:
                if _put_dropping_oldest(queue, event):
                    self.stats.events_dropped += 1
        self._arm_timer()
        self._notify()

    def _arm_timer(self) -> None:
        at = self.node.next_timer() if self._running else None
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None and self._loop is not None:
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        assert self._loop is not None
        at = self._timer_at if self._timer_at is not None else 0.0
        self._timer = None
        self._timer_at = None
        if not self._running:
            return
        try:
            self.node.handle_timer(max(self._loop.time(), at))
        except Exception as err:
            self._node_error(err, "timer")
        self._flush()

    def _receive_frames(self, peer: NodeId, reader: FrameReader[Any], data: bytes) -> None:
        """Decode ``data`` and hand each complete message to the node, then flush."""
        assert self._loop is not None
        now = self._loop.time()
        node = self.node
        stats = self.stats
        try:
            for msg in reader.feed(data):
                stats.messages_received += 1
                try:
                    node.receive(peer, msg, now)
                except Exception as err:
                    self._node_error(err, f"message {type(msg).__name__} from node {peer}")
        finally:
            self._flush()

    def _deliver_local_soon(self, msg: Message) -> None:
        self._local.append(msg)
        if self._local_handle is None and self._loop is not None:
            self._local_handle = self._loop.call_soon(self._deliver_local)

    def _deliver_local(self) -> None:
        assert self._loop is not None
        self._local_handle = None
        now = self._loop.time()
        while self._local and self._running:
            msg = self._local.popleft()
            try:
                self.node.receive(self.node_id, msg, now)
            except Exception as err:
                self._node_error(err, "message to itself")
        self._flush()

    def _node_error(self, err: Exception, what: str) -> None:
        self.stats.node_errors += 1
        self.node_errors.append(err)
        logger.error("node %s raised while handling %s: %r", self.node_id, what, err, exc_info=err)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()

    # -- connections ------------------------------------------------------------------
    def _link(self, peer: NodeId) -> _PeerLink:
        link = self._links.get(peer)
        if link is None:
            link = self._links[peer] = _PeerLink(self, peer, self._addresses.get(peer))
            if self._running:
                link.start()
        return link

    def _dial_keyed_peers(self) -> None:
        """Connect to every peer the node holds a link key for, queued frames or not.

        A key reaches its peer only in the Hello of a connection, and the node may MAC
        for peers it does not send to directly (a PBFT client's authenticator covers
        every replica; the primary forwards the request): those peers must get the key.
        """
        peers = self.link_keys.peers()
        self._eager = len(peers)
        for peer in peers:
            if peer != self.node_id:
                link = self._link(peer)
                if not link.eager:
                    link.eager = True
                    link.wake()

    def _hello_frame(self, peer: NodeId) -> bytes:
        uptime_ms = int(1000 * (asyncio.get_running_loop().time() - self._started_at))
        return HELLO_CODEC.encode_frame(
            Hello(
                node_id=self.node_id,
                dst=peer,
                incarnation=self.incarnation,
                uptime_ms=max(uptime_ms, 0),
                link_key=self.link_keys.send_key(peer) if self.session_keys else b"",
            )
        )

    def _peer_hello(
        self, peer: NodeId, incarnation: int, uptime_ms: int = 0, link_key: bytes = b""
    ) -> None:
        """A peer's hello: a new incarnation means it restarted, so our link to it is stale.

        The old connection may still look open (QUIC has not timed it out), and frames
        queued on it would go nowhere: close it so the link re-dials at once. With
        session keys, the hello also carries the key the peer MACs with on this link.

        Raises:
            ProtocolError: the node uses session keys and the hello carries none (or a
                malformed one).
        """
        known = self._incarnations.get(peer)
        if self.session_keys:
            if known is not None and known != incarnation:
                self.link_keys.forget(peer)  # what the old process MACed with is void
            try:
                self.link_keys.accept(peer, link_key)
            except ValueError as err:
                raise ProtocolError(f"hello of node {peer}: {err}") from err
            assert self._loop is not None
            try:
                self.node.link_key_arrived(peer, self._loop.time())
            except Exception as err:
                self._node_error(err, f"the link key of node {peer}")
            self._flush()
        self._incarnations[peer] = incarnation
        if known is None or known == incarnation:
            return
        self.stats.peer_restarts += 1
        link = self._links.get(peer)
        if link is not None and self.session_keys:
            # the new process never saw our old key: what we MAC for it from now on must use
            # the key the next connection's hello will carry
            self.link_keys.rotate(peer)
            link.key_rotated = True
        if link is not None:
            loop = asyncio.get_running_loop()
            link.peer_restarted(loop.time() - uptime_ms / 1000.0)

    def _base_config(self, *, is_client: bool) -> QuicConfiguration:
        return QuicConfiguration(
            is_client=is_client,
            alpn_protocols=[self.settings.alpn],
            idle_timeout=self.settings.idle_timeout_s,
            max_datagram_size=self.settings.max_datagram_size,
        )

    def _accept(self, quic: QuicConnection, stream_handler: Any = None) -> _Connection:
        """Protocol factory of the QUIC server: one inbound connection."""
        return _Connection(quic, self, expected_peer=None)

    async def _dial(self, peer: NodeId, address: Address) -> _Connection:
        """Open and authenticate an outbound connection to ``peer``.

        Raises:
            AuthenticationError: the peer's certificate failed verification.
            PeerUnavailableError: no handshake within ``connect_timeout_s``, or an
                address or socket error.
        """
        loop = asyncio.get_running_loop()
        server_config = self._server_config
        assert server_config is not None
        host, port = address
        try:
            if _is_ip(host):
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                remote: Any = (host, port)
            else:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                family, remote = infos[0][0], infos[0][4]
        except OSError as err:
            raise PeerUnavailableError(f"cannot resolve {host}: {err}") from err
        config = self._base_config(is_client=True)
        config.server_name = node_name(peer)
        config.cadata = self._ca_pem
        config.certificate = server_config.certificate
        config.certificate_chain = server_config.certificate_chain
        config.private_key = server_config.private_key
        quic = QuicConnection(configuration=config)
        local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
        try:
            transport, conn = await loop.create_datagram_endpoint(
                lambda: _Connection(quic, self, expected_peer=peer), local_addr=local
            )
        except OSError as err:
            raise PeerUnavailableError(f"cannot open a UDP socket: {err}") from err
        _size_buffers(transport, self.settings.socket_buffer_bytes)
        try:
            conn.connect(remote)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the handshake completes (CPython gh-86296), which hung stop()
            async with asyncio.timeout(self.settings.connect_timeout_s):
                await conn.handshake
        except TimeoutError as err:
            conn.close(CloseCode.NO_ERROR, "handshake timeout")
            conn.dispose()
            raise PeerUnavailableError(
                f"no handshake with node {peer} within {self.settings.connect_timeout_s}s"
            ) from err
        except BaseException:
            conn.dispose()
            raise
        return conn

    def _authenticate_client(self, quic: QuicConnection) -> NodeId:
        """Verify a client's certificate (dates, chain to our CA) and return its node id.

        Raises:
            AuthenticationError: no certificate, or it does not verify.
            PeerIdentityError: it names no node.
        """
        ctx = quic.tls
        cert = ctx._peer_certificate
        if cert is None:
            raise AuthenticationError("client presented no certificate")
        try:
            tls.verify_certificate(
                certificate=cert, chain=ctx._peer_certificate_chain, cadata=self._ca_pem
            )
        except tls.Alert as err:
            raise AuthenticationError(f"client certificate rejected: {err}") from err
        return certificate_node_id(cert)

    def _refuse(self, conn: _Connection, err: AuthenticationError) -> None:
        self.stats.auth_failures += 1
        code = CloseCode.AUTH_FAILED
        if isinstance(err, PeerIdentityError):
            self.stats.identity_failures += 1
            code = CloseCode.IDENTITY_MISMATCH
        logger.error(
            "node %s: refused a connection from %s: %s: %s",
            self.node_id,
            _peer_label(conn),
            type(err).__name__,
            err,
        )
        conn.close(code, str(err)[:200])
        self._notify()

    def _malformed(self, conn: _Connection, code: CloseCode, err: CodecError) -> None:
        self.stats.malformed_frames += 1
        self._fail(conn, code, err)

    def _fail(self, conn: _Connection, code: CloseCode, err: SwarmError) -> None:
        logger.error(
            "node %s: closing the connection from %s (%s): %s: %s",
            self.node_id,
            _peer_label(conn),
            code.name,
            type(err).__name__,
            err,
        )
        conn.close(code, str(err)[:200])
        self._notify()

    def _connection_terminated(self, conn: _Connection) -> None:
        if not conn.outbound:
            conn.dispose()
        self._notify()


def _size_buffers(transport: asyncio.BaseTransport, nbytes: int) -> None:
    """Ask for ``nbytes`` of receive and send buffer on a transport's UDP socket.

    The kernel caps the request at ``net.core.rmem_max`` / ``wmem_max`` (and reports
    double what it grants); a cap is logged once per socket at debug level, not an error.
    """
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, nbytes)
            granted = sock.getsockopt(socket.SOL_SOCKET, option) // 2
        except OSError as err:
            logger.debug("cannot size UDP socket buffer %s: %s", option, err)
            continue
        if granted < nbytes:
            logger.debug("UDP socket buffer %s: asked %d bytes, got %d", option, nbytes, granted)


def _peer_label(conn: _Connection) -> str:
    return "an unauthenticated peer" if conn.peer_id is None else f"node {conn.peer_id}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _put_dropping_oldest(queue: asyncio.Queue[Event | None], item: Event | None) -> bool:
    """Put without blocking; if full, drop the oldest item first. True if one was dropped."""
    dropped = False
    if queue.full():
        queue.get_nowait()
        dropped = True
    queue.put_nowait(item)
    return dropped


async def _wait_until(
    runtimes: Iterable[QuicNodeRuntime[Any]],
    predicate: Callable[[], bool],
    timeout_s: float,
    on_check: Callable[[], None] | None = None,
) -> None:
    """Wait until ``predicate()`` holds, re-checking whenever a runtime notifies."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    changed = asyncio.Event()
    watched = list(runtimes)
    for rt in watched:
        rt.add_listener(changed.set)
    try:
        while True:
            changed.clear()
            if on_check is not None:
                on_check()
            if predicate():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeadlineExceededError(
                    f"condition {getattr(predicate, '__name__', predicate)!r} "
                    f"not met within {timeout_s}s"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
    finally:
        for rt in watched:
            rt.remove_listener(changed.set)


class QuicCluster(Generic[N]):
    """N nodes, each in its own :class:`QuicNodeRuntime`, on loopback in one event loop.

    It creates (or reopens) a cluster CA in ``directory``, issues one certificate per
    node, starts every runtime on ``host`` with a free port and tells every runtime
    the others' addresses. Use it as an async context manager::

        async with QuicCluster(nodes, reference_codec(), tmp_path / "certs") as cluster:
            cluster.call(1, lambda node, now: node.broadcast_value(b"x", now))
            await cluster.run_until(lambda: len(cluster.node(2).delivered) == 1, 5.0)

    Args:
        nodes: the nodes, with distinct ids.
        codec: the protocol's codec.
        directory: directory of the cluster CA and node certificates.
        settings: QUIC settings shared by all runtimes (``host`` is overridden).
        host: address every runtime binds.
    """

    def __init__(
        self,
        nodes: Iterable[N],
        codec: Codec[Any],
        directory: str | os.PathLike[str],
        settings: QuicSettings | None = None,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self._initial = list(nodes)
        ids = [n.node_id for n in self._initial]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"duplicate node ids in {ids}")
        self.codec = codec
        self.directory = directory
        base = settings if settings is not None else QuicSettings.model_validate({})
        self.settings = base.model_copy(update={"host": host})
        self.host = host
        self.runtimes: dict[NodeId, QuicNodeRuntime[N]] = {}
        self.events: list[tuple[NodeId, Event]] = []
        self._addresses: dict[NodeId, Address] = {}
        self._ca: ClusterCA | None = None

    @property
    def ca(self) -> ClusterCA:
        """The cluster CA (after :meth:`start`)."""
        if self._ca is None:
            raise ConfigError("cluster not started")
        return self._ca

    @property
    def nodes(self) -> dict[NodeId, N]:
        """The current node object of every runtime (running or stopped), by id."""
        return {nid: rt.node for nid, rt in self.runtimes.items()}

    def node(self, node_id: NodeId) -> N:
        """The current node object of ``node_id``."""
        return self.runtimes[node_id].node

    async def start(self) -> None:
        """Create the CA, start every runtime, then wire all addresses."""
        self._ca = ClusterCA.open_or_create(self.directory)
        try:
            for node in self._initial:
                rt = self._make_runtime(node, (self.host, 0))
                self.runtimes[node.node_id] = rt
                await rt.start()
                self._addresses[node.node_id] = rt.address
            for rt in self.runtimes.values():
                for peer, address in self._addresses.items():
                    if peer != rt.node_id:
                        rt.set_peer_address(peer, address)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every runtime."""
        for rt in self.runtimes.values():
            await rt.stop()

    async def __aenter__(self) -> QuicCluster[N]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def alive(self) -> set[NodeId]:
        """Ids of the nodes whose runtime is running."""
        return {nid for nid, rt in self.runtimes.items() if rt.running}

    def call(self, node_id: NodeId, fn: Callable[[N, float], R]) -> R:
        """Run the command ``fn(node, now)`` on ``node_id``, then send its output.

        Raises:
            ConfigError: the node is unknown or stopped (as the simulator's ``call``).
        """
        rt = self.runtimes.get(node_id)
        if rt is None:
            raise ConfigError(f"unknown node {node_id}")
        if not rt.running:
            raise ConfigError(f"node {node_id} is stopped")
        return rt.call(fn)

    async def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every node call.

        Raises:
            DeadlineExceededError: it did not hold within ``timeout_s`` seconds.
            Exception: the first exception a node raised while handling a message or
                timer (re-raised as is), so protocol bugs fail fast.
        """
        await _wait_until(self.runtimes.values(), predicate, timeout_s, self._raise_node_errors)

    async def stop_node(self, node_id: NodeId) -> None:
        """Stop (crash) one runtime; its address stays reserved for :meth:`start_node`."""
        await self.runtimes[node_id].stop()

    async def start_node(self, node: N) -> None:
        """Start a fresh runtime for ``node`` on the address its id had before."""
        address = self._addresses.get(node.node_id, (self.host, 0))
        old = self.runtimes.get(node.node_id)
        if old is not None and old.running:
            raise ConfigError(f"node {node.node_id} is running; stop it first")
        rt = self._make_runtime(node, address)
        self.runtimes[node.node_id] = rt
        await rt.start()
        if rt.address != address:
            self._addresses[node.node_id] = rt.address
            for other in self.runtimes.values():
                if other is not rt:
                    other.set_peer_address(node.node_id, rt.address)

    async def restart(self, node_id: NodeId, new_node: N) -> None:
        """Stop ``node_id`` and start ``new_node`` (same id) on the same address."""
        if new_node.node_id != node_id:
            raise ConfigError(f"restart of node {node_id} with node {new_node.node_id}")
        await self.stop_node(node_id)
        await self.start_node(new_node)

    def stats(self) -> dict[NodeId, QuicStats]:
        """Every runtime's counters."""
        return {nid: rt.stats for nid, rt in self.runtimes.items()}

    def _make_runtime(self, node: N, address: Address) -> QuicNodeRuntime[N]:
        addresses = {p: a for p, a in self._addresses.items() if p != node.node_id}
        addresses[node.node_id] = address
        return QuicNodeRuntime(
            node,
            self.codec,
            self.ca.credentials(node.node_id),
            addresses,
            self.settings,
            on_event=partial(self._record, node.node_id),
        )

    def _record(self, node_id: NodeId, event: Event) -> None:
        self.events.append((node_id, event))

    def _raise_node_errors(self) -> None:
        for rt in self.runtimes.values():
            if rt.node_errors:
                raise rt.node_errors[0]
