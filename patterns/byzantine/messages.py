"""Wire messages of PBFT (one msgspec Struct per kind), their digests and their codec.

Authentication follows the paper's optimized protocol (TOCS 2002: authenticators)
and BFT-SMaRt: requests, pre-prepares, prepares and status messages carry MAC
*authenticators* (one MAC per replica, indexed by replica id); replies carry
one MAC for their client. Messages whose proof must convince a third party
carry an Ed25519 signature: commits (so 2f+1 of them form a transferable
commit certificate), checkpoints, view changes and new views.

Signatures and MACs cover the bytes returned by the ``*_payload`` functions
here, which start with a domain-separation label so one kind of signed
statement can never be replayed as another.

The messages of the normal case are ``gc=False`` structs: frozen, holding only
numbers, bytes and tuples of such structs, they can never be part of a reference
cycle, so the collector need not track the thousands a batch decodes to.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from patterns.core.codec import DEFAULT_MAX_FRAME_BYTES, Codec, Message

DIGEST_BYTES = 32  # SHA-256
MAX_FRAME_BYTES = 8 * DEFAULT_MAX_FRAME_BYTES  # 8 MiB: new-view messages carry batches

_encode = msgspec.msgpack.Encoder().encode


# -- client traffic (OSDI section 4.1) ------------------------------------------------
class Request(Message, frozen=True, tag="pbft.request", gc=False):
    """A client request <REQUEST, o, t, c>: operation ``op`` with timestamp ``timestamp``.

    ``auth`` is the client's authenticator: ``auth[i]`` is the MAC of the request
    digest under the key the client shares with replica ``i``.
    """

    client: int
    timestamp: int
    op: bytes
    want_certificate: bool
    auth: tuple[bytes, ...]


class CommitSignature(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One replica's Ed25519 signature of a commit statement."""

    replica: int
    signature: bytes


class CommitCertificate(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Proof that batch ``digest`` committed at ``seq`` in ``view``: 2f+1 signed commits.

    ``request_digests`` are the digests of the batch's requests, in order, so a
    client can check its own request is in the batch (the batch digest is the
    hash of their concatenation).
    """

    view: int
    seq: int
    digest: bytes
    request_digests: tuple[bytes, ...]
    signatures: tuple[CommitSignature, ...]


class Reply(Message, frozen=True, tag="pbft.reply", gc=False):
    """<REPLY, v, t, c, i, r>: the result of the client's request ``timestamp``.

    ``seq`` is the sequence number the request executed at; ``certificate`` its
    commit certificate when the client asked for one. ``mac`` authenticates
    everything but the (self-verifying) certificate.
    """

    view: int
    timestamp: int
    client: int
    replica: int
    seq: int
    result: bytes
    certificate: CommitCertificate | None
    mac: bytes


class ReplyEntry(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One client's reply inside a :class:`ReplyBatch` (the batch's view and replica)."""

    client: int
    timestamp: int
    seq: int
    result: bytes


class ReplyBatch(Message, frozen=True, tag="pbft.reply-batch", gc=False):
    """The replies of one executed batch to the clients of one client node, in one message.

    ``certificate`` is the batch's commit certificate if any of those clients asked for it.
    ``mac`` is the replica's MAC of :func:`reply_batch_payload`, under the key it shares
    with the first entry's client. Every client in the batch is hosted by the node it is
    sent to, which holds each of their keys: one MAC proves to that node what a MAC per
    reply would, as one authenticator covers a batch of requests in a pre-prepare.
    """

    view: int
    replica: int
    certificate: CommitCertificate | None
    entries: tuple[ReplyEntry, ...]
    mac: bytes


# -- normal case (OSDI section 4.2) -----------------------------------------------------
class PrePrepare(Message, frozen=True, tag="pbft.pre-prepare", gc=False):
    """<PRE-PREPARE, v, n, d> with the batch of requests whose digest is ``digest``."""

    view: int
    seq: int
    digest: bytes
    batch: tuple[Request, ...]
    auth: tuple[bytes, ...]


class Prepare(Message, frozen=True, tag="pbft.prepare", gc=False):
    """<PREPARE, v, n, d, i> from backup ``replica``, with a MAC authenticator."""

    view: int
    seq: int
    digest: bytes
    replica: int
    auth: tuple[bytes, ...]


class Commit(Message, frozen=True, tag="pbft.commit", gc=False):
    """<COMMIT, v, n, d, i>, Ed25519-signed so commit certificates are transferable."""

    view: int
    seq: int
    digest: bytes
    replica: int
    signature: bytes


# -- checkpoints (OSDI section 4.3) -------------------------------------------------------
class Checkpoint(Message, frozen=True, tag="pbft.checkpoint", gc=False):
    """<CHECKPOINT, n, d, i>: the state after executing ``seq`` has digest ``state_digest``."""

    seq: int
    state_digest: bytes
    replica: int
    signature: bytes


# -- view changes (OSDI section 4.4; TOCS 2002 decision procedure) --------------------
class SlotClaim(msgspec.Struct, frozen=True, array_like=True):
    """A sender's claim about slot ``seq``: batch ``digest`` (pre-)prepared in ``view``."""

    seq: int
    view: int
    digest: bytes


class CommitProof(msgspec.Struct, frozen=True, array_like=True):
    """2f+1 signed commits of batch ``digest`` at ``seq`` in ``view`` (a commit certificate
    without the request digests: enough to prove the slot committed)."""

    view: int
    seq: int
    digest: bytes
    signatures: tuple[CommitSignature, ...]


class ViewChange(Message, frozen=True, tag="pbft.view-change"):
    """<VIEW-CHANGE, v+1, n, C, P, Q, i>, signed.

    ``prepared`` (the P set) holds, per slot above the stable checkpoint, the
    latest view in which the sender prepared a batch; ``preprepared`` (the Q
    set) holds, per slot and digest, the latest view in which the sender
    accepted a pre-prepare. ``checkpoint_proof`` proves ``stable_seq``.
    ``committed`` holds the commit proofs of the slots above the stable
    checkpoint the sender knows committed (an extension: a replica that caught
    up from certificates after losing its state has no P entry for them, but a
    proof settles the slot). ``batches`` carries the bodies of the claimed
    batches; it is not signed (each body is checked against a claimed digest).
    """

    new_view: int
    stable_seq: int
    stable_digest: bytes
    checkpoint_proof: tuple[Checkpoint, ...]
    prepared: tuple[SlotClaim, ...]
    preprepared: tuple[SlotClaim, ...]
    committed: tuple[CommitProof, ...]
    replica: int
    signature: bytes
    batches: tuple[tuple[Request, ...], ...] = ()


class Decision(msgspec.Struct, frozen=True, array_like=True):
    """The new primary's choice for slot ``seq``: batch ``digest`` (the null batch's digest
    when nothing can have committed there)."""

    seq: int
    digest: bytes


class NewView(Message, frozen=True, tag="pbft.new-view"):
    """<NEW-VIEW, v+1, V, O>, signed by the new primary.

    ``view_changes`` is V (at least 2f+1 signed view changes, bodies stripped);
    ``decisions`` is O, recomputed and checked by every backup; ``batches``
    holds the bodies of the non-null decisions.
    """

    view: int
    view_changes: tuple[ViewChange, ...]
    decisions: tuple[Decision, ...]
    replica: int
    signature: bytes
    batches: tuple[tuple[Request, ...], ...] = ()


# -- retransmission and state transfer (TOCS 2002: retransmission, state transfer)------------------
class Status(Message, frozen=True, tag="pbft.status"):
    """Periodic status of ``replica``; peers answer with what it is missing."""

    view: int
    active: bool
    stable_seq: int
    last_executed: int
    replica: int
    auth: tuple[bytes, ...]


class CommittedBatch(Message, frozen=True, tag="pbft.committed-batch"):
    """A committed batch and its commit certificate, for a replica that fell behind."""

    certificate: CommitCertificate
    batch: tuple[Request, ...]


class StateTransfer(Message, frozen=True, tag="pbft.state-transfer"):
    """The state at a stable checkpoint with its proof (2f+1 signed checkpoints)."""

    seq: int
    state_digest: bytes
    proof: tuple[Checkpoint, ...]
    snapshot: bytes


PBFT_MESSAGES: tuple[type[Message], ...] = (
    Request,
    Reply,
    ReplyBatch,
    PrePrepare,
    Prepare,
    Commit,
    Checkpoint,
    ViewChange,
    NewView,
    Status,
    CommittedBatch,
    StateTransfer,
)

Batch = tuple[Request, ...]


def pbft_codec(max_frame_bytes: int = MAX_FRAME_BYTES) -> Codec[Any]:
    """The codec of every PBFT message."""
    return Codec(PBFT_MESSAGES, max_frame_bytes=max_frame_bytes)


# -- digests ----------------------------------------------------------------------------
def request_digest_of(client: int, timestamp: int, op: bytes, want_certificate: bool) -> bytes:
    """D(m) of the request with these fields (what its authenticator MACs)."""
    return hashlib.sha256(
        _encode(("pbft/request", client, timestamp, op, want_certificate))
    ).digest()


def request_digest(req: Request) -> bytes:
    """D(m) of a request: SHA-256 over everything but its authenticator."""
    return request_digest_of(req.client, req.timestamp, req.op, req.want_certificate)


def digest_of_request_digests(digests: tuple[bytes, ...] | list[bytes]) -> bytes:
    """The batch digest of a batch whose requests have ``digests``, in order."""
    return hashlib.sha256(b"pbft/batch" + b"".join(digests)).digest()


def batch_digest(batch: Batch) -> bytes:
    """The digest of a batch (the null batch, with no requests, has a digest too)."""
    return digest_of_request_digests([request_digest(r) for r in batch])


NULL_DIGEST = digest_of_request_digests(())
"""Digest of the null batch a new primary orders where nothing can have committed."""


# -- authenticated statements -----------------------------------------------------------
def preprepare_payload(view: int, seq: int, digest: bytes) -> bytes:
    """Bytes a pre-prepare's authenticator covers."""
    return _encode(("pbft/pre-prepare", view, seq, digest))


def prepare_payload(view: int, seq: int, digest: bytes, replica: int) -> bytes:
    """Bytes a prepare's authenticator covers."""
    return _encode(("pbft/prepare", view, seq, digest, replica))


def commit_payload(view: int, seq: int, digest: bytes, replica: int) -> bytes:
    """Bytes a commit's signature covers."""
    return _encode(("pbft/commit", view, seq, digest, replica))


def checkpoint_payload(seq: int, state_digest: bytes, replica: int) -> bytes:
    """Bytes a checkpoint's signature covers."""
    return _encode(("pbft/checkpoint", seq, state_digest, replica))


def view_change_payload(vc: ViewChange) -> bytes:
    """Bytes a view change's signature covers (everything but the signature and bodies)."""
    return _encode(
        (
            "pbft/view-change",
            vc.new_view,
            vc.stable_seq,
            vc.stable_digest,
            vc.prepared,
            vc.preprepared,
            vc.committed,
            vc.replica,
        )
    )


def new_view_payload(nv: NewView) -> bytes:
    """Bytes a new view's signature covers: its view, the view changes (by signature),
    its decisions and its sender."""
    return _encode(
        (
            "pbft/new-view",
            nv.view,
            tuple((vc.replica, vc.signature) for vc in nv.view_changes),
            nv.decisions,
            nv.replica,
        )
    )


def status_payload(
    view: int, active: bool, stable_seq: int, last_executed: int, replica: int
) -> bytes:
    """Bytes a status message's authenticator covers."""
    return _encode(("pbft/status", view, active, stable_seq, last_executed, replica))


def reply_payload(
    view: int, timestamp: int, client: int, replica: int, seq: int, result: bytes
) -> bytes:
    """Bytes a reply's MAC covers (everything but the certificate and the MAC)."""
    return _encode(("pbft/reply", view, timestamp, client, replica, seq, result))


def reply_batch_payload(view: int, replica: int, entries: tuple[ReplyEntry, ...]) -> bytes:
    """Bytes a reply batch's MAC covers (everything but the certificate and the MAC)."""
    return _encode(("pbft/reply-batch", view, replica, entries))
