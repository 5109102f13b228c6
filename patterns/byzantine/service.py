"""Entry points: commit operations through a PBFT cluster and get their proofs; serve replicas.

:func:`commit` is what the Prefect task calls: it submits operations to the
cluster of a cluster file, or to a local cluster it starts over QUIC on
loopback when none is given, and returns each result with its commit
certificate, checkable with :meth:`CommitReport.verify` (only public keys).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from patterns.byzantine.certificate import verify_commit_certificate
from patterns.byzantine.client import CommittedResult
from patterns.byzantine.clusterfile import ClusterFile
from patterns.byzantine.exceptions import CertificateError, RequestTooLargeError
from patterns.byzantine.local import DEFAULT_TIMEOUT_S, LocalCluster, run_client, stop_runtime
from patterns.byzantine.messages import pbft_codec
from patterns.byzantine.replica import Replica
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.state_machine import decode_result
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.core.keys import ClusterCA, VerifyKey
from patterns.core.settings import QuicSettings
from patterns.net.quic import QuicNodeRuntime


@dataclass(frozen=True)
class CommitReport:
    """Results of committed operations, with what is needed to check their certificates.

    Attributes:
        f: faults the cluster tolerates.
        results: one per operation, in submission order.
        verify_keys: the replicas' Ed25519 public keys (raw), by replica id.
        runtime: ``"local-quic"`` (a cluster started for the call) or ``"cluster-file"``.
        elapsed_s: wall time from the first submission to the last certified result.
    """

    f: int
    results: tuple[CommittedResult, ...]
    verify_keys: tuple[bytes, ...]
    runtime: str
    elapsed_s: float

    def verify(self) -> int:
        """Check every certificate with only the public keys; return how many were checked.

        Raises:
            CertificateError: a certificate is missing or does not prove its result's batch.
        """
        keys = [VerifyKey(k) for k in self.verify_keys]
        for res in self.results:
            if res.certificate is None:
                raise CertificateError(f"operation at seq {res.seq} has no certificate")
            verify_commit_certificate(res.certificate, keys, request=res.request_digest)
        return len(self.results)

    def rows(self) -> list[dict[str, object]]:
        """One plain row per operation, for tables and artifacts."""
        out: list[dict[str, object]] = []
        for res in self.results:
            cert = res.certificate
            try:
                shown: object = decode_result(res.result)
            except ValueError:
                shown = res.result.hex()
            out.append(
                {
                    "seq": res.seq,
                    "operation": _show_op(res.op),
                    "result": repr(shown),
                    "view": cert.view if cert else None,
                    "signers": ",".join(str(s.replica) for s in cert.signatures) if cert else "",
                    "batch_digest": cert.digest.hex()[:16] if cert else "",
                    "batch_size": len(cert.request_digests) if cert else 0,
                }
            )
        return out


def _show_op(op: bytes) -> str:
    from patterns.byzantine.state_machine import decode_op

    try:
        return repr(decode_op(op))
    except ValueError:
        return op.hex()


async def commit_async(
    ops: Sequence[bytes],
    *,
    cluster_file: str | os.PathLike[str] | None = None,
    client: NodeId | None = None,
    f: int = 1,
    settings: ByzantineSettings | None = None,
    quic_settings: QuicSettings | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CommitReport:
    """Commit ``ops`` in order and collect their results and commit certificates.

    Args:
        ops: encoded operations (e.g. :func:`~patterns.byzantine.state_machine.encode_op`).
        cluster_file: a cluster file to use; None starts a local 3f+1 cluster on loopback.
        client: the client id to use from the cluster file (its first client by default).
        f: faults tolerated by the local cluster.
        settings: protocol settings of the local cluster.
        quic_settings: QUIC settings.
        timeout_s: deadline for all results.

    Raises:
        RequestTooLargeError: an operation is too large.
        RequestTimeoutError: the results did not arrive in time (retryable).
        ConfigError: the cluster file is invalid.
    """
    limit = (settings or ByzantineSettings()).max_request_bytes
    for op in ops:  # refuse before starting anything
        if len(op) > limit:
            raise RequestTooLargeError(len(op), limit)
    started = time.perf_counter()
    if cluster_file is not None:
        cf = ClusterFile.load(cluster_file)
        cid = client if client is not None else min(cf.config.clients, default=None)
        if cid is None:
            raise ConfigError(f"cluster file {cf.path} declares no client")
        results = await run_client(
            cf.config,
            cf.node_keys(cid),
            cf.addresses,
            cf.certs_dir,
            ops,
            settings=cf.settings,
            quic_settings=quic_settings,
            timeout_s=timeout_s,
        )
        keys = tuple(k.raw for k in cf.config.verify_keys)
        return CommitReport(
            cf.config.f, tuple(results), keys, "cluster-file", time.perf_counter() - started
        )
    with tempfile.TemporaryDirectory(prefix="swarmkit-pbft-") as tmp:
        async with LocalCluster(
            Path(tmp) / "certs", f, settings=settings, quic_settings=quic_settings
        ) as local:
            started = time.perf_counter()
            results = await local.submit(ops, want_certificate=True, timeout_s=timeout_s)
            keys = tuple(k.raw for k in local.config.verify_keys)
            return CommitReport(
                f, tuple(results), keys, "local-quic", time.perf_counter() - started
            )


def commit(ops: Sequence[bytes], **kwargs: object) -> CommitReport:
    """Synchronous :func:`commit_async` (runs its own event loop).

    Raises:
        ConfigError: called from a running event loop (await :func:`commit_async` there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(commit_async(ops, **kwargs))  # type: ignore[arg-type]
    raise ConfigError("commit() called inside a running event loop; await commit_async()")


async def serve(
    cluster_file: str | os.PathLike[str],
    replicas: Iterable[NodeId],
    *,
    quic_settings: QuicSettings | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the given replicas of a cluster file in this process until ``stop`` is set.

    Raises:
        ConfigError: an id is not a replica of the cluster, or the file is invalid.
    """
    cf = ClusterFile.load(cluster_file)
    ca = ClusterCA.open_or_create(cf.certs_dir)
    runtimes: list[QuicNodeRuntime[Replica]] = []
    for rid in replicas:
        if not cf.config.is_replica(rid):
            raise ConfigError(f"{rid} is not a replica of {cf.path}")
        node = Replica(rid, cf.config, cf.node_keys(rid), cf.settings)
        runtimes.append(
            QuicNodeRuntime(
                node,
                pbft_codec(),
                ca.credentials(rid),
                dict(cf.addresses),
                quic_settings,
                record_events=False,
            )
        )
    try:
        for rt in runtimes:
            await rt.start()
        await (stop or asyncio.Event()).wait()
    finally:
        for rt in runtimes:
            await stop_runtime(rt)
