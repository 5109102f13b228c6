"""Prefect task over pattern 2: commit operations through PBFT and return their certificates."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from patterns.byzantine import ByzantineSettings, CommitReport, KvOp, commit, encode_op
from patterns.settings import get_settings
from tasks.retry import retry_if_retryable


def _settings(settings: ByzantineSettings | None) -> ByzantineSettings:
    if settings is not None:
        return settings
    group = getattr(get_settings(), "byzantine", None)  # the project's settings group, if hooked in
    return group if isinstance(group, ByzantineSettings) else ByzantineSettings()


@task(
    name="byzantine-commit",
    retries=1,
    retry_delay_seconds=1.0,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=300,
    cache_policy=NO_CACHE,
)
def byzantine_commit(
    operations: Sequence[KvOp | bytes],
    cluster_file: str | None = None,
    settings: ByzantineSettings | None = None,
    timeout_s: float = 60.0,
) -> CommitReport:
    """Commit ``operations`` in order through a PBFT cluster; return results with certificates.

    The cluster is the one of ``cluster_file`` (or ``settings.cluster_file``); when none
    is configured a local cluster of 3f+1 replicas is started over QUIC on loopback
    for the call. Every result carries a commit certificate (2f+1 Ed25519-signed
    commits) that :meth:`CommitReport.verify` checks with the public keys only.
    Retries only on retryable errors (a deadline missed); an oversized operation or
    a bad cluster file fails at once.
    """
    s = _settings(settings)
    ops = [op if isinstance(op, bytes) else encode_op(op) for op in operations]
    path = cluster_file if cluster_file is not None else s.cluster_file
    return commit(ops, cluster_file=path, f=s.f, settings=s, timeout_s=timeout_s)
