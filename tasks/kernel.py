"""Prefect tasks over the network kernel: run the reference protocol."""

from __future__ import annotations

from prefect import task

from patterns.net.faults import FaultPlan
from patterns.net.reference_run import BroadcastReport, run_broadcast_sim


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
