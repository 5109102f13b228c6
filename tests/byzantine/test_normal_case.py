"""Normal case: pre-prepare, prepare, commit, reply; batching, pipelining, certificates."""

from __future__ import annotations

import msgspec
import pytest

from patterns.byzantine.certificate import (
    verify_audit_log,
    verify_checkpoint_proof,
    verify_commit_certificate,
)
from patterns.byzantine.events import BatchExecuted
from patterns.byzantine.exceptions import CertificateError
from patterns.byzantine.messages import (
    NULL_DIGEST,
    Commit,
    CommitSignature,
    commit_payload,
    request_digest_of,
)
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import cluster_keys, sim_cluster
from patterns.net.faults import FaultPlan
from tests.byzantine.helpers import cluster, get, kv, put, run_ops
from tests.byzantine.scenarios import TEST_SETTINGS


def _executed(c: object) -> dict[int, list[BatchExecuted]]:
    out: dict[int, list[BatchExecuted]] = {}
    for _, node, ev in c.sim.events:  # type: ignore[attr-defined]
        if isinstance(ev, BatchExecuted):
            out.setdefault(node, []).append(ev)
    return out


@pytest.mark.parametrize("f", [1, 2])
def test_every_replica_executes_the_same_batches_and_clients_get_the_results(f: int) -> None:
    c = cluster(f=f, clients=2)
    a, b = c.clients
    res_a = run_ops(c, a, [put("x", "1"), get("x"), put("x", "2")])
    res_b = run_ops(c, b, [get("x"), put("y", "3")])
    assert [kv(r).value for r in res_a] == [None, "1", "1"]
    assert [kv(r).value for r in res_b] == ["2", None]
    logs = _executed(c)
    assert set(logs) == set(range(3 * f + 1))
    reference = [(e.seq, e.digest) for e in logs[0]]
    assert [e.seq for e in logs[0]] == list(range(1, len(reference) + 1))
    for evs in logs.values():
        assert [(e.seq, e.digest) for e in evs] == reference
    digests = {c.replica(r).state_digest for r in range(3 * f + 1)}
    assert len(digests) == 1


def test_requests_are_batched_up_to_the_size_and_delay_bounds() -> None:
    settings = TEST_SETTINGS.model_copy(
        update={"batch_max_requests": 3, "batch_delay_s": 0.02, "pipeline_depth": 1}
    )
    c = sim_cluster(1, 7, FaultPlan(seed=2), settings=settings)
    for cid in c.clients:  # seven clients, one request each, all at t=0
        c.submit(cid, put(f"k{cid}", "v"))
    assert c.run_until_done(10.0).reached
    sizes = [len(e.requests) for e in _executed(c)[0]]
    assert sum(sizes) == 7 and max(sizes) == 3


def test_a_lone_request_waits_at_most_the_batch_delay() -> None:
    settings = TEST_SETTINGS.model_copy(update={"batch_delay_s": 0.05, "batch_max_requests": 8})
    c = sim_cluster(1, 1, FaultPlan(seed=3), settings=settings)
    (res,) = run_ops(c, c.clients[0], [put("k", "v")])
    # latency 0.5..~5 ms per hop: the primary held the request for the 50 ms delay
    assert 0.05 <= res.done_at - res.sent_at < 0.2


def test_the_primary_pipelines_batches_within_the_watermarks() -> None:
    settings = TEST_SETTINGS.model_copy(
        update={
            "batch_max_requests": 1,
            "pipeline_depth": 3,
            "checkpoint_interval": 2,
            "watermark_window": 4,
        }
    )
    c = sim_cluster(1, 8, FaultPlan(seed=4), settings=settings)
    for cid in c.clients:
        c.submit(cid, put("k", str(cid)))
    primary = c.replica(0)
    in_flight: list[int] = []

    def sample(_: object) -> bool:
        in_flight.append(primary.next_seq - 1 - primary.last_executed)
        assert primary.next_seq - 1 <= primary.low + primary.window
        return c.done()

    assert c.sim.run(until=sample, max_time=10.0).reached
    assert max(in_flight) == 3  # several batches in flight at once, never more than the depth


def test_commit_certificates_verify_with_only_the_public_keys() -> None:
    c = cluster()
    cid = c.clients[0]
    c.submit(cid, put("k", "v"), want_certificate=True)
    c.submit(cid, get("k"), want_certificate=True)
    assert c.run_until_done(10.0).reached
    keys = c.config.verify_keys
    for res in c.client(cid).results:
        cert = res.certificate
        assert cert is not None and cert.seq == res.seq
        verify_commit_certificate(cert, keys, request=res.request_digest)
        assert res.request_digest == request_digest_of(cid, res.timestamp, res.op, True)
    cert = c.client(cid).results[0].certificate
    assert cert is not None
    bad_sig = CommitSignature(cert.signatures[0].replica, bytes(64))
    tampered = [
        msgspec.structs.replace(cert, signatures=cert.signatures[:2]),  # 2 < 2f+1
        msgspec.structs.replace(cert, signatures=(bad_sig, *cert.signatures[1:])),
        msgspec.structs.replace(cert, signatures=(cert.signatures[0],) * 3),  # one signer thrice
        msgspec.structs.replace(cert, seq=cert.seq + 1),
        msgspec.structs.replace(cert, request_digests=(b"\x00" * 32,)),
    ]
    for t in tampered:
        with pytest.raises(CertificateError):
            verify_commit_certificate(t, keys)
    with pytest.raises(CertificateError, match="not in the committed batch"):
        verify_commit_certificate(cert, keys, request=b"\x01" * 32)
    other = cluster_keys(1, (4,), 99)[0]
    with pytest.raises(CertificateError):
        verify_commit_certificate(cert, other.verify_keys)


def test_the_audit_trail_and_checkpoint_proofs_verify_standalone() -> None:
    c = cluster()
    run_ops(c, c.clients[0], [put("k", str(i)) for i in range(6)])
    rep = c.replica(2)
    assert verify_audit_log(rep.committed_log(), c.config.verify_keys) == rep.last_executed
    assert rep.low > 0
    verify_checkpoint_proof(rep.low, rep.stable_digest, rep.stable_proof, c.config.verify_keys)
    with pytest.raises(CertificateError):
        verify_checkpoint_proof(rep.low, b"\x00" * 32, rep.stable_proof, c.config.verify_keys)
    with pytest.raises(CertificateError):
        verify_audit_log(list(reversed(rep.committed_log())), c.config.verify_keys)


def test_settings_reject_a_window_that_is_not_a_multiple_of_the_interval() -> None:
    with pytest.raises(ValueError, match="multiple of checkpoint_interval"):
        ByzantineSettings(checkpoint_interval=4, watermark_window=6)
    with pytest.raises(ValueError):
        ByzantineSettings(f=-1)


def test_a_replica_commits_on_2f_plus_1_signed_commits_and_not_before() -> None:
    c = cluster(f=2)
    rep = c.replica(6)
    keys = cluster_keys(2, c.clients, 0)[1]
    body = ()  # the null batch: its body is known to everyone
    seq = rep.last_executed + 1
    c.sim.call(6, lambda node, now: node._slot(seq, now).bodies.__setitem__(NULL_DIGEST, body))
    for signer in range(4):  # 2f = 4 commits: not yet
        sk = keys[signer].signing_key
        assert sk is not None
        sig = sk.sign(commit_payload(0, seq, NULL_DIGEST, signer))
        c.sim.call(
            6,
            lambda node, now, s=signer, g=sig: node.receive(
                s, Commit(0, seq, NULL_DIGEST, s, g), now
            ),
        )
        assert rep.slots[seq].certificate is None
    sk = keys[4].signing_key
    assert sk is not None
    sig = sk.sign(commit_payload(0, seq, NULL_DIGEST, 4))
    c.sim.call(6, lambda node, now: node.receive(4, Commit(0, seq, NULL_DIGEST, 4, sig), now))
    assert rep.slots[seq].certificate is not None and rep.last_executed == seq
