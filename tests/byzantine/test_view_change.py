"""View changes: silent primaries, growing timeouts, the new-view decision procedure."""

from __future__ import annotations

import msgspec
import pytest

from patterns.byzantine.checkers import AgreementChecker
from patterns.byzantine.events import NewViewEntered, ViewChangeStarted
from patterns.byzantine.messages import NULL_DIGEST, Decision, SlotClaim, ViewChange
from patterns.byzantine.viewchange import decide
from patterns.net.faults import ByzantineBehavior, ByzantineKind, ByzantineNode, FaultPlan
from tests.byzantine.helpers import cluster, deliver, get, kv, put, run_ops
from tests.byzantine.scenarios import TEST_SETTINGS

SILENT = [ByzantineBehavior(ByzantineKind.SILENT)]


def test_a_silent_primary_is_replaced_and_requests_complete() -> None:
    plan = FaultPlan(seed=11, byzantine=[ByzantineNode(0, SILENT)])
    checker = AgreementChecker(faulty=[0])
    c = cluster(plan=plan, checkers=[checker])
    res = run_ops(c, c.clients[0], [put("k", "a"), get("k")], max_time=10.0)
    assert [kv(r).value for r in res] == [None, "a"]
    for r in (1, 2, 3):
        assert c.replica(r).view == 1 and c.replica(r).primary == 1
    entered = [e for _, n, e in c.sim.events if isinstance(e, NewViewEntered) and n != 0]
    assert {e.view for e in entered} == {1}
    assert c.client(c.clients[0]).view == 1  # the client learned the view from the replies
    assert checker.batches_checked >= 6


def test_timeouts_grow_across_consecutive_view_changes() -> None:
    # f=2: the primaries of views 0 and 1 are both silent
    plan = FaultPlan(seed=12, byzantine=[ByzantineNode(0, SILENT), ByzantineNode(1, SILENT)])
    c = cluster(f=2, plan=plan)
    (res,) = run_ops(c, c.clients[0], [put("k", "v")], max_time=20.0)
    assert kv(res).value is None
    starts = {
        e.new_view: t for t, n, e in c.sim.events if n == 2 and isinstance(e, ViewChangeStarted)
    }
    assert sorted(starts) == [1, 2]
    base = TEST_SETTINGS.view_change_timeout_s
    # view 1 never starts: its view-change timer (base * 2^0) runs out, then view 2 starts
    assert starts[2] - starts[1] >= base
    assert c.replica(2).view == 2 and c.replica(2).vc_attempts == 0  # reset by progress
    rep = c.replica(3)
    rep.vc_attempts = 3
    assert rep.timeout_s == min(base * 8, TEST_SETTINGS.view_change_timeout_max_s)


def _vc(
    replica: int, prepared: list[tuple[int, int, bytes]], pre: list[tuple[int, int, bytes]]
) -> ViewChange:
    return ViewChange(
        2,
        0,
        b"",
        (),
        tuple(SlotClaim(s, v, d) for s, v, d in prepared),
        tuple(SlotClaim(s, v, d) for s, v, d in pre),
        (),
        replica,
        b"",
    )


A = b"a" * 32
B = b"b" * 32


def test_decision_carries_a_prepared_batch_into_the_new_view() -> None:
    vcs = [_vc(0, [(1, 0, A)], [(1, 0, A)]), _vc(1, [(1, 0, A)], [(1, 0, A)]), _vc(2, [], [])]
    plan = decide(vcs, 1, 8)
    assert plan is not None and plan.decisions == (Decision(1, A),)


def test_decision_fills_gaps_with_the_null_batch() -> None:
    vcs = [_vc(0, [(2, 0, A)], [(2, 0, A)]), _vc(1, [(2, 0, A)], [(2, 0, A)]), _vc(2, [], [])]
    plan = decide(vcs, 1, 8)
    assert plan is not None and plan.decisions == (Decision(1, NULL_DIGEST), Decision(2, A))


def test_decision_prefers_the_later_view() -> None:
    vcs = [
        _vc(0, [(1, 1, B)], [(1, 0, A), (1, 1, B)]),
        _vc(1, [(1, 1, B)], [(1, 1, B)]),
        _vc(2, [(1, 0, A)], [(1, 0, A)]),
    ]
    plan = decide(vcs, 1, 8)
    assert plan is not None and plan.decisions == (Decision(1, B),)


def test_condition_a2_keeps_a_lie_about_a_later_view_out() -> None:
    # A committed in view 0 (three replicas prepared it); replica 3 lies that it
    # prepared the null batch in view 1. Without A2 the lie would win (it is the
    # latest view and nobody's entry contradicts it).
    honest = [_vc(r, [(1, 0, A)], [(1, 0, A)]) for r in (0, 1, 2)]
    liar = _vc(3, [(1, 1, NULL_DIGEST)], [(1, 1, NULL_DIGEST)])
    plan = decide([*honest, liar], 1, 8)
    assert plan is not None and plan.decisions == (Decision(1, A),)
    # with only 2f+1 view changes, one of them the liar's, the primary must wait
    assert decide([*honest[:2], liar], 1, 8) is None


def test_decision_waits_when_nothing_is_decided_yet() -> None:
    vcs = [_vc(0, [(1, 0, A)], [(1, 0, A)]), _vc(1, [], []), _vc(2, [], [])]
    assert decide(vcs[:2], 1, 8) is None  # fewer than 2f+1
    plan = decide(vcs, 1, 8)
    # A1 holds for A but A2 needs f+1 pre-prepare claims: only one; null needs 2f+1 without
    # a prepared entry: only two. Undecided.
    assert plan is None


def test_a_new_view_with_doctored_decisions_is_rejected() -> None:
    plan = FaultPlan(seed=13, byzantine=[ByzantineNode(0, SILENT)])
    c = cluster(plan=plan)
    run_ops(c, c.clients[0], [put("k", "a")], max_time=10.0)
    nv = c.replica(1).new_view_msg
    assert nv is not None and nv.view == 1
    c.sim.call(3, lambda node, now: setattr(node, "view", 0))
    rep3 = c.replica(3)
    from patterns.byzantine.replica import Mode

    rep3.mode = Mode.NORMAL
    doctored = msgspec.structs.replace(nv, decisions=(Decision(99, A),))
    before = rep3.rejected["bad_signature"]
    deliver(c, 3, 1, doctored)
    assert rep3.rejected["bad_signature"] == before + 1  # the primary's signature covers O
    unsigned = msgspec.structs.replace(nv, replica=2)
    deliver(c, 3, 2, unsigned)
    assert rep3.rejected["bad_sender"] >= 1  # replica 2 is not the primary of view 1
    deliver(c, 3, 1, nv)
    assert rep3.view == 1 and rep3.mode is Mode.NORMAL


def test_f_plus_one_view_changes_make_a_replica_join() -> None:
    c = cluster()
    run_ops(c, c.clients[0], [put("k", "a")])
    for r in (1, 2):
        c.sim.call(r, lambda node, now: node._start_view_change(1, now))
    c.sim.run(max_time=c.sim.now + 1.0)
    for r in range(4):
        assert c.replica(r).view == 1
    (res,) = run_ops(c, c.clients[0], [get("k")])
    assert kv(res).value == "a"


@pytest.mark.parametrize("f", [1, 2])
def test_view_change_while_slots_are_in_flight_keeps_them(f: int) -> None:
    plan = FaultPlan(
        seed=14 + f,
        loss=0.1,
        byzantine=[ByzantineNode(0, [ByzantineBehavior(ByzantineKind.DROP, 0.5)])],
    )
    checker = AgreementChecker(faulty=[0])
    c = cluster(f=f, clients=3, plan=plan, checkers=[checker])
    for cid in c.clients:
        for i in range(3):
            c.submit(cid, put(f"k{cid}", str(i)))
    assert c.run_until_done(30.0).reached
    for cid in c.clients:
        assert [kv(r).value for r in c.client(cid).results] == [None, "0", "1"]
