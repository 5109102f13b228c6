"""A replica authenticates a message before it changes any state or answers (issue 24, point 5).

Each forged message below (a future-view prepare, pre-prepare and commit, a commit for a
new sequence number, a stale view change) is handed straight to a replica; nothing of its
state may change and it may send nothing back.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from patterns.byzantine.messages import Commit, Prepare, PrePrepare, ViewChange
from patterns.byzantine.replica import Replica
from tests.byzantine.helpers import cluster, put, run_ops

FORGED_MAC = (b"\x00" * 32,) * 4
FORGED_SIG = b"\x01" * 64
DIGEST = hashlib.sha256(b"forged").digest()


def _state(r: Replica) -> dict[str, Any]:
    return {
        "slots": sorted(r.slots),
        "early": len(r.early),
        "commits": {s: dict(slot.commit_votes) for s, slot in r.slots.items()},
        "vc": {v: sorted(by) for v, by in r.vc_msgs.items()},
        "view": r.view,
        "low": r.low,
    }


def _forged(r: Replica) -> list[tuple[str, Any]]:
    v, nxt = r.view, r.low + 1
    return [
        ("prepare of a future view", Prepare(v + 1, nxt, DIGEST, 2, FORGED_MAC)),
        ("pre-prepare of a future view", PrePrepare(v + 1, nxt, DIGEST, (), FORGED_MAC)),
        ("commit of a future view", Commit(v + 1, nxt, DIGEST, 2, FORGED_SIG)),
        ("commit for a new sequence number", Commit(v, nxt + 1, DIGEST, 2, FORGED_SIG)),
        (
            "stale view change",
            ViewChange(
                new_view=v,
                stable_seq=0,
                stable_digest=b"",
                checkpoint_proof=(),
                prepared=(),
                preprepared=(),
                committed=(),
                replica=2,
                signature=FORGED_SIG,
            ),
        ),
    ]


@pytest.mark.parametrize("which", range(5))
def test_a_forged_message_changes_nothing_and_gets_no_reply(which: int) -> None:
    c = cluster(f=1)
    run_ops(
        c, c.clients[0], [put("a", "1")]
    )  # view 0, a new-view message is known for stale helpers
    target: Replica = c.replica(1)
    name, msg = _forged(target)[which]
    before = _state(target)
    sent: list[Any] = []

    def receive(node: Replica, now: float) -> None:
        node.on_message(2, msg, now)
        sent.extend(node._outbox)
        node._outbox.clear()

    c.sim.call(1, receive)
    assert _state(target) == before, name
    assert sent == [], name
    assert sum(target.rejected.values()) >= 1, name
