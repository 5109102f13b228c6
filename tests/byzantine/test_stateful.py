"""Hypothesis stateful test: clients and faults driven against a single-copy key-value model.

Rules submit operations (alone, or two clients concurrently), crash and
restart replicas, cut one replica off and heal, and let time pass; at most f
replicas are faulty (crashed or cut off) at once. A replica that restarts
comes back without its state, so it stays faulty until it has caught up with
the others (from commit certificates or a checkpoint); only then may another
replica crash. After every step the agreement
checker has seen nothing wrong, and every completed operation returned what
the single-copy model returns when the operations are applied in the
cluster's commit order (concurrent operations may commit in either order;
sequential ones must commit in real-time order).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from patterns.byzantine.checkers import AgreementChecker, apply_kv
from patterns.byzantine.client import CommittedResult
from patterns.byzantine.simulation import sim_cluster
from patterns.byzantine.state_machine import (
    CompareAndSet,
    Delete,
    Get,
    KvOp,
    Put,
    decode_op,
    decode_result,
    encode_op,
)
from patterns.net.faults import FaultPlan
from tests.byzantine.scenarios import TEST_SETTINGS, liveness_bound_s

F = 1
KEYS = ("a", "b")
ops = st.one_of(
    st.builds(Put, st.sampled_from(KEYS), st.sampled_from(("x", "y", "z"))),
    st.builds(Get, st.sampled_from(KEYS)),
    st.builds(Delete, st.sampled_from(KEYS)),
    st.builds(CompareAndSet, st.sampled_from(KEYS), st.sampled_from((None, "x")), st.just("w")),
)


class PbftAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.agreement = AgreementChecker()
        self.cluster = sim_cluster(
            F, 2, FaultPlan(seed=7, loss=0.02), settings=TEST_SETTINGS, checkers=[self.agreement]
        )
        self.model: dict[str, str | None] = dict.fromkeys(KEYS)
        self.crashed: set[int] = set()
        self.cut: int | None = None
        self.partition: object = None
        self.last_seq = 0

    @property
    def faulty(self) -> int:
        return len(self.crashed) + (self.cut is not None)

    def _run_until_done(self) -> None:
        c = self.cluster
        result = c.run_until_done(c.sim.now + liveness_bound_s(F) + 2.0)
        assert result.reached, result.describe()

    def _position(self, res: CommittedResult) -> tuple[int, int]:
        """Where ``res`` committed: its sequence number and its place in the batch."""
        certs = [res.certificate] if res.certificate is not None else []
        for r in range(3 * F + 1):
            if r in self.cluster.sim.alive:
                certs += [cert for cert, _ in self.cluster.replica(r).audit if cert.seq == res.seq]
        for cert in certs:
            if cert.seq == res.seq and res.request_digest in cert.request_digests:
                return res.seq, cert.request_digests.index(res.request_digest)
        raise AssertionError(f"no certificate of seq {res.seq} holds the request")

    def _check(self, done: list[CommittedResult]) -> None:
        """Apply the completed operations in commit order to the model; results must match."""
        done = sorted(done, key=self._position)
        assert not done or done[0].seq > self.last_seq  # real-time order is respected
        for res in done:
            op: KvOp = decode_op(res.op)
            value, expected = apply_kv(self.model[op.key], op)
            got = decode_result(res.result)
            assert (got.ok, got.value) == (expected.ok, expected.value), (op, got, expected)
            self.model[op.key] = value
        self.last_seq = max([self.last_seq, *(r.seq for r in done)])

    @rule(op=ops, client=st.sampled_from((0, 1)))
    def submit(self, op: KvOp, client: int) -> None:
        cid = self.cluster.clients[client]
        before = len(self.cluster.client(cid).completed)
        self.cluster.submit(cid, encode_op(op), want_certificate=True)
        self._run_until_done()
        self._check(self.cluster.client(cid).results[before:])

    @rule(first=ops, second=ops)
    def submit_concurrently(self, first: KvOp, second: KvOp) -> None:
        c = self.cluster
        a, b = c.clients
        before = (len(c.client(a).completed), len(c.client(b).completed))
        c.submit(a, encode_op(first), want_certificate=True)
        c.submit(b, encode_op(second), want_certificate=True)
        self._run_until_done()
        done = c.client(a).results[before[0] :] + c.client(b).results[before[1] :]
        assert len(done) == 2
        self._check(done)

    def _alive_replicas(self) -> list[int]:
        return [r for r in range(3 * F + 1) if r in self.cluster.sim.alive]

    def _settle(self) -> None:
        """Let every live replica execute the same prefix (bounded wait)."""
        c = self.cluster
        c.sim.run(
            until=lambda s: len({c.replica(r).last_executed for r in self._alive_replicas()}) == 1,
            max_time=c.sim.now + 5.0,
        )

    @precondition(lambda self: self.faulty < F)
    @rule(replica=st.integers(0, 3 * F))
    def crash(self, replica: int) -> None:
        if replica in self.crashed or replica == self.cut:
            return
        self._settle()
        self.cluster.sim.crash(replica)
        self.crashed.add(replica)

    @precondition(lambda self: bool(self.crashed))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        replica = data.draw(st.sampled_from(sorted(self.crashed)))
        c = self.cluster
        c.sim.restart(replica)
        # a restarted replica has no state: it stays faulty until it has caught up
        caught_up = c.sim.run(
            until=lambda s: (
                c.replica(replica).last_executed
                >= max(c.replica(r).last_executed for r in self._alive_replicas())
            ),
            max_time=c.sim.now + liveness_bound_s(F),
        )
        assert caught_up.reached, caught_up.describe()
        self.crashed.discard(replica)

    @precondition(lambda self: self.faulty < F)
    @rule(replica=st.integers(0, 3 * F))
    def cut_off(self, replica: int) -> None:
        if replica in self.crashed:
            return
        others = [n for n in self.cluster.sim.node_ids if n != replica]
        self.partition = self.cluster.sim.partition([[replica], others])
        self.cut = replica

    @precondition(lambda self: self.cut is not None)
    @rule()
    def heal(self) -> None:
        self.cluster.sim.heal(self.partition)  # type: ignore[arg-type]
        self.cut = None

    @rule(seconds=st.floats(0.01, 1.0))
    def wait(self, seconds: float) -> None:
        self.cluster.sim.run(max_time=self.cluster.sim.now + seconds)

    @invariant()
    def correct_replicas_agree(self) -> None:
        # the agreement checker raises inside the simulator on a violation; here we
        # also check the correct replicas that executed the same prefix hold the same state
        alive = [r for r in range(3 * F + 1) if r in self.cluster.sim.alive]
        by_seq: dict[int, bytes] = {}
        for r in alive:
            rep = self.cluster.replica(r)
            digest = by_seq.setdefault(rep.last_executed, rep.state_digest)
            assert digest == rep.state_digest, f"replica {r} diverged at {rep.last_executed}"


PbftAgainstModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestPbftAgainstModel = PbftAgainstModel.TestCase
