"""Invariant checkers of PBFT runs (observe only): agreement, linearizability, liveness.

They follow :mod:`patterns.net.checkers`: they watch replica and client events
and raise :class:`~patterns.net.checkers.InvariantViolation`; they never
change what happens, and the fault injectors never check anything.

* :class:`AgreementChecker` (safety): no two correct replicas execute different
  batches at one sequence number, no correct replica executes one request
  twice, and correct replicas' checkpoints at one sequence number agree.
* :class:`LinearizabilityChecker` (safety): the key-value history the clients
  observed is linearizable, checked per key (single-key reads and writes) by
  a Wing-Gong search that does not trust the replicas' order.
* :class:`LivenessChecker`: once faults stop, every request completes within
  a stated virtual-time bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import msgspec

from patterns.byzantine.events import (
    BatchExecuted,
    CheckpointTaken,
    ReplyAccepted,
    RequestSent,
    StateInstalled,
)
from patterns.byzantine.state_machine import (
    CompareAndSet,
    Delete,
    Get,
    KvOp,
    KvResult,
    Put,
    decode_op,
    decode_result,
)
from patterns.core.ids import NodeId
from patterns.net.checkers import BaseChecker, InvariantViolation
from patterns.net.node import Event

if TYPE_CHECKING:
    from patterns.net.sim import Simulator

MAX_OPS_PER_KEY = 64  # the per-key search is exponential in the worst case


class AgreementChecker(BaseChecker):
    """Safety of the replicated log among correct replicas.

    Args:
        faulty: replicas whose own events are not trusted (Byzantine implementations).
    """

    def __init__(self, faulty: Iterable[NodeId] = ()) -> None:
        self.faulty = frozenset(faulty)
        self.executed: dict[int, tuple[bytes, NodeId]] = {}
        self.executions: dict[NodeId, dict[tuple[int, int], int]] = {}
        self.checkpoints: dict[int, tuple[bytes, NodeId]] = {}
        self.batches_checked = 0

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """Check each executed batch and checkpoint against the others."""
        if node in self.faulty:
            return
        if isinstance(event, BatchExecuted):
            self.batches_checked += 1
            first = self.executed.setdefault(event.seq, (event.digest, node))
            if first[0] != event.digest:
                raise InvariantViolation(
                    f"t={t:.4f}: replicas {first[1]} and {node} executed different batches "
                    f"at seq {event.seq} ({first[0].hex()[:12]} vs {event.digest.hex()[:12]})"
                )
            mine = self.executions.setdefault(node, {})
            for req in event.requests:
                key = (req.client, req.timestamp)
                seen = mine.setdefault(key, event.seq)
                if seen != event.seq:
                    raise InvariantViolation(
                        f"t={t:.4f}: replica {node} executed request {key} twice "
                        f"(seq {seen} and {event.seq})"
                    )
        elif isinstance(event, CheckpointTaken | StateInstalled):
            first = self.checkpoints.setdefault(event.seq, (event.state_digest, node))
            if first[0] != event.state_digest:
                raise InvariantViolation(
                    f"t={t:.4f}: replicas {first[1]} and {node} disagree on the state "
                    f"at checkpoint {event.seq}"
                )


@dataclass
class _Op:
    client: int
    timestamp: int
    invoke: float
    op: KvOp
    response: float = math.inf
    result: KvResult | None = None


class LinearizabilityChecker(BaseChecker):
    """The clients' key-value history is linearizable (per key, Wing and Gong 1993).

    Operations that never completed may or may not have taken effect. Operations
    that are not key-value operations are ignored.
    """

    def __init__(self) -> None:
        self.ops: dict[tuple[int, int], _Op] = {}
        self.completed = 0

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """Record invocations and responses."""
        if isinstance(event, RequestSent):
            try:
                op = decode_op(event.op)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            self.ops[(event.client, event.timestamp)] = _Op(event.client, event.timestamp, t, op)
        elif isinstance(event, ReplyAccepted):
            rec = self.ops.get((event.client, event.timestamp))
            if rec is None:
                return
            rec.response = t
            rec.result = decode_result(event.result)
            self.completed += 1

    def at_end(self, sim: Simulator) -> None:
        """Check the whole history."""
        self.check()

    def check(self) -> None:
        """Raise :class:`InvariantViolation` naming the first key whose history is not linearizable."""
        by_key: dict[str, list[_Op]] = {}
        for rec in self.ops.values():
            by_key.setdefault(rec.op.key, []).append(rec)
        for key, ops in sorted(by_key.items()):
            if len(ops) > MAX_OPS_PER_KEY:
                raise InvariantViolation(f"key {key!r}: {len(ops)} operations, too many to check")
            if not _linearizable(ops):
                lines = "; ".join(
                    f"c{o.client}@[{o.invoke:.4f},{o.response:.4f}] {o.op!r} -> {o.result!r}"
                    for o in sorted(ops, key=lambda o: o.invoke)
                )
                raise InvariantViolation(f"key {key!r}: history not linearizable: {lines}")


def apply_kv(state: str | None, op: KvOp) -> tuple[str | None, KvResult]:
    """The single-copy model of one key: new value and the result ``op`` must return."""
    if isinstance(op, Get):
        return state, KvResult(True, state)
    if isinstance(op, Put):
        return op.value, KvResult(True, state)
    if isinstance(op, Delete):
        return None, KvResult(True, state)
    assert isinstance(op, CompareAndSet)
    if state == op.expected:
        return op.value, KvResult(True, state)
    return state, KvResult(False, state)


def _linearizable(ops: list[_Op]) -> bool:
    n = len(ops)
    invoke = [o.invoke for o in ops]
    response = [o.response for o in ops]
    done_mask = sum(1 << i for i, o in enumerate(ops) if o.result is not None)

    @cache
    def search(remaining: int, state: str | None) -> bool:
        if not remaining & done_mask:
            return True
        horizon = min(response[i] for i in range(n) if remaining >> i & 1 and done_mask >> i & 1)
        for i in range(n):
            if not remaining >> i & 1 or (invoke[i] >= horizon and response[i] != horizon):
                continue
            new_state, expected = apply_kv(state, ops[i].op)
            got = ops[i].result
            if got is not None and (got.ok, got.value) != (expected.ok, expected.value):
                continue
            if search(remaining & ~(1 << i), new_state):
                return True
        return False

    return search((1 << n) - 1, None)


class LivenessChecker(BaseChecker):
    """Every request completes within ``bound_s`` of the later of its sending and ``faults_end_s``.

    Args:
        faults_end_s: virtual time after which no fault is injected.
        bound_s: the stated bound, virtual seconds.
    """

    def __init__(self, faults_end_s: float, bound_s: float) -> None:
        self.faults_end_s = faults_end_s
        self.bound_s = bound_s
        self.sent: dict[tuple[int, int], float] = {}
        self.done: dict[tuple[int, int], float] = {}

    def on_event(self, t: float, node: NodeId, event: Event) -> None:
        """Record request and reply times."""
        if isinstance(event, RequestSent):
            self.sent[(event.client, event.timestamp)] = t
        elif isinstance(event, ReplyAccepted):
            self.done[(event.client, event.timestamp)] = t

    def deadline(self, sent_at: float) -> float:
        """When a request sent at ``sent_at`` must have completed."""
        return max(sent_at, self.faults_end_s) + self.bound_s

    def at_end(self, sim: Simulator) -> None:
        """Fail on a request that completed late, or is still open past its deadline."""
        for key, sent_at in sorted(self.sent.items()):
            deadline = self.deadline(sent_at)
            done_at = self.done.get(key)
            if done_at is not None and done_at > deadline:
                raise InvariantViolation(
                    f"request {key} sent at {sent_at:.3f} completed at {done_at:.3f}, "
                    f"after its deadline {deadline:.3f}"
                )
            if done_at is None and sim.now >= deadline:
                raise InvariantViolation(
                    f"request {key} sent at {sent_at:.3f} not completed by {sim.now:.3f} "
                    f"(deadline {deadline:.3f})"
                )
