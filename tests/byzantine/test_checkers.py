"""The invariant checkers catch violations (fed synthetic events, so each can fail)."""

from __future__ import annotations

import pytest

from patterns.byzantine.checkers import (
    AgreementChecker,
    LinearizabilityChecker,
    LivenessChecker,
    apply_kv,
)
from patterns.byzantine.events import (
    BatchExecuted,
    CheckpointTaken,
    ExecutedRequest,
    ReplyAccepted,
    RequestSent,
)
from patterns.byzantine.state_machine import (
    CompareAndSet,
    Delete,
    Get,
    KvOp,
    KvResult,
    Put,
    encode_op,
)
from patterns.net.checkers import InvariantViolation
from patterns.net.sim import Simulator


def _batch(replica: int, seq: int, digest: bytes, *reqs: tuple[int, int]) -> BatchExecuted:
    return BatchExecuted(
        replica, seq, 0, digest, tuple(ExecutedRequest(c, t, b"op", b"r") for c, t in reqs)
    )


def test_agreement_flags_two_batches_at_one_sequence_number() -> None:
    checker = AgreementChecker()
    checker.on_event(0.1, 0, _batch(0, 1, b"a" * 32, (10, 1)))
    checker.on_event(0.2, 1, _batch(1, 1, b"a" * 32, (10, 1)))
    with pytest.raises(InvariantViolation, match="different batches at seq 1"):
        checker.on_event(0.3, 2, _batch(2, 1, b"b" * 32, (10, 1)))


def test_agreement_ignores_declared_faulty_replicas() -> None:
    checker = AgreementChecker(faulty=[3])
    checker.on_event(0.1, 0, _batch(0, 1, b"a" * 32))
    checker.on_event(0.2, 3, _batch(3, 1, b"b" * 32))  # a Byzantine replica's own story
    assert checker.batches_checked == 1


def test_agreement_flags_a_request_executed_twice() -> None:
    checker = AgreementChecker()
    checker.on_event(0.1, 0, _batch(0, 1, b"a" * 32, (10, 5)))
    with pytest.raises(InvariantViolation, match="executed request"):
        checker.on_event(0.2, 0, _batch(0, 2, b"c" * 32, (10, 5)))


def test_agreement_flags_diverging_checkpoints() -> None:
    checker = AgreementChecker()
    checker.on_event(0.1, 0, CheckpointTaken(0, 4, b"x" * 32))
    with pytest.raises(InvariantViolation, match="checkpoint 4"):
        checker.on_event(0.2, 1, CheckpointTaken(1, 4, b"y" * 32))


def _history(
    checker: LinearizabilityChecker,
    ops: list[tuple[int, int, float, float | None, KvOp, KvResult | None]],
) -> None:
    events: list[tuple[float, RequestSent | ReplyAccepted]] = []
    for client, ts, start, end, op, result in ops:
        events.append((start, RequestSent(client, ts, encode_op(op))))
        if end is not None and result is not None:
            import msgspec

            res = msgspec.msgpack.encode(result)
            events.append((end, ReplyAccepted(client, ts, encode_op(op), res, 1, None)))
    for t, ev in sorted(events, key=lambda x: x[0]):
        checker.on_event(t, 0, ev)


def test_linearizability_accepts_concurrent_writes_in_either_order() -> None:
    checker = LinearizabilityChecker()
    _history(
        checker,
        [
            (1, 1, 0.0, 1.0, Put("k", "a"), KvResult(True, "b")),
            (2, 1, 0.1, 1.1, Put("k", "b"), KvResult(True, None)),
            (3, 1, 2.0, 3.0, Get("k"), KvResult(True, "a")),
        ],
    )
    checker.check()


def test_linearizability_rejects_a_stale_read() -> None:
    checker = LinearizabilityChecker()
    _history(
        checker,
        [
            (1, 1, 0.0, 1.0, Put("k", "a"), KvResult(True, None)),
            (2, 1, 2.0, 3.0, Get("k"), KvResult(True, None)),  # the write finished before
        ],
    )
    with pytest.raises(InvariantViolation, match="not linearizable"):
        checker.check()


def test_linearizability_lets_a_pending_write_take_effect_or_not() -> None:
    checker = LinearizabilityChecker()
    _history(
        checker,
        [
            (1, 1, 0.0, None, Put("k", "a"), None),
            (2, 1, 1.0, 2.0, Get("k"), KvResult(True, "a")),
            (2, 2, 3.0, 4.0, Delete("k"), KvResult(True, "a")),
            (3, 1, 5.0, 6.0, CompareAndSet("k", None, "z"), KvResult(True, None)),
        ],
    )
    checker.check()
    bad = LinearizabilityChecker()
    _history(bad, [(2, 1, 1.0, 2.0, Get("k"), KvResult(True, "never-written"))])
    with pytest.raises(InvariantViolation):
        bad.check()


def test_single_copy_model_follows_kv_semantics() -> None:
    assert apply_kv(None, Put("k", "v")) == ("v", KvResult(True, None))
    assert apply_kv("v", CompareAndSet("k", "w", "x")) == ("v", KvResult(False, "v"))
    assert apply_kv("v", CompareAndSet("k", "v", "x")) == ("x", KvResult(True, "v"))
    assert apply_kv("v", Delete("k")) == (None, KvResult(True, "v"))


class _FakeSim:
    def __init__(self, now: float) -> None:
        self.now = now


def test_liveness_flags_a_request_open_past_its_deadline() -> None:
    checker = LivenessChecker(faults_end_s=1.0, bound_s=2.0)
    checker.on_event(0.5, 4, RequestSent(4, 1, b"op"))
    checker.on_event(0.6, 5, RequestSent(5, 1, b"op"))
    checker.on_event(2.9, 5, ReplyAccepted(5, 1, b"op", b"r", 1, None))
    sim: Simulator = _FakeSim(2.5)  # type: ignore[assignment]
    checker.at_end(sim)  # request (4, 1) is still within its deadline of 3.0
    with pytest.raises(InvariantViolation, match=r"request \(4, 1\)"):
        checker.at_end(_FakeSim(3.5))  # type: ignore[arg-type]


def test_liveness_flags_a_late_completion() -> None:
    checker = LivenessChecker(faults_end_s=0.0, bound_s=1.0)
    checker.on_event(0.0, 4, RequestSent(4, 1, b"op"))
    checker.on_event(1.5, 4, ReplyAccepted(4, 1, b"op", b"r", 1, None))
    with pytest.raises(InvariantViolation, match="after its deadline"):
        checker.at_end(_FakeSim(2.0))  # type: ignore[arg-type]
