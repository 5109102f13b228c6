"""Standalone verification of PBFT proofs with only the replicas' public keys.

A commit certificate (2f+1 Ed25519-signed commits for one view, sequence
number and batch digest) proves the batch committed: correct replicas only
commit a batch they prepared, and two batches cannot both prepare at one
sequence number (OSDI section 4.2, the invariant of the commit phase). A
checkpoint proof (2f+1 signed checkpoints) proves the state digest at a
sequence number (OSDI section 4.3). Neither needs anything but the public keys,
so an auditor outside the cluster can check a replica's committed log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from patterns.byzantine.exceptions import CertificateError
from patterns.byzantine.messages import (
    Checkpoint,
    CommitCertificate,
    Request,
    checkpoint_payload,
    commit_payload,
    digest_of_request_digests,
    request_digest,
)
from patterns.core.keys import VerifyKey

Verify = Callable[[int, bytes, bytes], bool]
"""``verify(replica, payload, signature) -> bool``."""


def faults_tolerated(replicas: int) -> int:
    """f for a cluster of ``replicas`` replicas (n = 3f+1)."""
    return (replicas - 1) // 3


def key_verifier(verify_keys: Sequence[VerifyKey]) -> Verify:
    """A ``verify`` function over the replicas' public keys, by replica id."""
    keys = tuple(verify_keys)

    def verify(replica: int, payload: bytes, signature: bytes) -> bool:
        return 0 <= replica < len(keys) and keys[replica].verify(payload, signature)

    return verify


def check_commit_certificate(cert: CommitCertificate, verify: Verify, quorum: int) -> None:
    """Check ``cert`` with a ``verify`` function (replicas use their signature cache).

    Raises:
        CertificateError: the batch digest does not match the request digests,
            fewer than ``quorum`` distinct replicas signed, or a signature is invalid.
    """
    if digest_of_request_digests(cert.request_digests) != cert.digest:
        raise CertificateError(f"seq {cert.seq}: request digests do not hash to the batch digest")
    check_commit_signatures(cert, verify, quorum)


def check_commit_signatures(cert: CommitCertificate, verify: Verify, quorum: int) -> None:
    """Check only the commit signatures of ``cert`` (not its request digests).

    Raises:
        CertificateError: fewer than ``quorum`` distinct replicas signed, or a signature
            is invalid.
    """
    signers: set[int] = set()
    for sig in cert.signatures:
        if sig.replica in signers:
            raise CertificateError(f"seq {cert.seq}: replica {sig.replica} signed twice")
        if not verify(
            sig.replica,
            commit_payload(cert.view, cert.seq, cert.digest, sig.replica),
            sig.signature,
        ):
            raise CertificateError(f"seq {cert.seq}: invalid commit signature of {sig.replica}")
        signers.add(sig.replica)
    if len(signers) < quorum:
        raise CertificateError(
            f"seq {cert.seq}: {len(signers)} commit signatures, a certificate needs {quorum}"
        )


def verify_commit_certificate(
    cert: CommitCertificate,
    verify_keys: Sequence[VerifyKey],
    *,
    request: Request | bytes | None = None,
) -> None:
    """Check a commit certificate with only the replicas' public keys.

    Args:
        cert: the certificate.
        verify_keys: the Ed25519 public key of every replica, by replica id
            (their number fixes n, hence f and the quorum 2f+1).
        request: optionally a request (or its digest) that must be in the batch.

    Raises:
        CertificateError: it does not prove what it claims.
    """
    n = len(verify_keys)
    check_commit_certificate(cert, key_verifier(verify_keys), 2 * faults_tolerated(n) + 1)
    if request is not None:
        wanted = request if isinstance(request, bytes) else request_digest(request)
        if wanted not in cert.request_digests:
            raise CertificateError(f"seq {cert.seq}: the request is not in the committed batch")


def check_checkpoint_proof(
    seq: int, state_digest: bytes, proof: Sequence[Checkpoint], verify: Verify, quorum: int
) -> None:
    """Check that ``proof`` holds ``quorum`` signed checkpoints of ``(seq, state_digest)``.

    Raises:
        CertificateError: too few distinct signers, a mismatch or a bad signature.
    """
    signers: set[int] = set()
    for cp in proof:
        if cp.seq != seq or cp.state_digest != state_digest:
            raise CertificateError(f"checkpoint proof of {seq} holds a checkpoint of {cp.seq}")
        if cp.replica in signers:
            raise CertificateError(f"checkpoint proof of {seq}: replica {cp.replica} twice")
        if not verify(cp.replica, checkpoint_payload(seq, state_digest, cp.replica), cp.signature):
            raise CertificateError(f"checkpoint proof of {seq}: bad signature of {cp.replica}")
        signers.add(cp.replica)
    if len(signers) < quorum:
        raise CertificateError(
            f"checkpoint proof of {seq}: {len(signers)} signers, a proof needs {quorum}"
        )


def verify_checkpoint_proof(
    seq: int, state_digest: bytes, proof: Sequence[Checkpoint], verify_keys: Sequence[VerifyKey]
) -> None:
    """Check a stable-checkpoint proof with only the replicas' public keys.

    Raises:
        CertificateError: it does not prove the state digest at ``seq``.
    """
    n = len(verify_keys)
    check_checkpoint_proof(
        seq, state_digest, proof, key_verifier(verify_keys), 2 * faults_tolerated(n) + 1
    )


def verify_audit_log(
    certificates: Sequence[CommitCertificate], verify_keys: Sequence[VerifyKey]
) -> int:
    """Check a replica's committed log: every certificate valid, sequence numbers increasing.

    Returns:
        The number of certificates checked.

    Raises:
        CertificateError: the first certificate that fails, or a sequence number out of order.
    """
    last = 0
    for cert in certificates:
        if cert.seq <= last:
            raise CertificateError(f"audit log out of order: {cert.seq} after {last}")
        verify_commit_certificate(cert, verify_keys)
        last = cert.seq
    return len(certificates)
