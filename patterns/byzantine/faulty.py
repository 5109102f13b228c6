"""Byzantine replica implementations, for tests and demos of what the protocol withstands.

The simulator's wrappers (:mod:`patterns.net.byzantine`) tamper with a node's
messages after they are authenticated, so receivers reject them as forged.
The replicas here misbehave *with valid keys*, which is what a compromised
replica can do:

* :class:`EquivocatingPrimary` sends two different, correctly authenticated
  pre-prepares for each sequence number, one to each half of the backups
  (OSDI section 4.2: at most one of them can prepare);
* :class:`ConflictingVoter` prepares, commits and checkpoints for digests
  that are not the ones it received, correctly signed (OSDI sections 4.2 and 4.3:
  f such votes cannot form a certificate);
* :class:`LyingViewChanger` claims in its view changes to have prepared the
  null batch in a view higher than any real one, in every slot, and stalls
  the view changes it should lead (TOCS 2002 view-change decision procedure: condition A2 keeps such
  claims out of the new view).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec

from patterns.byzantine.messages import (
    NULL_DIGEST,
    Batch,
    Checkpoint,
    Commit,
    Prepare,
    PrePrepare,
    SlotClaim,
    ViewChange,
    batch_digest,
    checkpoint_payload,
    commit_payload,
    prepare_payload,
    preprepare_payload,
    view_change_payload,
)
from patterns.byzantine.replica import Replica
from patterns.core.codec import Message
from patterns.core.ids import NodeId

LIE_SLOTS = 4  # slots above its stable checkpoint a lying view changer makes claims about


def _evil(digest: bytes) -> bytes:
    return hashlib.sha256(b"evil" + digest).digest()


class EquivocatingPrimary(Replica):
    """As primary, sends the real batch to one half of the backups and another to the other."""

    def _preprepare(self, batch: Batch, digests: tuple[bytes, ...], now: float) -> None:
        other: Batch = batch[::-1] if len(batch) > 1 else ()
        seq = self.next_seq
        super()._preprepare(batch, digests, now)
        slot = self.slots.get(seq)
        if slot is None or slot.preprepare_msg is None:
            return
        digest = batch_digest(other)
        auth = self.ring.authenticator(preprepare_payload(self.view, seq, digest))
        forged = PrePrepare(self.view, seq, digest, other, auth)
        half = self.replicas[len(self.replicas) // 2 :]
        self._outbox = [
            (dst, forged if dst in half and msg is slot.preprepare_msg else msg)
            for dst, msg in self._outbox
        ]


class ConflictingVoter(Replica):
    """Votes (prepare, commit, checkpoint) for digests other than the ones it saw, with valid keys."""

    def broadcast(self, msg: Message, peers: Iterable[NodeId] | None = None) -> None:
        """Replace every vote by a validly authenticated vote for another digest."""
        out: Message = msg
        if isinstance(msg, Prepare):
            d = _evil(msg.digest)
            auth = self.ring.authenticator(prepare_payload(msg.view, msg.seq, d, self.node_id))
            out = Prepare(msg.view, msg.seq, d, self.node_id, auth)
        elif isinstance(msg, Commit):
            d = _evil(msg.digest)
            sig = self.signer.sign(commit_payload(msg.view, msg.seq, d, self.node_id))
            out = Commit(msg.view, msg.seq, d, self.node_id, sig)
        elif isinstance(msg, Checkpoint):
            d = _evil(msg.state_digest)
            sig = self.signer.sign(checkpoint_payload(msg.seq, d, self.node_id))
            out = Checkpoint(msg.seq, d, self.node_id, sig)
        super().broadcast(out, peers)


class LyingViewChanger(Replica):
    """Claims, in every view change, to have prepared the null batch in the latest view
    before the new one; as the primary of a new view it withholds the NEW-VIEW, so the
    correct replicas' prepared claims grow old (the case condition A2 exists for)."""

    def _try_new_view(self, now: float) -> None:
        return

    def broadcast(self, msg: Message, peers: Iterable[NodeId] | None = None) -> None:
        """Replace its view changes by signed ones with invented prepared claims."""
        if isinstance(msg, ViewChange):
            # "the null batch prepared in the latest possible view": if believed, it
            # would erase whatever committed in those slots
            lies = tuple(
                SlotClaim(seq, msg.new_view - 1, NULL_DIGEST)
                for seq in range(msg.stable_seq + 1, msg.stable_seq + LIE_SLOTS + 1)
            )
            unsigned = msgspec.structs.replace(
                msg, prepared=lies, preprepared=lies, signature=b"", batches=()
            )
            msg = msgspec.structs.replace(
                unsigned, signature=self.signer.sign(view_change_payload(unsigned))
            )
        super().broadcast(msg, peers)


FAULTY_KINDS: dict[str, type[Replica]] = {
    "equivocating-primary": EquivocatingPrimary,
    "conflicting-voter": ConflictingVoter,
    "lying-view-changer": LyingViewChanger,
}
"""Faulty replica classes by name."""
