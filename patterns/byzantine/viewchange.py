"""The new-view decision procedure: which batch each slot carries into the new view.

This is the procedure of Castro and Liskov's TOCS paper (2002) for BFT without
signatures ("the decision procedure"), which lets view-change messages carry the sender's own
*claims* (its P and Q sets) instead of prepared certificates made of MACs
that a third party could not check. The view-change messages themselves are
Ed25519-signed here, so the new primary can include them in its NEW-VIEW
and every backup recomputes the same decisions from them.

For each slot ``n`` above the highest stable checkpoint in the set S of view
changes, batch ``d`` prepared in view ``v`` is chosen if

* A1: at least 2f+1 messages in S have, for ``n``, no prepared entry, or one
  from a view below ``v``, or exactly ``(d, v)``; and
* A2: at least f+1 messages in S claim to have pre-prepared ``d`` at ``n``
  in a view ``>= v``;

otherwise the null batch is chosen if at least 2f+1 messages in S have no
prepared entry for ``n``. If neither holds the primary waits for more view
changes. A batch that committed at a correct replica is always chosen: the
f+1 correct replicas that prepared it are represented in every 2f+1 subset.

Extension: a view change may carry commit proofs (2f+1 signed commits, checked
when the view change is validated). A slot with a proof takes the proven
batch before the rules above: it committed, so nothing else can be chosen, and
a replica that lost its state and caught up from certificates (so has no P
entry) still carries it into the new view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patterns.byzantine.messages import (
    NULL_DIGEST,
    Checkpoint,
    Decision,
    SlotClaim,
    ViewChange,
)


@dataclass(frozen=True)
class NewViewPlan:
    """What a new view starts from.

    Attributes:
        stable_seq: min-s, the highest stable checkpoint in the view changes.
        stable_digest: its state digest.
        proof: its checkpoint proof.
        decisions: one decision per slot in ``(stable_seq, max-s]``.
    """

    stable_seq: int
    stable_digest: bytes
    proof: tuple[Checkpoint, ...]
    decisions: tuple[Decision, ...]

    @property
    def max_seq(self) -> int:
        """max-s: the last slot the new view re-proposes."""
        return self.decisions[-1].seq if self.decisions else self.stable_seq

    def needed_digests(self) -> set[bytes]:
        """Digests of the non-null batches decided (their bodies must be known)."""
        return {d.digest for d in self.decisions if d.digest != NULL_DIGEST}


def decide(view_changes: Sequence[ViewChange], f: int, window: int) -> NewViewPlan | None:
    """Run the decision procedure over validated view changes for one view.

    Args:
        view_changes: at least 2f+1 valid view changes from distinct replicas.
        f: faults tolerated.
        window: the watermark window L (slots above min-s considered).

    Returns:
        The plan, or None if some slot cannot be decided yet (wait for more).
    """
    quorum = 2 * f + 1
    if len(view_changes) < quorum:
        return None
    base = max(view_changes, key=lambda vc: (vc.stable_seq, -vc.replica))
    min_s = base.stable_seq
    top = min_s + window
    prepared: list[dict[int, SlotClaim]] = []
    preprepared: list[dict[int, dict[bytes, int]]] = []
    proven: dict[int, bytes] = {}
    max_s = min_s
    for vc in view_changes:
        for proof in vc.committed:
            if min_s < proof.seq <= top:
                proven.setdefault(proof.seq, proof.digest)
                max_s = max(max_s, proof.seq)
        p: dict[int, SlotClaim] = {}
        for claim in vc.prepared:
            if min_s < claim.seq <= top:
                p[claim.seq] = claim
                max_s = max(max_s, claim.seq)
        prepared.append(p)
        q: dict[int, dict[bytes, int]] = {}
        for claim in vc.preprepared:
            if min_s < claim.seq <= top:
                views = q.setdefault(claim.seq, {})
                views[claim.digest] = max(views.get(claim.digest, -1), claim.view)
        preprepared.append(q)
    decisions: list[Decision] = []
    for n in range(min_s + 1, max_s + 1):
        chosen = proven.get(n) or _decide_slot(n, prepared, preprepared, f)
        if chosen is None:
            return None
        decisions.append(Decision(n, chosen))
    return NewViewPlan(min_s, base.stable_digest, base.checkpoint_proof, tuple(decisions))


def _decide_slot(
    n: int,
    prepared: list[dict[int, SlotClaim]],
    preprepared: list[dict[int, dict[bytes, int]]],
    f: int,
) -> bytes | None:
    quorum = 2 * f + 1
    candidates = {(c.view, c.digest) for p in prepared if (c := p.get(n)) is not None}
    for view, digest in sorted(candidates, reverse=True):
        a1 = 0
        for p in prepared:
            c = p.get(n)
            if c is None or c.view < view or (c.view == view and c.digest == digest):
                a1 += 1
        if a1 < quorum:
            continue
        a2 = sum(1 for q in preprepared if q.get(n, {}).get(digest, -1) >= view)
        if a2 >= f + 1:
            return digest
    if sum(1 for p in prepared if n not in p) >= quorum:
        return NULL_DIGEST
    return None
