"""Prefect tasks for pattern 4: ephemeral agents with persistent vector memory."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from patterns.ephemeral import EphemeralSettings, replay_bursty
from tasks.retry import retry_if_retryable


@task(
    name="run-ephemeral",
    task_run_name="run-ephemeral-seed{seed}",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=600,
    cache_policy=NO_CACHE,
)
async def run_ephemeral(
    seed: int = 0,
    bursts: int = 12,
    rate_per_s: float = 20.0,
    mean_gap_s: float = 300.0,
    burst_s: float = 10.0,
    max_idle_s: float = 5.0,
    max_concurrency: int | None = None,
    settings: EphemeralSettings | None = None,
) -> dict[str, float]:
    """Process a seeded bursty workload on ephemeral agents (virtual time); return the account.

    The figures include the always-on baseline (``always_on_agent_seconds``)
    and ``saving_pct``, plus ``items`` and ``items_ok``.
    """
    report = await replay_bursty(
        seed,
        settings,
        max_idle_s=max_idle_s,
        max_concurrency=max_concurrency,
        bursts=bursts,
        rate_per_s=rate_per_s,
        mean_gap_s=mean_gap_s,
        burst_s=burst_s,
    )
    figures = report.account.as_dict()
    figures["items"] = float(len(report.outcomes))
    figures["items_ok"] = float(sum(o.ok for o in report.outcomes))
    return figures
