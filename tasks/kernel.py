"""Prefect tasks over the network kernel: run the reference protocol."""

from __future__ import annotations

import asyncio

from prefect import task

from patterns.net.faults import FaultPlan
from patterns.net.reference_run import BroadcastReport, run_broadcast_quic, run_broadcast_sim
from patterns.settings import get_settings
from tasks.retry import retry_if_retryable


@task(
    name="reliable-broadcast-sim",
    retries=0,
    timeout_seconds=600,
    task_run_name="broadcast-sim-n{nodes}-v{values}-seed{seed}",
)
def broadcast_in_simulator(
    nodes: int, values: int, seed: int = 0, loss: float = 0.0
) -> BroadcastReport:
    """Run reliable broadcast on the deterministic simulator with random loss."""
    plan = FaultPlan(seed=seed, loss=loss, duplicate=loss / 2, reorder=loss, faults_until_s=5.0)
    return run_broadcast_sim(nodes, values, plan.validate())


@task(
    name="reliable-broadcast-quic",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=300,
    task_run_name="broadcast-quic-n{nodes}-v{values}",
)
def broadcast_over_quic(nodes: int, values: int, timeout_s: float = 60.0) -> BroadcastReport:
    """Run reliable broadcast over real QUIC with mutual TLS on loopback."""
    settings = get_settings().quic
    return asyncio.run(run_broadcast_quic(nodes, values, settings.certs_dir, timeout_s, settings))
