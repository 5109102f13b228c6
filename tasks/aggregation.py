"""Prefect tasks for pattern 6: O(log N) tree aggregation."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
from prefect import task

from patterns.aggregation.aggregates import AggregateSpec, HistogramSpec
from patterns.aggregation.engine import EngineResult, aggregate_vectorized
from patterns.aggregation.runner import (
    TreeRunReport,
    run_tree_quic,
    run_tree_sim,
    simulated_metrics,
)
from patterns.core.exceptions import ConfigError
from patterns.net.faults import FaultPlan, ScheduledCrash
from tasks.retry import retry_if_retryable

LATENCY_SPEC = AggregateSpec(histogram=HistogramSpec(0.0, 500.0, 25))


@task(name="simulate-agent-metrics", retries=0, timeout_seconds=120)
def simulate_agent_metrics(agents: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """Request latencies (ms) reported by ``agents`` simulated agents."""
    return simulated_metrics(agents, seed)


@task(name="tree-aggregate", retries=0, timeout_seconds=600)
def tree_aggregate(
    values: npt.ArrayLike,
    k: int = 16,
    dead_fraction: float = 0.0,
    seed: int = 0,
    spec: AggregateSpec = LATENCY_SPEC,
) -> EngineResult:
    """Aggregate one value per agent up a k-ary tree (vectorized engine).

    ``dead_fraction`` of the agents (never the root) do not answer; their
    subtrees are re-parented and the result's coverage says how many agents it holds.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ConfigError(
            f"values must be a 1-D array of at least one agent, got shape {arr.shape}"
        )
    if not 0.0 <= dead_fraction < 1.0:
        raise ConfigError(f"dead_fraction={dead_fraction!r} must be in [0, 1)")
    n = int(arr.shape[0])
    alive = np.random.default_rng(seed).random(n) >= dead_fraction
    alive[0] = True
    return aggregate_vectorized(arr, k, spec, alive=alive)


@task(name="tree-aggregate-protocol", retries=0, timeout_seconds=600)
def tree_aggregate_protocol(
    values: list[float],
    k: int = 8,
    loss: float = 0.0,
    crashed: list[int] | None = None,
    seed: int = 0,
) -> TreeRunReport:
    """Run the sans-IO aggregation protocol on the deterministic simulator with faults."""
    plan = FaultPlan(
        seed=seed, loss=loss, scheduled_crashes=[ScheduledCrash(n, 0.0) for n in crashed or []]
    )
    return run_tree_sim(values, k, plan, spec=LATENCY_SPEC)


@task(
    name="tree-aggregate-quic",
    retries=1,
    retry_condition_fn=retry_if_retryable,  # a bad argument fails the same way twice
    timeout_seconds=600,
)
def tree_aggregate_quic(
    values: list[float],
    certs_dir: str,
    k: int = 8,
    processes: int = 1,
    spec: AggregateSpec = LATENCY_SPEC,
) -> TreeRunReport:
    """Run the aggregation protocol over real QUIC with mutual TLS on loopback, one endpoint
    per value (at most 1,024), on one event loop or dealt by subtree over ``processes`` OS
    processes. The report is of one timed epoch after the connections opened."""
    return asyncio.run(run_tree_quic(values, certs_dir, k, spec=spec, processes=processes))
