"""The PBFT replica: a sans-IO node (Castro and Liskov, OSDI 1999 / TOCS 2002).

One class runs under the simulator and over QUIC. Sections cited are of the
OSDI paper unless marked TOCS. What it implements:

* normal case (section 4.2): pre-prepare, prepare, commit, reply; the primary
  orders *batches* of requests (TOCS 2002: request batching), several in flight within the
  watermarks (pipelining), with a batch size and delay bound;
* checkpoints every K sequence numbers with 2f+1-signature stable proofs,
  garbage collection below them and state transfer from them (section 4.3,
  TOCS 2002 state transfer);
* view changes with the TOCS decision procedure (see :mod:`.viewchange`),
  triggered by request timeouts that grow per consecutive view change
  (section 4.4);
* exactly-once execution: the last reply per client is kept (and is part of
  the checkpointed state); a duplicate request is answered from it;
* retransmission driven by periodic status messages (TOCS 2002: message retransmission): a peer that
  is behind gets committed batches with their commit certificates, state
  at a stable checkpoint, the current NEW-VIEW, this replica's own
  pre-prepare / prepare / commit / checkpoint messages again, or the 2f+1
  signed checkpoints proving a stable checkpoint it has not made stable.

Authentication (TOCS 2002 authenticators, and BFT-SMaRt): MAC authenticators on requests,
pre-prepares, prepares and status; Ed25519 signatures on commits,
checkpoints, view changes and new views. Every message is checked before it
changes any state; a bad one is dropped and counted in :attr:`Replica.rejected`.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from patterns.byzantine.auth import ClusterConfig, MacKeyring, NodeKeys, SignatureCache
from patterns.byzantine.certificate import (
    check_checkpoint_proof,
    check_commit_certificate,
    check_commit_signatures,
)
from patterns.byzantine.events import (
    BatchExecuted,
    CheckpointStable,
    CheckpointTaken,
    ExecutedRequest,
    NewViewEntered,
    StateInstalled,
    ViewChangeStarted,
)
from patterns.byzantine.exceptions import CertificateError, RejectedMessage
from patterns.byzantine.messages import (
    DIGEST_BYTES,
    NULL_DIGEST,
    Batch,
    Checkpoint,
    Commit,
    CommitCertificate,
    CommitProof,
    CommitSignature,
    CommittedBatch,
    NewView,
    Prepare,
    PrePrepare,
    Reply,
    ReplyBatch,
    ReplyEntry,
    Request,
    SlotClaim,
    StateTransfer,
    Status,
    ViewChange,
    batch_digest,
    checkpoint_payload,
    commit_payload,
    digest_of_request_digests,
    new_view_payload,
    prepare_payload,
    preprepare_payload,
    reply_batch_payload,
    reply_payload,
    request_digest,
    status_payload,
    view_change_payload,
)
from patterns.byzantine.settings import ByzantineSettings, checked
from patterns.byzantine.state_machine import KeyValueStore, StateMachine, StateMachineFactory
from patterns.byzantine.viewchange import NewViewPlan, decide
from patterns.core.codec import Message
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.net.linkkeys import LinkKeys
from patterns.net.node import Node

TIMER_STATUS = "status"
TIMER_REQUEST = "request"
TIMER_VIEW_CHANGE = "view-change"
TIMER_BATCH = "batch"
Q_DIGESTS_PER_SLOT = 4  # pre-prepared digests remembered per slot (highest views kept)
MAX_TIMEOUT_DOUBLINGS = 64  # growth steps of the timeout counted (it is capped anyway)
VIEW_CHANGES_KEPT = 4  # view changes remembered per replica (its highest views)
MAX_COMMITTED_BATCHES_PER_STATUS = 64  # catch-up batches sent in answer to one status
STATUS_BURST_GAP_FRACTION = 0.25  # an extra status may go out after this share of the period
BENIGN_REASONS = frozenset({"duplicate", "late", "duplicate_answered", "client_key_pending"})
EARLY_REASONS = frozenset({"future_view", "in_view_change"})
EARLY_MESSAGES = 4096  # normal-case messages kept for a view not entered yet (oldest dropped)
KEYLESS_PREPREPARES = 64  # pre-prepares waiting for a client's link key (oldest dropped)
"""Drop reasons of redundant (not bad) messages: counted in ``Replica.redundant``."""


class Mode(enum.Enum):
    """Whether a replica accepts normal-case messages of its view."""

    NORMAL = "normal"
    VIEW_CHANGE = "view-change"  # waiting for NEW-VIEW of ``view``


class ReplyRecord(NamedTuple):
    """The last reply sent to a client (OSDI section 4.1: exactly-once)."""

    timestamp: int
    seq: int
    result: bytes


@dataclass
class Slot:
    """Agreement state of one sequence number."""

    seq: int
    created: float
    view: int = -1  # view whose pre-prepare / prepare / commit phase this tracks
    digest: bytes | None = None  # accepted pre-prepare in ``view``
    prepares: dict[int, bytes] = field(default_factory=dict)  # in ``view``: replica -> digest
    prepared: bool = False
    preprepare_msg: PrePrepare | None = None  # sent by this replica as primary
    prepare_msg: Prepare | None = None  # sent by this replica
    commit_msg: Commit | None = None  # sent by this replica
    commit_votes: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (view, replica)
    commits: dict[tuple[int, bytes], dict[int, bytes]] = field(default_factory=dict)
    bodies: dict[bytes, Batch] = field(default_factory=dict)  # known batches by digest
    request_digests: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)  # of bodies
    certificate: CommitCertificate | None = None
    batch: Batch | None = None  # the committed batch
    committed_at: float = 0.0

    def enter_view(self, view: int, now: float) -> None:
        """Reset the per-view phase state when the slot is first used in ``view``."""
        if self.view != view:
            self.view = view
            self.digest = None
            self.prepares = {}
            self.prepared = False
            self.preprepare_msg = None
            self.prepare_msg = None
            self.commit_msg = None
            self.created = now


_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(tuple[bytes, list[tuple[int, int, int, bytes]]])


class Replica(Node):
    """One PBFT replica.

    Args:
        node_id: this replica's id (``0..n-1``).
        config: the cluster's public configuration.
        keys: this replica's private keys.
        settings: protocol settings (its ``f`` must match ``config.f``).
        state_machine: a factory of the replicated state machine (default: key-value store).
        rng: the seeded generator (unused by the protocol, kept by the node contract).
    """

    def __init__(
        self,
        node_id: NodeId,
        config: ClusterConfig,
        keys: NodeKeys,
        settings: ByzantineSettings | None = None,
        state_machine: StateMachineFactory = KeyValueStore,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(node_id, list(config.replicas) + sorted(config.client_nodes), rng)
        self.settings = s = checked(settings)
        if s.f != config.f:
            raise ConfigError(f"settings.f={s.f} but the cluster config has f={config.f}")
        if not config.is_replica(node_id) or keys.node_id != node_id:
            raise ConfigError(f"node {node_id} is not a replica of this cluster or has wrong keys")
        signer = keys.signing_key
        if signer is None:
            raise ConfigError(f"replica {node_id} has no signing key")
        self.config = config
        self.signer = signer
        self.ring = MacKeyring(keys, config)
        self.sigs = SignatureCache(config.verify_keys, s.signature_cache_entries)
        self.sm: StateMachine = state_machine()
        self.replicas = tuple(r for r in config.replicas if r != node_id)
        self.f = config.f
        self.quorum = config.quorum
        self.window = s.watermark_window
        self.interval = s.checkpoint_interval

        self.view = 0
        self.mode = Mode.NORMAL
        self.low = 0  # h: sequence number of the last stable checkpoint
        self.stable_digest = b""
        self.stable_proof: tuple[Checkpoint, ...] = ()
        self.last_executed = 0
        self.next_seq = 1
        self.slots: dict[int, Slot] = {}
        self.p_set: dict[int, SlotClaim] = {}
        self.q_set: dict[int, dict[bytes, int]] = {}
        self.checkpoints: dict[int, dict[int, Checkpoint]] = {}
        self.own_checkpoints: dict[int, tuple[float, Checkpoint]] = {}  # seq -> (taken at, msg)
        self.stable_at = -1.0e18  # when ``low`` last advanced
        self.snapshots: dict[int, tuple[bytes, bytes]] = {}  # seq -> (digest, snapshot)
        self.replies: dict[int, ReplyRecord] = {}
        self.reply_certs: dict[int, CommitCertificate] = {}
        self.waiting: dict[bytes, Request] = {}  # valid requests not yet executed
        self.queue: deque[bytes] = deque()  # primary: digests waiting for a batch
        self.assigned: set[bytes] = set()  # primary: digests in ordered, unexecuted batches
        self.vc_msgs: dict[int, dict[int, ViewChange]] = {}
        self.vc_latest: dict[int, int] = {}  # replica -> highest view it asked for
        self.own_vcs: dict[int, ViewChange] = {}  # this replica's recent view changes, with bodies
        self.vc_bodies: dict[bytes, Batch] = {}
        self.new_view_msg: NewView | None = None
        self.vc_attempts = 0
        self.request_timer_target: bytes | None = None
        self.audit: deque[tuple[CommitCertificate, Batch]] = deque(maxlen=s.audit_log_entries)
        self.rejected: Counter[str] = Counter()
        self.early: deque[tuple[NodeId, Message]] = deque(maxlen=EARLY_MESSAGES)
        # authenticated pre-prepares holding a request of a client whose link key has not
        # arrived yet (over QUIC it comes in the client's hello): replayed when it does
        self.keyless: deque[tuple[NodeId, PrePrepare]] = deque(maxlen=KEYLESS_PREPREPARES)
        self.redundant: Counter[str] = Counter()
        # (sender, reason) of every message turned away, benign or not: what one peer caused
        self.turned_away: Counter[tuple[int, str]] = Counter()
        self.executed_requests = 0
        self.view_changes = 0
        self._last_status_sent = -1.0e18

    # -- node contract -----------------------------------------------------------
    def use_link_keys(self, links: LinkKeys) -> bool:
        """MAC with the session keys of the transport's links (QUIC), not the static ones."""
        self.ring.use_links(links)
        return True

    def link_key_arrived(self, peer: NodeId, now: float) -> None:
        """A key from ``peer`` arrived: replay the pre-prepares that waited for it."""
        if not self.keyless:
            return
        waiting, self.keyless = self.keyless, deque(maxlen=KEYLESS_PREPREPARES)
        for src, pp in waiting:
            self.on_message(src, pp, now)

    def start(self, now: float) -> None:
        """Arm the status timer; announce this replica's (initial) state to the others."""
        self._send_status(now)
        self.set_timer(TIMER_STATUS, now + self.settings.status_interval_s)

    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        """Dispatch one message; a bad one is counted in :attr:`rejected`, never raised."""
        try:
            if isinstance(msg, Prepare):
                self._on_prepare(msg, now)
            elif isinstance(msg, Commit):
                self._on_commit(msg, now)
            elif isinstance(msg, PrePrepare):
                self._on_preprepare(msg, now)
            elif isinstance(msg, Request):
                self._on_request(src, msg, now)
            elif isinstance(msg, Checkpoint):
                self._on_checkpoint(msg, now)
            elif isinstance(msg, Status):
                self._on_status(msg, now)
            elif isinstance(msg, CommittedBatch):
                self._on_committed_batch(msg, now)
            elif isinstance(msg, ViewChange):
                self._on_view_change(msg, now)
            elif isinstance(msg, NewView):
                self._on_new_view(msg, now)
            elif isinstance(msg, StateTransfer):
                self._on_state_transfer(msg, now)
            else:
                raise RejectedMessage("unexpected_kind", type(msg).__name__)
        except RejectedMessage as err:
            self.turned_away[(int(src), err.reason)] += 1
            if err.reason in BENIGN_REASONS:
                self.redundant[err.reason] += 1
            else:
                self.rejected[err.reason] += 1
            if err.reason == "client_key_pending" and isinstance(msg, PrePrepare):
                self.keyless.append((src, msg))  # the primary's MAC was checked already
            elif (
                err.reason in EARLY_REASONS
                and isinstance(msg, PrePrepare | Prepare | Commit)
                and self._authentic(msg)
            ):
                # it may be of the view this replica is about to enter: keep it to replay
                # (only once authenticated: a forged one must not take a buffer place)
                self.early.append((src, msg))

    def _authentic(self, msg: PrePrepare | Prepare | Commit) -> bool:
        """The sender's MAC or signature checks out (the view's primary for a pre-prepare)."""
        if isinstance(msg, PrePrepare):
            return self.ring.check_authenticator(
                self.config.primary(msg.view),
                preprepare_payload(msg.view, msg.seq, msg.digest),
                msg.auth,
            )
        if isinstance(msg, Prepare):
            return self.config.is_replica(msg.replica) and self.ring.check_authenticator(
                msg.replica, prepare_payload(msg.view, msg.seq, msg.digest, msg.replica), msg.auth
            )
        return (
            self.config.is_replica(msg.replica)
            and len(msg.digest) == DIGEST_BYTES
            and self.sigs.verify(
                msg.replica,
                commit_payload(msg.view, msg.seq, msg.digest, msg.replica),
                msg.signature,
            )
        )

    def on_timer(self, name: str, now: float) -> None:
        """Status period, request timeout, view-change timeout, batch delay."""
        if name == TIMER_STATUS:
            self._on_status_timer(now)
        elif name == TIMER_REQUEST:
            self.request_timer_target = None
            if self.mode is Mode.NORMAL and not self.is_primary:
                # OSDI 4.4 / 4.5.2: no request executed in time; the next view gets a longer timeout
                self.vc_attempts += 1
                self._start_view_change(self.view + 1, now)
        elif name == TIMER_VIEW_CHANGE:
            if self.mode is Mode.VIEW_CHANGE:
                self.vc_attempts += 1
                self._start_view_change(self.view + 1, now)
        elif name == TIMER_BATCH:
            self._issue_batches(now, force=True)

    # -- properties ----------------------------------------------------------------
    @property
    def primary(self) -> int:
        """The primary of the current view."""
        return self.config.primary(self.view)

    @property
    def is_primary(self) -> bool:
        """True if this replica is the primary of its view."""
        return self.primary == self.node_id

    @property
    def timeout_s(self) -> float:
        """The current request / view-change timeout: base * multiplier^attempts, capped."""
        s = self.settings
        attempts = min(self.vc_attempts, MAX_TIMEOUT_DOUBLINGS)  # no float overflow
        grown = s.view_change_timeout_s * s.view_change_timeout_multiplier**attempts
        return float(min(s.view_change_timeout_max_s, grown))

    @property
    def state_digest(self) -> bytes:
        """Digest of the current state (state machine and reply table)."""
        return hashlib.sha256(self._snapshot()).digest()

    def committed_log(self) -> list[CommitCertificate]:
        """The audit trail: commit certificates of the executed batches still kept, in order."""
        return [cert for cert, _ in self.audit]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary of the replica's state."""
        return {
            "node_id": self.node_id,
            "view": self.view,
            "mode": self.mode.value,
            "low": self.low,
            "last_executed": self.last_executed,
            "executed_requests": self.executed_requests,
            "waiting": len(self.waiting),
            "rejected": dict(self.rejected),
            "redundant": dict(self.redundant),
            "view_changes": self.view_changes,
        }

    # -- requests (section 4.1) -----------------------------------------------------------
    def _check_request(self, req: Request, digest: bytes | None = None) -> bytes:
        """Authenticate a client request for this replica; return its digest.

        ``digest`` is the request's digest when the caller computed it already.
        """
        if req.client not in self.config.clients:
            raise RejectedMessage("unknown_client", f"client {req.client}")
        if len(req.op) > self.settings.max_request_bytes:
            raise RejectedMessage("oversized_request", f"{len(req.op)} bytes")
        if digest is None:
            digest = request_digest(req)
        if not self.ring.check_authenticator(req.client, digest, req.auth):
            raise RejectedMessage("bad_mac", f"request of client {req.client}")
        return digest

    def _on_request(self, src: NodeId, req: Request, now: float) -> None:
        digest = self._check_request(req)
        last = self.replies.get(req.client)
        if last is not None and req.timestamp <= last.timestamp:
            if req.timestamp < last.timestamp:
                raise RejectedMessage("stale", f"request {req.timestamp} of client {req.client}")
            self.redundant["duplicate_answered"] += 1
            self._send_reply(req.client, req.timestamp, last, req.want_certificate)
            return
        if digest not in self.waiting:
            if len(self.waiting) >= self.settings.max_waiting_requests:
                raise RejectedMessage("queue_full", f"{len(self.waiting)} waiting")
            self.waiting[digest] = req
            if self.is_primary and self.mode is Mode.NORMAL:
                self.queue.append(digest)
        if self.mode is not Mode.NORMAL:
            return
        if self.is_primary:
            self._issue_batches(now)
            return
        if src == self.config.host_of(req.client):  # the client's broadcast: relay it
            self.send(self.primary, req)
        self._arm_request_timer(now)

    def _arm_request_timer(self, now: float) -> None:
        """Start the request timer for the oldest waiting request, if none is running."""
        if self.is_primary or self.mode is not Mode.NORMAL or not self.waiting:
            return
        if self.request_timer_target is None or self.request_timer_target not in self.waiting:
            self.request_timer_target = next(iter(self.waiting))
            self.set_timer(TIMER_REQUEST, now + self.timeout_s)

    def _send_reply(
        self, client: int, timestamp: int, record: ReplyRecord, want_certificate: bool
    ) -> None:
        cert = None
        if want_certificate:
            cert = self.reply_certs.get(client)
            if cert is not None and cert.seq != record.seq:
                cert = None
        mac = self.ring.mac(
            client,
            reply_payload(self.view, timestamp, client, self.node_id, record.seq, record.result),
        )
        self.send(
            self.config.host_of(client),
            Reply(self.view, timestamp, client, self.node_id, record.seq, record.result, cert, mac),
        )

    # -- normal case: ordering (section 4.2) ------------------------------------------------
    def _issue_batches(self, now: float, force: bool = False) -> None:
        """Primary: order queued requests in batches while the pipeline and window allow."""
        if not self.is_primary or self.mode is not Mode.NORMAL:
            return
        s = self.settings
        while self.queue:
            if self.next_seq - 1 - self.last_executed >= s.pipeline_depth:
                return
            if self.next_seq > self.low + self.window:
                return
            if not force and s.batch_delay_s > 0 and len(self.queue) < s.batch_max_requests:
                if not self.timer_armed(TIMER_BATCH):
                    self.set_timer(TIMER_BATCH, now + s.batch_delay_s)
                return
            batch: list[Request] = []
            digests: list[bytes] = []
            while self.queue and len(batch) < s.batch_max_requests:
                digest = self.queue.popleft()
                req = self.waiting.get(digest)
                if req is None or digest in self.assigned:
                    continue
                last = self.replies.get(req.client)
                if last is not None and req.timestamp <= last.timestamp:
                    continue
                batch.append(req)
                digests.append(digest)
                self.assigned.add(digest)
            if batch:
                self._preprepare(tuple(batch), tuple(digests), now)
            force = False
        self.cancel_timer(TIMER_BATCH)

    def _preprepare(self, batch: Batch, digests: tuple[bytes, ...], now: float) -> None:
        seq = self.next_seq
        self.next_seq += 1
        digest = digest_of_request_digests(digests)
        auth = self.ring.authenticator(preprepare_payload(self.view, seq, digest))
        msg = PrePrepare(self.view, seq, digest, batch, auth)
        slot = self._slot(seq, now)
        assert slot is not None
        slot.enter_view(self.view, now)
        self._accept_preprepare(slot, digest, batch, digests)
        slot.preprepare_msg = msg
        self.broadcast(msg, self.replicas)
        self._check_prepared(slot, now)

    def _slot(self, seq: int, now: float) -> Slot | None:
        """The slot of ``seq`` if it is inside the watermarks (created on first use)."""
        if not self.low < seq <= self.low + self.window:
            return None
        slot = self.slots.get(seq)
        if slot is None:
            slot = self.slots[seq] = Slot(seq, now)
        return slot

    def _window_slot(self, seq: int, now: float) -> Slot:
        slot = self._slot(seq, now)
        if slot is None:
            reason = "stale" if seq <= self.low else "outside_window"
            raise RejectedMessage(
                reason, f"seq {seq} outside ({self.low}, {self.low + self.window}]"
            )
        return slot

    def _check_view(self, view: int) -> None:
        if view < self.view:
            raise RejectedMessage("stale", f"view {view} < {self.view}")
        if view > self.view:
            raise RejectedMessage("future_view", f"view {view} > {self.view}")
        if self.mode is not Mode.NORMAL:
            raise RejectedMessage("in_view_change", f"view {view}")

    def _accept_preprepare(
        self, slot: Slot, digest: bytes, batch: Batch, request_digests: tuple[bytes, ...]
    ) -> None:
        slot.digest = digest
        slot.bodies[digest] = batch
        slot.request_digests[digest] = request_digests
        views = self.q_set.setdefault(slot.seq, {})
        views[digest] = slot.view
        if len(views) > Q_DIGESTS_PER_SLOT:
            del views[min(views, key=lambda d: views[d])]

    def _on_preprepare(self, pp: PrePrepare, now: float) -> None:
        self._check_view(pp.view)
        if self.is_primary:
            raise RejectedMessage("not_from_primary", "pre-prepare sent to the primary")
        if not self.ring.check_authenticator(
            self.primary, preprepare_payload(pp.view, pp.seq, pp.digest), pp.auth
        ):
            raise RejectedMessage("bad_mac", f"pre-prepare {pp.view}/{pp.seq}")
        slot = self._window_slot(pp.seq, now)
        slot.enter_view(self.view, now)
        if slot.digest is not None:
            if slot.digest == pp.digest:
                raise RejectedMessage("duplicate", f"pre-prepare {pp.view}/{pp.seq}")
            raise RejectedMessage("conflicting_preprepare", f"{pp.view}/{pp.seq}")
        if len(pp.batch) > self.settings.batch_max_requests:
            raise RejectedMessage("batch_too_large", f"{len(pp.batch)} requests")
        digests = tuple(request_digest(r) for r in pp.batch)
        if digest_of_request_digests(digests) != pp.digest:
            raise RejectedMessage("bad_digest", f"pre-prepare {pp.view}/{pp.seq}")
        for req, req_digest in zip(pp.batch, digests, strict=True):
            try:
                self._check_request(req, req_digest)
            except RejectedMessage as err:
                if err.reason == "bad_mac" and self.ring.links is not None:
                    # over QUIC the client's key for this replica may still be on its way
                    # (a new client process, a reconnect): keep it until a key arrives
                    raise RejectedMessage("client_key_pending", f"client {req.client}") from err
                raise RejectedMessage("bad_request_in_batch", err.reason) from err
        self._accept_preprepare(slot, pp.digest, pp.batch, digests)
        self._send_prepare(slot)
        self._check_prepared(slot, now)

    def _send_prepare(self, slot: Slot) -> None:
        assert slot.digest is not None
        digest = slot.digest
        auth = self.ring.authenticator(prepare_payload(slot.view, slot.seq, digest, self.node_id))
        msg = Prepare(slot.view, slot.seq, digest, self.node_id, auth)
        slot.prepare_msg = msg
        slot.prepares[self.node_id] = digest
        self.broadcast(msg, self.replicas)

    def _on_prepare(self, p: Prepare, now: float) -> None:
        self._check_view(p.view)
        if not self.config.is_replica(p.replica) or p.replica == self.primary:
            raise RejectedMessage("bad_sender", f"prepare from {p.replica}")
        if not self.ring.check_authenticator(
            p.replica, prepare_payload(p.view, p.seq, p.digest, p.replica), p.auth
        ):
            raise RejectedMessage("bad_mac", f"prepare {p.view}/{p.seq} of {p.replica}")
        slot = self._window_slot(p.seq, now)
        slot.enter_view(self.view, now)
        prev = slot.prepares.get(p.replica)
        if prev is not None:
            raise RejectedMessage(
                "duplicate" if prev == p.digest else "conflicting_prepare",
                f"prepare {p.view}/{p.seq} of {p.replica}",
            )
        slot.prepares[p.replica] = p.digest
        self._check_prepared(slot, now)

    def _check_prepared(self, slot: Slot, now: float) -> None:
        """prepared(m, v, n, i): pre-prepare plus 2f matching prepares of backups."""
        if slot.prepared or slot.digest is None or slot.view != self.view:
            return
        primary = self.primary
        votes = sum(1 for r, d in slot.prepares.items() if d == slot.digest and r != primary)
        if votes < 2 * self.f:
            return
        slot.prepared = True
        self.p_set[slot.seq] = SlotClaim(slot.seq, slot.view, slot.digest)
        sig = self.signer.sign(commit_payload(slot.view, slot.seq, slot.digest, self.node_id))
        msg = Commit(slot.view, slot.seq, slot.digest, self.node_id, sig)
        slot.commit_msg = msg
        self.broadcast(msg, self.replicas)
        self._record_commit(slot, msg, now)

    def _on_commit(self, c: Commit, now: float) -> None:
        if not self.config.is_replica(c.replica):
            raise RejectedMessage("bad_sender", f"commit from {c.replica}")
        if c.view > self.view:
            raise RejectedMessage("future_view", f"commit of view {c.view} > {self.view}")
        if not self.low < c.seq <= self.low + self.window:  # rejected with no side effect
            reason = "stale" if c.seq <= self.low else "outside_window"
            raise RejectedMessage(
                reason, f"seq {c.seq} outside ({self.low}, {self.low + self.window}]"
            )
        known = self.slots.get(c.seq)  # read-only checks first: nothing is allocated yet
        if known is not None:
            if known.certificate is not None:
                raise RejectedMessage("late", f"commit for committed seq {c.seq}")
            prev = known.commit_votes.get((c.view, c.replica))
            if prev is not None and prev == c.digest:
                raise RejectedMessage("duplicate", f"commit {c.view}/{c.seq} of {c.replica}")
        if not self._authentic(c):
            raise RejectedMessage("bad_signature", f"commit {c.view}/{c.seq} of {c.replica}")
        slot = self._window_slot(c.seq, now)
        prev = slot.commit_votes.get((c.view, c.replica))
        if prev is not None:
            raise RejectedMessage("conflicting_commit", f"commit {c.view}/{c.seq} of {c.replica}")
        self._record_commit(slot, c, now)

    def _record_commit(self, slot: Slot, c: Commit, now: float) -> None:
        slot.commit_votes[(c.view, c.replica)] = c.digest
        slot.commits.setdefault((c.view, c.digest), {})[c.replica] = c.signature
        self._try_commit(slot, now)

    def _try_commit(self, slot: Slot, now: float) -> None:
        """committed: 2f+1 signed commits for one (view, digest) whose batch is known."""
        if slot.certificate is not None:
            return
        for (view, digest), sigs in slot.commits.items():
            if len(sigs) < self.quorum:
                continue
            body = slot.bodies.get(digest)
            if body is None:
                continue  # committed elsewhere; the body comes with a CommittedBatch
            signers = sorted(sigs)[: self.quorum]
            known = slot.request_digests.get(digest)
            cert = CommitCertificate(
                view,
                slot.seq,
                digest,
                known if known is not None else tuple(request_digest(r) for r in body),
                tuple(CommitSignature(r, sigs[r]) for r in signers),
            )
            self._committed(slot, cert, body, now)
            return

    def _committed(self, slot: Slot, cert: CommitCertificate, body: Batch, now: float) -> None:
        slot.committed_at = now
        slot.certificate = cert
        slot.batch = body
        slot.commits = {}
        slot.commit_votes = {}
        self._execute_ready(now)

    # -- execution -----------------------------------------------------------------------
    def _execute_ready(self, now: float) -> None:
        progressed = False
        while True:
            slot = self.slots.get(self.last_executed + 1)
            if slot is None or slot.certificate is None or slot.batch is None:
                break
            self._execute(slot, slot.certificate, slot.batch, now)
            progressed = True
        if not progressed:
            return
        if self.mode is Mode.NORMAL:
            self.vc_attempts = 0
        if self.request_timer_target is not None and self.request_timer_target not in self.waiting:
            self.cancel_timer(TIMER_REQUEST)
            self.request_timer_target = None
        self._arm_request_timer(now)
        self._issue_batches(now)

    def _execute(self, slot: Slot, cert: CommitCertificate, batch: Batch, now: float) -> None:
        seq = slot.seq
        done: list[ExecutedRequest] | None = [] if self.events_wanted else None
        executed = 0
        replies: dict[NodeId, list[ReplyEntry]] = {}  # by client node: one message each
        wants: set[NodeId] = set()
        host_of = self.config.host_of
        view, me = self.view, self.node_id
        for req, digest in zip(batch, cert.request_digests, strict=True):
            self.waiting.pop(digest, None)
            self.assigned.discard(digest)
            last = self.replies.get(req.client)
            if last is not None and req.timestamp <= last.timestamp:
                continue  # exactly-once: executed before (the reply cache answers it)
            result = self.sm.apply(req.op)
            record = ReplyRecord(req.timestamp, seq, result)
            self.replies[req.client] = record
            host = host_of(req.client)
            if req.want_certificate:
                self.reply_certs[req.client] = cert
                wants.add(host)
            replies.setdefault(host, []).append(ReplyEntry(req.client, req.timestamp, seq, result))
            executed += 1
            if done is not None:
                done.append(ExecutedRequest(req.client, req.timestamp, req.op, result))
        for host, listed in replies.items():
            entries = tuple(listed)
            mac = self.ring.mac(entries[0].client, reply_batch_payload(view, me, entries))
            self.send(host, ReplyBatch(view, me, cert if host in wants else None, entries, mac))
        self.last_executed = seq
        self.executed_requests += executed
        if self.audit.maxlen:
            self.audit.append((cert, batch))
        if done is not None:
            self.emit(BatchExecuted(self.node_id, seq, cert.view, cert.digest, tuple(done)))
        if seq % self.interval == 0:
            self._take_checkpoint(seq, now)

    # -- checkpoints (section 4.3) ----------------------------------------------------------
    def _snapshot(self) -> bytes:
        table = [(c, r.timestamp, r.seq, r.result) for c, r in sorted(self.replies.items())]
        return _snapshot_encoder.encode((self.sm.snapshot(), table))

    def _take_checkpoint(self, seq: int, now: float) -> None:
        snap = self._snapshot()
        digest = hashlib.sha256(snap).digest()
        self.snapshots[seq] = (digest, snap)
        sig = self.signer.sign(checkpoint_payload(seq, digest, self.node_id))
        cp = Checkpoint(seq, digest, self.node_id, sig)
        self.checkpoints.setdefault(seq, {})[self.node_id] = cp
        self.own_checkpoints[seq] = (now, cp)  # kept until stable: resent on status (TOCS 2002)
        self.broadcast(cp, self.replicas)
        self.emit(CheckpointTaken(self.node_id, seq, digest))
        self._check_stable(seq, now)

    def _on_checkpoint(self, cp: Checkpoint, now: float) -> None:
        if not self.config.is_replica(cp.replica):
            raise RejectedMessage("bad_sender", f"checkpoint from {cp.replica}")
        if cp.seq <= self.low:
            raise RejectedMessage("stale", f"checkpoint {cp.seq} <= {self.low}")
        if cp.seq % self.interval or len(cp.state_digest) != DIGEST_BYTES:
            raise RejectedMessage("bad_checkpoint", f"checkpoint {cp.seq}")
        prev = self.checkpoints.get(cp.seq, {}).get(cp.replica)
        if prev is not None and prev.state_digest == cp.state_digest:
            # retransmissions (TOCS 2002) make these common; nothing changes, so no check
            raise RejectedMessage("duplicate", f"checkpoint {cp.seq} of {cp.replica}")
        # authenticate before acting on it: a forged checkpoint neither creates an
        # entry nor provokes a status message
        if not self.sigs.verify(
            cp.replica, checkpoint_payload(cp.seq, cp.state_digest, cp.replica), cp.signature
        ):
            raise RejectedMessage("bad_signature", f"checkpoint {cp.seq} of {cp.replica}")
        if cp.seq > self.low + self.window:
            self._send_status(now, urgent=True)  # we fell behind: ask for state
            raise RejectedMessage("outside_window", f"checkpoint {cp.seq}")
        if prev is not None:
            raise RejectedMessage("conflicting_checkpoint", f"checkpoint {cp.seq} of {cp.replica}")
        self.checkpoints.setdefault(cp.seq, {})[cp.replica] = cp
        self._check_stable(cp.seq, now)

    def _check_stable(self, seq: int, now: float) -> None:
        got = self.checkpoints.get(seq, {})
        by_digest: dict[bytes, list[Checkpoint]] = {}
        for cp in got.values():
            by_digest.setdefault(cp.state_digest, []).append(cp)
        for digest, cps in by_digest.items():
            if len(cps) >= self.quorum:
                if self.last_executed < seq:
                    # 2f+1 replicas are past us: execute up to it normally if the
                    # messages arrive; the others answer our status with the state if not
                    self._send_status(now, urgent=True)
                    return
                proof = tuple(sorted(cps, key=lambda c: c.replica)[: self.quorum])
                self._make_stable(seq, digest, proof, now)
                return

    def _make_stable(
        self, seq: int, digest: bytes, proof: tuple[Checkpoint, ...], now: float
    ) -> None:
        """Adopt a proven checkpoint as the low watermark and collect garbage below it.

        If this replica has not executed up to ``seq`` it asks for the state (TOCS 2002 state transfer).
        """
        if seq <= self.low:
            return
        self.low = seq
        self.stable_digest = digest
        self.stable_proof = proof
        self.stable_at = now
        for table in (self.slots, self.p_set, self.q_set, self.checkpoints, self.own_checkpoints):
            for k in [k for k in table if k <= seq]:
                del table[k]
        for k in [k for k in self.snapshots if k < seq]:
            del self.snapshots[k]
        if self.next_seq <= seq:
            self.next_seq = seq + 1
        self.emit(CheckpointStable(self.node_id, seq))
        if self.last_executed < seq:
            self._send_status(now, urgent=True)
        self._issue_batches(now)

    def _on_state_transfer(self, st: StateTransfer, now: float) -> None:
        if st.seq <= self.last_executed:
            raise RejectedMessage("stale", f"state of {st.seq} <= executed {self.last_executed}")
        if st.seq < self.low:
            raise RejectedMessage("stale", f"state of {st.seq} < low watermark {self.low}")
        if hashlib.sha256(st.snapshot).digest() != st.state_digest:
            raise RejectedMessage("bad_snapshot", f"state of {st.seq}")
        try:
            check_checkpoint_proof(st.seq, st.state_digest, st.proof, self.sigs.verify, self.quorum)
        except CertificateError as err:
            raise RejectedMessage("bad_certificate", str(err)) from err
        try:
            app, table = _snapshot_decoder.decode(st.snapshot)
            self.sm.restore(app)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as err:
            raise RejectedMessage("bad_snapshot", str(err)) from err
        self.replies = {c: ReplyRecord(ts, seq, res) for c, ts, seq, res in table}
        self.reply_certs = {}
        self.last_executed = st.seq
        self.snapshots[st.seq] = (st.state_digest, st.snapshot)
        for digest, req in list(self.waiting.items()):
            last = self.replies.get(req.client)
            if last is not None and req.timestamp <= last.timestamp:
                del self.waiting[digest]
                self.assigned.discard(digest)
        self.emit(StateInstalled(self.node_id, st.seq, st.state_digest))
        if st.seq > self.low:
            self._make_stable(st.seq, st.state_digest, st.proof, now)
        self._execute_ready(now)

    # -- status and retransmission (TOCS 2002) ---------------------------------------------
    def _on_status_timer(self, now: float) -> None:
        self._send_status(now)
        if self.mode is Mode.VIEW_CHANGE:
            mine = self.own_vcs.get(self.view)
            if mine is not None:
                self.broadcast(mine, self.replicas)
        for digest, req in list(self.waiting.items()):
            last = self.replies.get(req.client)
            if last is not None and req.timestamp <= last.timestamp:
                del self.waiting[digest]
        self.set_timer(TIMER_STATUS, now + self.settings.status_interval_s)

    def _send_status(self, now: float, urgent: bool = False) -> None:
        gap = self.settings.status_interval_s * STATUS_BURST_GAP_FRACTION
        if urgent and now - self._last_status_sent < gap:
            return
        self._last_status_sent = now
        active = self.mode is Mode.NORMAL
        auth = self.ring.authenticator(
            status_payload(self.view, active, self.low, self.last_executed, self.node_id)
        )
        self.broadcast(
            Status(self.view, active, self.low, self.last_executed, self.node_id, auth),
            self.replicas,
        )

    def _on_status(self, st: Status, now: float) -> None:
        j = st.replica
        if not self.config.is_replica(j) or j == self.node_id:
            raise RejectedMessage("bad_sender", f"status from {j}")
        payload = status_payload(st.view, st.active, st.stable_seq, st.last_executed, j)
        if not self.ring.check_authenticator(j, payload, st.auth):
            raise RejectedMessage("bad_mac", f"status of {j}")
        active = self.mode is Mode.NORMAL
        behind_in_view = st.view < self.view or (st.view == self.view and not st.active)
        if behind_in_view and active and self.new_view_msg is not None:
            self.send(j, self.new_view_msg)
        if not st.active and st.view != self.view:
            theirs = self.own_vcs.get(st.view)  # help it complete the view change it is in
            if theirs is not None:
                self.send(j, theirs)
        if self.mode is Mode.VIEW_CHANGE and st.view < self.view:
            mine = self.own_vcs.get(self.view)  # f+1 of these make it join (OSDI section 4.5.2)
            if mine is not None:
                self.send(j, mine)
        # large catch-up messages come from f+1 replicas only (one of them is correct)
        helper = (self.node_id - j) % self.config.n <= self.f + 1 or self.is_primary
        if helper and st.last_executed < self.low and self.low in self.snapshots:
            digest, snap = self.snapshots[self.low]
            self.send(j, StateTransfer(self.low, digest, self.stable_proof, snap))
        settled = now - self.settings.status_interval_s
        self._resend_checkpoints(st, settled)
        start = max(st.last_executed, self.low) + 1
        sent = 0
        for seq in sorted(k for k in self.slots if k >= start):
            slot = self.slots[seq]
            if slot.certificate is not None and slot.batch is not None:
                if helper and slot.committed_at <= settled:  # it had time to commit itself
                    self.send(j, CommittedBatch(slot.certificate, slot.batch))
                    sent += 1
            elif st.view == self.view and st.active and active and slot.view == self.view:
                if now - slot.created < self.settings.status_interval_s:
                    continue  # still young: the original messages may be on their way
                for msg in (slot.preprepare_msg, slot.prepare_msg, slot.commit_msg):
                    if msg is not None:
                        self.send(j, self._reauthenticated(msg))
                        sent += 1
            if sent >= MAX_COMMITTED_BATCHES_PER_STATUS:
                break

    def _reauthenticated(self, msg: PrePrepare | Prepare | Commit) -> Message:
        """``msg`` with its MACs made again with the current keys, for a retransmission.

        With link keys (QUIC) a key may have changed since ``msg`` was first sent (a
        reconnect, or the peer restarted and never knew the old key); commits are signed.
        """
        if self.ring.links is None:
            return msg
        if isinstance(msg, PrePrepare):
            payload = preprepare_payload(msg.view, msg.seq, msg.digest)
            return msgspec.structs.replace(msg, auth=self.ring.authenticator(payload))
        if isinstance(msg, Prepare):
            payload = prepare_payload(msg.view, msg.seq, msg.digest, msg.replica)
            return msgspec.structs.replace(msg, auth=self.ring.authenticator(payload))
        return msg

    def _resend_checkpoints(self, st: Status, settled: float) -> None:
        """Resend the checkpoint messages a peer reports missing (TOCS 2002: retransmission).

        A checkpoint is broadcast once when taken (OSDI section 4.3). If some copies
        are lost, replicas can each hold fewer than 2f+1 matching checkpoints for
        a sequence number forever: the low watermark stops, the window fills and
        the primary stops ordering, so view changes repeat without end. As in the
        BFT library, the status message carries the sender's stable checkpoint
        ``h``; a replica answers with

        * the 2f+1 signed checkpoints proving its own stable checkpoint, when
          the peer has executed past it but not made it stable (each message is
          checked by the peer as any checkpoint: it needs no new message kind);
        * its own checkpoint messages above the peer's ``h``.

        Only messages older than one status period are resent: younger ones may
        still be on their way. Both stay inside the peer's window, or the peer
        would only answer with an urgent status (it needs state transfer instead).

        Args:
            st: the authenticated status of the peer.
            settled: messages produced at or before this time may be resent.
        """
        j, top = st.replica, st.stable_seq + self.window
        if st.stable_seq < self.low <= min(st.last_executed, top) and self.stable_at <= settled:
            for cp in self.stable_proof:
                if cp.replica != j:
                    self.send(j, cp)
        for seq, (taken, cp) in sorted(self.own_checkpoints.items()):
            if st.stable_seq < seq <= top and taken <= settled:
                self.send(j, cp)

    def _on_committed_batch(self, cb: CommittedBatch, now: float) -> None:
        cert = cb.certificate
        if cert.seq <= self.last_executed:
            raise RejectedMessage("stale", f"committed batch {cert.seq}")
        slot = self._window_slot(cert.seq, now)
        if slot.certificate is not None:
            raise RejectedMessage("duplicate", f"committed batch {cert.seq}")
        digests = tuple(request_digest(r) for r in cb.batch)
        if digests != cert.request_digests or digest_of_request_digests(digests) != cert.digest:
            raise RejectedMessage("bad_digest", f"committed batch {cert.seq}")
        try:
            check_commit_certificate(cert, self.sigs.verify, self.quorum)
        except CertificateError as err:
            raise RejectedMessage("bad_certificate", str(err)) from err
        slot.bodies[cert.digest] = cb.batch
        self._committed(slot, cert, cb.batch, now)

    # -- view changes (section 4.4; TOCS 2002 decision procedure) -------------------------------------------------
    def _start_view_change(self, new_view: int, now: float) -> None:
        if new_view <= self.view:
            return
        self.view = new_view
        self.mode = Mode.VIEW_CHANGE
        self.new_view_msg = None
        self.view_changes += 1
        self.cancel_timer(TIMER_REQUEST)
        self.cancel_timer(TIMER_BATCH)
        self.cancel_timer(TIMER_VIEW_CHANGE)
        self.request_timer_target = None
        self.queue.clear()
        self.assigned.clear()
        prepared = tuple(self.p_set[n] for n in sorted(self.p_set) if n > self.low)
        preprepared = tuple(
            SlotClaim(n, v, d)
            for n in sorted(self.q_set)
            if n > self.low
            for d, v in sorted(self.q_set[n].items())
        )
        bodies: dict[bytes, Batch] = {}
        for claim in (*prepared, *preprepared):
            if claim.seq <= self.last_executed:
                continue  # executed here: the new primary has it, or gets it by catch-up
            slot = self.slots.get(claim.seq)
            body = slot.bodies.get(claim.digest) if slot is not None else None
            if body is None:
                body = self.vc_bodies.get(claim.digest)
            if body is not None and claim.digest != NULL_DIGEST:
                bodies[claim.digest] = body
        committed = tuple(
            CommitProof(c.view, c.seq, c.digest, c.signatures)
            for n in sorted(self.slots)
            if n > self.low and (c := self.slots[n].certificate) is not None
        )
        unsigned = ViewChange(
            new_view,
            self.low,
            self.stable_digest,
            self.stable_proof,
            prepared,
            preprepared,
            committed,
            self.node_id,
            b"",
        )
        vc = msgspec.structs.replace(
            unsigned,
            signature=self.signer.sign(view_change_payload(unsigned)),
            batches=tuple(bodies.values()),
        )
        self.vc_msgs.setdefault(new_view, {})[self.node_id] = _stripped(vc)
        self.vc_latest[self.node_id] = new_view
        self.own_vcs[new_view] = vc
        for v in sorted(self.own_vcs)[:-VIEW_CHANGES_KEPT]:
            del self.own_vcs[v]
        self.broadcast(vc, self.replicas)
        self.emit(ViewChangeStarted(self.node_id, new_view))
        self._check_view_change_quorum(now)

    def _validate_view_change(self, vc: ViewChange) -> None:
        """Check a view change's signature, checkpoint proof and claims (before using it)."""
        if not self.config.is_replica(vc.replica):
            raise RejectedMessage("bad_sender", f"view change from {vc.replica}")
        if not self.sigs.verify(vc.replica, view_change_payload(vc), vc.signature):
            raise RejectedMessage("bad_signature", f"view change of {vc.replica}")
        if vc.stable_seq > 0:
            try:
                check_checkpoint_proof(
                    vc.stable_seq,
                    vc.stable_digest,
                    vc.checkpoint_proof,
                    self.sigs.verify,
                    self.quorum,
                )
            except CertificateError as err:
                raise RejectedMessage("bad_certificate", str(err)) from err
        elif vc.stable_digest or vc.checkpoint_proof:
            raise RejectedMessage("bad_view_change", "proof without a checkpoint")
        top = vc.stable_seq + self.window
        seen: set[int] = set()
        for claim in vc.prepared:
            if claim.seq in seen or not vc.stable_seq < claim.seq <= top:
                raise RejectedMessage("bad_view_change", f"prepared claim {claim.seq}")
            if claim.view >= vc.new_view or len(claim.digest) != DIGEST_BYTES:
                raise RejectedMessage("bad_view_change", f"prepared claim {claim.seq}")
            seen.add(claim.seq)
        if len(vc.preprepared) > self.window * Q_DIGESTS_PER_SLOT:
            raise RejectedMessage("bad_view_change", "too many pre-prepared claims")
        proven: set[int] = set()
        for proof in vc.committed:
            if proof.seq in proven or not vc.stable_seq < proof.seq <= top:
                raise RejectedMessage("bad_view_change", f"commit proof {proof.seq}")
            proven.add(proof.seq)
            cert = CommitCertificate(proof.view, proof.seq, proof.digest, (), proof.signatures)
            try:
                check_commit_signatures(cert, self.sigs.verify, self.quorum)
            except CertificateError as err:
                raise RejectedMessage("bad_certificate", str(err)) from err
        for claim in vc.preprepared:
            bad_digest = len(claim.digest) != DIGEST_BYTES
            if bad_digest or not vc.stable_seq < claim.seq <= top or claim.view >= vc.new_view:
                raise RejectedMessage("bad_view_change", f"pre-prepared claim {claim.seq}")

    def _on_view_change(self, vc: ViewChange, now: float) -> None:
        if vc.new_view < self.view or (vc.new_view == self.view and self.mode is Mode.NORMAL):
            if (
                self.mode is Mode.NORMAL
                and self.new_view_msg is not None
                and self.config.is_replica(vc.replica)
                and self.sigs.verify(vc.replica, view_change_payload(vc), vc.signature)
            ):
                self.send(vc.replica, self.new_view_msg)  # help a replica that is behind
            raise RejectedMessage("stale", f"view change to {vc.new_view}")
        known = self.vc_msgs.get(vc.new_view, {}).get(vc.replica)
        if known is not None:
            raise RejectedMessage("duplicate", f"view change of {vc.replica} to {vc.new_view}")
        self._validate_view_change(vc)
        claimed = {c.digest for c in (*vc.prepared, *vc.preprepared)}
        for body in vc.batches:
            d = batch_digest(body)
            if d in claimed and len(self.vc_bodies) < 4 * self.window * Q_DIGESTS_PER_SLOT:
                self.vc_bodies[d] = body
        self.vc_latest[vc.replica] = max(vc.new_view, self.vc_latest.get(vc.replica, -1))
        self.vc_msgs.setdefault(vc.new_view, {})[vc.replica] = _stripped(vc)
        views = sorted(v for v, by in self.vc_msgs.items() if vc.replica in by)
        for v in views[:-VIEW_CHANGES_KEPT]:
            del self.vc_msgs[v][vc.replica]
        # f+1 replicas ask for views above ours: join the smallest (OSDI section 4.5.2, liveness)
        above = sorted(v for r, v in self.vc_latest.items() if r != self.node_id and v > self.view)
        if len(above) >= self.f + 1:
            self._start_view_change(above[-(self.f + 1)], now)
        if vc.new_view == self.view and self.mode is Mode.VIEW_CHANGE:
            self._check_view_change_quorum(now)

    def _check_view_change_quorum(self, now: float) -> None:
        if self.mode is not Mode.VIEW_CHANGE:
            return
        vcs = self.vc_msgs.get(self.view, {})
        if len(vcs) < self.quorum:
            return
        if not self.timer_armed(TIMER_VIEW_CHANGE):
            self.set_timer(TIMER_VIEW_CHANGE, now + self.timeout_s)
        if self.is_primary:
            self._try_new_view(now)

    def _body(self, digest: bytes) -> Batch | None:
        if digest == NULL_DIGEST:
            return ()
        body = self.vc_bodies.get(digest)
        if body is not None:
            return body
        for slot in self.slots.values():
            body = slot.bodies.get(digest)
            if body is not None:
                return body
        return None

    def _try_new_view(self, now: float) -> None:
        vcs = [self.vc_msgs[self.view][r] for r in sorted(self.vc_msgs[self.view])]
        plan = decide(vcs, self.f, self.window)
        if plan is None:
            return
        bodies: dict[bytes, Batch] = {}
        shipped: dict[bytes, Batch] = {}
        for decision in plan.decisions:
            if decision.digest == NULL_DIGEST or decision.digest in bodies:
                continue
            body = self._body(decision.digest)
            if body is None:
                return  # decision procedure, condition A3: wait until the batch body is known
            bodies[decision.digest] = body
            slot = self.slots.get(decision.seq)
            if slot is None or slot.certificate is None:
                # a batch committed here is not shipped: replicas that lack it get it
                # with its certificate by catch-up (keeps NEW-VIEW within a frame)
                shipped[decision.digest] = body
        unsigned = NewView(self.view, tuple(vcs), plan.decisions, self.node_id, b"")
        nv = msgspec.structs.replace(
            unsigned,
            signature=self.signer.sign(new_view_payload(unsigned)),
            batches=tuple(shipped.values()),
        )
        self.broadcast(nv, self.replicas)
        self._install_new_view(nv, plan, bodies, now)

    def _on_new_view(self, nv: NewView, now: float) -> None:
        if nv.view < self.view or (nv.view == self.view and self.mode is Mode.NORMAL):
            raise RejectedMessage("stale", f"new view {nv.view}")
        if nv.replica != self.config.primary(nv.view):
            raise RejectedMessage("bad_sender", f"new view {nv.view} from {nv.replica}")
        if not self.sigs.verify(nv.replica, new_view_payload(nv), nv.signature):
            raise RejectedMessage("bad_signature", f"new view {nv.view}")
        seen: set[int] = set()
        for vc in nv.view_changes:
            if vc.new_view != nv.view or vc.replica in seen or vc.batches:
                raise RejectedMessage("bad_new_view", f"view change of {vc.replica}")
            self._validate_view_change(vc)
            seen.add(vc.replica)
        if len(seen) < self.quorum:
            raise RejectedMessage("bad_new_view", f"{len(seen)} view changes")
        plan = decide(nv.view_changes, self.f, self.window)
        if plan is None or plan.decisions != nv.decisions:
            raise RejectedMessage("bad_new_view", "decisions do not follow from the view changes")
        given = {batch_digest(b): b for b in nv.batches}
        bodies: dict[bytes, Batch] = {}
        for digest in plan.needed_digests():
            body = given.get(digest)
            if body is None:
                body = self._body(digest)
            if body is not None:
                bodies[digest] = body
        self._install_new_view(nv, plan, bodies, now)

    def _install_new_view(
        self, nv: NewView, plan: NewViewPlan, bodies: dict[bytes, Batch], now: float
    ) -> None:
        self.view = nv.view
        self.mode = Mode.NORMAL
        self.new_view_msg = nv
        self.cancel_timer(TIMER_VIEW_CHANGE)
        for v in [v for v in self.vc_msgs if v <= nv.view]:
            del self.vc_msgs[v]
        self.vc_bodies = {}
        if plan.stable_seq > self.low:
            self._make_stable(plan.stable_seq, plan.stable_digest, plan.proof, now)
        primary = self.is_primary
        decided: set[bytes] = set()
        for decision in plan.decisions:
            slot = self._slot(decision.seq, now)
            if slot is None:
                continue
            body = () if decision.digest == NULL_DIGEST else bodies.get(decision.digest)
            if body is None:
                # committed at the primary and unknown here: it arrives with its commit
                # certificate (status catch-up); no prepare can be sent for it meanwhile
                slot.enter_view(nv.view, now)
                continue
            digests = tuple(request_digest(r) for r in body)
            decided.update(digests)
            slot.enter_view(nv.view, now)
            self._accept_preprepare(slot, decision.digest, body, digests)
            if not primary:
                self._send_prepare(slot)
        for decision in plan.decisions:
            slot = self.slots.get(decision.seq)
            if slot is not None:
                self._check_prepared(slot, now)
        self.emit(NewViewEntered(self.node_id, nv.view, self.primary))
        early = [(src, m) for src, m in self.early if getattr(m, "view", -1) > nv.view]
        replay = [(src, m) for src, m in self.early if getattr(m, "view", -1) == nv.view]
        self.early = deque(early, maxlen=EARLY_MESSAGES)
        for src, m in replay:
            self.on_message(src, m, now)
        self.queue.clear()
        self.assigned.clear()
        if primary:
            self.next_seq = max(plan.max_seq, self.low) + 1
            for digest in self.waiting:
                if digest not in decided:
                    self.queue.append(digest)
                else:
                    self.assigned.add(digest)
            self._issue_batches(now)
        else:
            self.request_timer_target = None
            self._arm_request_timer(now)
        self._send_status(now, urgent=True)


def _stripped(vc: ViewChange) -> ViewChange:
    """A view change without its (unsigned) batch bodies, as included in NEW-VIEW."""
    return msgspec.structs.replace(vc, batches=()) if vc.batches else vc
