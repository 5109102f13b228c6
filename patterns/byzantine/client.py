"""The PBFT client node: submits operations and waits for f+1 matching replies.

OSDI section 4.1: a client sends its request to the primary it believes in;
if f+1 replicas do not send matching replies in time, it re-sends the request
to every replica (which relay it to the primary and start their view-change
timers). Each *logical* client has one request outstanding at a time and
strictly increasing timestamps (derived from the runtime clock, so a
restarted client keeps increasing them). One :class:`Client` node hosts one
or many logical clients (see :attr:`ClusterConfig.client_hosts`); submitted
operations go to the logical client with the shortest queue, so a node with
many logical clients is a closed loop with that many requests in flight.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from patterns.byzantine.auth import ClusterConfig, MacKeyring, NodeKeys, SignatureCache
from patterns.byzantine.certificate import check_commit_certificate
from patterns.byzantine.events import ReplyAccepted, RequestSent
from patterns.byzantine.exceptions import CertificateError, RequestTooLargeError
from patterns.byzantine.messages import (
    CommitCertificate,
    Reply,
    ReplyBatch,
    Request,
    reply_batch_payload,
    reply_payload,
    request_digest_of,
)
from patterns.byzantine.settings import ByzantineSettings, checked
from patterns.core.codec import Message
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.net.linkkeys import LinkKeys
from patterns.net.node import Node

TIMER_RETRY = "retry"
TIMESTAMP_UNITS_PER_S = 1_000_000  # timestamps are microseconds of the runtime clock
LATE_CERTIFICATE_LOOKBACK = 8  # completed operations a late certificate may still attach to


@dataclass(frozen=True, slots=True)
class CommittedResult:
    """The outcome of one operation: its result, where it committed, and the proof.

    Attributes:
        ticket: the number :meth:`Client.submit` returned for it.
        client: the logical client that sent it.
        op: the operation submitted.
        result: the result f+1 replicas agreed on.
        timestamp: the request's timestamp.
        seq: the sequence number of the batch it executed in.
        certificate: the batch's commit certificate (None unless asked for and received).
        request_digest: the digest of the request (it appears in the certificate).
        sent_at: runtime time the request was first sent.
        done_at: runtime time f+1 matching replies were in.
    """

    ticket: int
    client: int
    op: bytes
    result: bytes
    timestamp: int
    seq: int
    certificate: CommitCertificate | None
    request_digest: bytes
    sent_at: float
    done_at: float


@dataclass(slots=True)
class _Outstanding:
    ticket: int
    op: bytes
    want_certificate: bool
    request: Request
    digest: bytes
    sent_at: float
    replies: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # replica -> answer
    views: dict[int, int] = field(default_factory=dict)  # replica -> view it reported
    certificate: CommitCertificate | None = None


class _Session:
    """One logical client: its keys, queue and outstanding request."""

    def __init__(self, client_id: NodeId, ring: MacKeyring) -> None:
        self.client_id = client_id
        self.ring = ring
        self.pending: deque[tuple[int, bytes, bool]] = deque()
        self.current: _Outstanding | None = None
        self.last_timestamp = 0
        self.done: deque[CommittedResult] = deque(maxlen=LATE_CERTIFICATE_LOOKBACK)


class Client(Node):
    """A node hosting one or more PBFT clients.

    Args:
        node_id: this node's id (``>= n``).
        config: the cluster's public configuration.
        keys: the private keys of the logical client this node is, or of every
            logical client it hosts (each must be hosted by ``node_id``).
        settings: protocol settings.
        rng: the seeded generator (unused; kept by the node contract).
    """

    def __init__(
        self,
        node_id: NodeId,
        config: ClusterConfig,
        keys: NodeKeys | Mapping[NodeId, NodeKeys],
        settings: ByzantineSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(node_id, config.replicas, rng)
        all_keys = {keys.node_id: keys} if isinstance(keys, NodeKeys) else dict(keys)
        if not all_keys:
            raise ConfigError(f"client node {node_id} hosts no client")
        for cid, k in all_keys.items():
            if cid not in config.clients or k.node_id != cid or config.host_of(cid) != node_id:
                raise ConfigError(f"client {cid} is not a client hosted by node {node_id}")
        self.settings = checked(settings)
        self.config = config
        self.sessions = {cid: _Session(cid, MacKeyring(k, config)) for cid, k in all_keys.items()}
        self.sigs = SignatureCache(config.verify_keys, 4096)
        self.view = 0
        self.completed: dict[int, CommittedResult] = {}  # by ticket, in completion order
        self.retransmissions = 0
        self.rejected = 0
        self._tickets = 0
        self._order = list(self.sessions.values())
        self._free: deque[_Session] = deque(self._order)  # sessions with nothing to do
        self._deadlines: OrderedDict[NodeId, float] = OrderedDict()  # retry time per session

    @property
    def idle(self) -> bool:
        """True when no operation is outstanding or queued."""
        return all(s.current is None and not s.pending for s in self.sessions.values())

    @property
    def results(self) -> list[CommittedResult]:
        """Completed operations, in completion order."""
        return list(self.completed.values())

    def take(self, tickets: Sequence[int]) -> list[CommittedResult]:
        """Remove and return the results of ``tickets`` (in their order), so a long-running
        client does not keep every result it ever had.

        Raises:
            KeyError: a ticket has no result (yet); nothing is removed then.
        """
        done = self.completed
        missing = [t for t in tickets if t not in done]
        if missing:
            raise KeyError(f"no result yet for tickets {missing[:5]}")
        return [done.pop(t) for t in tickets]

    @property
    def in_flight(self) -> int:
        """Operations sent and not yet completed."""
        return sum(s.current is not None for s in self.sessions.values())

    def submit(self, op: bytes, now: float, want_certificate: bool = False) -> int:
        """Queue ``op`` at the least loaded logical client; it is sent when that client is free.

        Returns:
            A ticket that :attr:`CommittedResult.ticket` carries.

        Raises:
            RequestTooLargeError: ``op`` is over ``max_request_bytes`` (nothing is sent).
        """
        limit = self.settings.max_request_bytes
        if len(op) > limit:
            raise RequestTooLargeError(len(op), limit)
        ticket = self._tickets
        self._tickets += 1
        session = self._free.popleft() if self._free else self._order[ticket % len(self._order)]
        session.pending.append((ticket, op, want_certificate))
        if session.current is None:
            self._send_next(session, now)
        return ticket

    def _send_next(self, session: _Session, now: float) -> None:
        if not session.pending:
            self._free.append(session)
            return
        ticket, op, want = session.pending.popleft()
        cid = session.client_id
        ts = max(session.last_timestamp + 1, int(now * TIMESTAMP_UNITS_PER_S))
        session.last_timestamp = ts
        digest = request_digest_of(cid, ts, op, want)
        req = Request(cid, ts, op, want, session.ring.authenticator(digest))
        session.current = _Outstanding(ticket, op, want, req, digest, now)
        if self.events_wanted:
            self.emit(RequestSent(cid, ts, op))
        self.send(self.config.primary(self.view), req)
        self._deadline(cid, now + self.settings.client_retry_s)

    def _deadline(self, cid: NodeId, at: float | None) -> None:
        self._deadlines.pop(cid, None)
        if at is not None:
            self._deadlines[cid] = at
        if self._deadlines:
            self.set_timer(TIMER_RETRY, next(iter(self._deadlines.values())))
        else:
            self.cancel_timer(TIMER_RETRY)

    def use_link_keys(self, links: LinkKeys) -> bool:
        """MAC with the session keys of the transport's links (QUIC), not the static ones."""
        for session in self.sessions.values():
            session.ring.use_links(links)
        return True

    def on_timer(self, name: str, now: float) -> None:
        """Re-send to every replica the requests without f+1 matching replies in time."""
        if name != TIMER_RETRY:
            return
        due = [cid for cid, at in self._deadlines.items() if at <= now]
        for cid in due:
            cur = self.sessions[cid].current
            if cur is None:
                self._deadline(cid, None)
                continue
            self.retransmissions += 1
            ring = self.sessions[cid].ring
            if ring.links is not None:  # link keys may have been replaced since: MAC again
                cur.request = msgspec.structs.replace(
                    cur.request, auth=ring.authenticator(cur.digest)
                )
            self.broadcast(cur.request)
            self._deadline(cid, now + self.settings.client_retry_s)
        if self._deadlines and not self.timer_armed(TIMER_RETRY):
            self.set_timer(TIMER_RETRY, next(iter(self._deadlines.values())))

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        """Collect replies; complete an operation on f+1 matching ones."""
        if isinstance(msg, ReplyBatch):
            if not self.config.is_replica(msg.replica):
                self.rejected += len(msg.entries)
                return
            view, replica, certificate, entries = (
                msg.view,
                msg.replica,
                msg.certificate,
                msg.entries,
            )
            if not entries:
                return
            first = self.sessions.get(entries[0].client)
            if first is None or not first.ring.check(
                replica, reply_batch_payload(view, replica, entries), msg.mac
            ):
                self.rejected += len(entries)
                return
            for e in entries:  # authenticated, all of them, by the batch's MAC
                self._on_reply(
                    view, replica, e.client, e.timestamp, e.seq, e.result, None, certificate, now
                )
        elif isinstance(msg, Reply):
            if not self.config.is_replica(msg.replica):
                self.rejected += 1
                return
            self._on_reply(
                msg.view,
                msg.replica,
                msg.client,
                msg.timestamp,
                msg.seq,
                msg.result,
                msg.mac,
                msg.certificate,
                now,
            )
        else:
            self.rejected += 1

    def _on_reply(
        self,
        view: int,
        replica: int,
        client: int,
        timestamp: int,
        seq: int,
        result: bytes,
        mac: bytes | None,
        certificate: CommitCertificate | None,
        now: float,
    ) -> None:
        """One replica's reply to one logical client: a Reply's (checked against ``mac``) or
        a ReplyBatch's entry (``mac`` None: the batch's MAC was checked)."""
        session = self.sessions.get(client)
        if session is None:
            self.rejected += 1
            return
        cur = session.current
        if cur is None or timestamp != cur.request.timestamp or replica in cur.replies:
            # not needed (already complete, or a duplicate): authenticate only to use a certificate
            if certificate is not None and (
                mac is None
                or session.ring.check(
                    replica, reply_payload(view, timestamp, client, replica, seq, result), mac
                )
            ):
                self._late_certificate(session, timestamp, seq, result, certificate)
            return
        if mac is not None and not session.ring.check(
            replica, reply_payload(view, timestamp, client, replica, seq, result), mac
        ):
            self.rejected += 1
            return
        answer = (seq, result)
        cur.replies[replica] = answer
        cur.views[replica] = view
        if cur.want_certificate and cur.certificate is None and certificate is not None:
            cur.certificate = self._checked_certificate(certificate, cur.digest)
        # no answer had f+1 votes before this one, so only this one's count can have reached it
        if sum(1 for a in cur.replies.values() if a == answer) < self.config.weak:
            return
        views = sorted(cur.views.values(), reverse=True)
        self.view = max(self.view, views[self.config.f])  # a view f+1 replicas are in
        cert = (
            cur.certificate if cur.certificate is not None and cur.certificate.seq == seq else None
        )
        done = CommittedResult(
            cur.ticket,
            session.client_id,
            cur.op,
            result,
            timestamp,
            seq,
            cert,
            cur.digest,
            cur.sent_at,
            now,
        )
        self.completed[done.ticket] = done
        session.done.append(done)
        session.current = None
        if self.events_wanted:
            self.emit(ReplyAccepted(session.client_id, done.timestamp, done.op, result, seq, cert))
        if session.pending:
            self._send_next(session, now)  # moves this client's retry deadline on
        else:
            self._deadline(session.client_id, None)
            self._free.append(session)

    def _checked_certificate(
        self, cert: CommitCertificate, digest: bytes
    ) -> CommitCertificate | None:
        if digest not in cert.request_digests:
            return None
        try:
            check_commit_certificate(cert, self.sigs.verify, self.config.quorum)
        except CertificateError:
            return None
        return cert

    def _late_certificate(
        self,
        session: _Session,
        timestamp: int,
        seq: int,
        result: bytes,
        certificate: CommitCertificate,
    ) -> None:
        """Attach a certificate that arrives after the result was accepted."""
        for done in session.done:
            if done.timestamp != timestamp or done.certificate is not None:
                continue
            if seq != done.seq or result != done.result:
                return
            cert = self._checked_certificate(certificate, done.request_digest)
            if cert is None or cert.seq != done.seq:
                return
            fixed = CommittedResult(
                done.ticket,
                done.client,
                done.op,
                done.result,
                done.timestamp,
                done.seq,
                cert,
                done.request_digest,
                done.sent_at,
                done.done_at,
            )
            if done.ticket in self.completed:  # not taken yet
                self.completed[done.ticket] = fixed
            session.done.remove(done)
            session.done.append(fixed)
            return
