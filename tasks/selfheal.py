"""Prefect tasks of the self-healing loop: one per step, thin wrappers over :class:`apps.selfheal.Healer`.

Read-only steps retry on :class:`~patterns.core.exceptions.RetryableError` with
exponential back-off and jitter; ``execute`` does not (it retries the API itself and
rolls back on failure), so a write is never repeated blindly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound
from prefect.tasks import exponential_backoff

from apps.k8s.cluster import Cluster, Observation
from apps.k8s.real import RealCluster
from apps.k8s.scenario import load_scenario
from apps.k8s.settings import get_k8s_settings
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.alerts import AlertHint, parse_alert
from apps.selfheal.records import (
    Execution,
    Hypothesis,
    Incident,
    Proposal,
    Trajectory,
    Validation,
    VoteRecord,
)
from apps.selfheal.settings import SelfHealSettings
from tasks.retry import retry_if_retryable

if TYPE_CHECKING:  # the loop imports litellm and LanceDB: loaded by the first task that runs
    from apps.selfheal.loop import Case, Healer
    from apps.selfheal.monitor import MonitorReport

DEFAULT_HORIZON_S = 900.0  # virtual seconds a simulated run lasts after its last fault
_RETRY: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=1),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_retryable,
    "cache_policy": NO_CACHE,
}


@task(name="selfheal-parse-alert", retries=0, cache_policy=NO_CACHE)
def read_alert(payload: Mapping[str, Any] | str) -> AlertHint:
    """Validate an Alertmanager (v4) or generic alert payload; a bad one fails with the field named."""
    return parse_alert(payload)


@task(name="selfheal-start", retries=0, timeout_seconds=120, cache_policy=NO_CACHE)
def start_healer(
    cluster: Cluster,
    memory_dir: str | None = None,
    seed: int = 0,
    settings: SelfHealSettings | None = None,
) -> Healer:
    """A healer bound to ``cluster`` with its memory directory."""
    from apps.selfheal.loop import Healer

    return Healer(cluster, settings, memory_dir=Path(memory_dir) if memory_dir else None, seed=seed)


@task(name="selfheal-monitor", timeout_seconds=120, persist_result=False, **_RETRY)
def monitor(healer: Healer) -> tuple[Observation, MonitorReport]:
    """Step 1: monitor agents per namespace and node, merged up the aggregation tree."""
    return healer.monitor()


@task(name="selfheal-detect", timeout_seconds=60, persist_result=False, **_RETRY)
def detect(healer: Healer, obs: Observation) -> Incident | None:
    """Step 2: rules, events and robust statistics, debounced; memory recognition."""
    return healer.detect(obs)


@task(name="selfheal-root-cause", timeout_seconds=60, persist_result=True, **_RETRY)
def root_cause(healer: Healer, case: Case) -> list[Hypothesis]:
    """Step 3: ranked root-cause hypotheses."""
    return healer.root_cause(case)


@task(name="selfheal-propose", timeout_seconds=60, persist_result=True, **_RETRY)
def propose(healer: Healer, case: Case) -> list[Proposal]:
    """Step 4: typed, risk-scored remediations."""
    return healer.propose(case)


@task(name="selfheal-vote", timeout_seconds=120, persist_result=True, **_RETRY)
def vote(healer: Healer, case: Case, index: int) -> VoteRecord:
    """Step 5: policy, memory, evidence (and model) voters through the consensus router."""
    return healer.vote(case, index)


@task(name="selfheal-validate", timeout_seconds=120, persist_result=True, **_RETRY)
def validate(healer: Healer, case: Case, index: int) -> Validation:
    """Step 6: PBFT commit among the healer replicas, with the incident lease."""
    return healer.validate(case, index)


@task(
    name="selfheal-execute",
    retries=0,
    timeout_seconds=7200,
    persist_result=True,
    cache_policy=NO_CACHE,
)
def execute(healer: Healer, case: Case, index: int) -> Execution:
    """Step 7: dry run, apply, verify, roll back on failure (never retried as a whole)."""
    return healer.execute(case, index)


@task(name="selfheal-learn", timeout_seconds=120, persist_result=True, **_RETRY)
def learn(healer: Healer, case: Case) -> Trajectory:
    """Step 8: store the trajectory in LanceDB, distill it, gossip the outcome."""
    return healer.learn(case)


@task(name="selfheal-connect", retries=0, timeout_seconds=120, cache_policy=NO_CACHE)
def connect(
    backend: str, scenario: str | None, scenario_file: str | None, seed: int
) -> tuple[Cluster, float, str]:
    """The cluster to heal, how long to watch it (virtual seconds, sim only) and its lock key."""
    if backend == "real":
        cfg = get_k8s_settings()
        key = cfg.context or cfg.api_url or ("in-cluster" if cfg.in_cluster else "default")
        return RealCluster.from_settings(cfg), 0.0, f"real-{key}"
    cfg = get_k8s_settings()
    name = scenario_file or scenario or cfg.default_scenario
    sc = load_scenario(name, cfg.scenarios_dir)
    sim = SimCluster.from_scenario(sc, seed)
    last_fault = max((f.at_s for f in sc.faults), default=0.0)
    return (
        sim,
        last_fault + DEFAULT_HORIZON_S,
        f"sim-{hashlib.sha256(name.encode()).hexdigest()[:8]}-{seed}",
    )


@task(name="selfheal-lock", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def ensure_lock(name: str) -> str:
    """Create the one-slot concurrency limit that keeps one loop per cluster."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    return name


STEP_TASKS: dict[str, Task[..., Any]] = {
    "monitor": monitor,
    "detect": detect,
    "root_cause": root_cause,
    "propose": propose,
    "vote": vote,
    "validate": validate,
    "execute": execute,
    "learn": learn,
}


def prefect_steps(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """A step runner for :meth:`Healer.tick` that runs each step as its Prefect task."""
    healer = getattr(fn, "__self__", None)
    return STEP_TASKS[name](healer, *args)
