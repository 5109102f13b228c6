"""Prefect tasks of the Kubernetes layer: load a scenario, start and observe a cluster, apply an action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from apps.k8s.actions import Action, parse_action
from apps.k8s.cluster import ActionResult, Cluster
from apps.k8s.real import RealCluster
from apps.k8s.report import HealthReport, health_report
from apps.k8s.scenario import Scenario, load_scenario
from apps.k8s.settings import ClusterBackend, K8sSettings, get_k8s_settings
from apps.k8s.sim.cluster import SimCluster
from tasks.retry import retry_if_retryable


@task(name="k8s-load-scenario", retries=0, timeout_seconds=60, cache_policy=NO_CACHE)
def load_k8s_scenario(name: str, settings: K8sSettings | None = None) -> Scenario:
    """Load and validate a scenario of the catalog by name (or a YAML path)."""
    cfg = settings or get_k8s_settings()
    return load_scenario(name, cfg.scenarios_dir)


@task(name="k8s-start-cluster", retries=0, timeout_seconds=120, cache_policy=NO_CACHE)
def start_cluster(
    scenario: Scenario | None = None, seed: int | None = None, settings: K8sSettings | None = None
) -> Cluster:
    """The cluster the settings select: a simulated one built from ``scenario``, or the real one."""
    cfg = settings or get_k8s_settings()
    if cfg.backend is ClusterBackend.REAL:
        return RealCluster.from_settings(cfg)
    if scenario is None:
        return SimCluster(seed=cfg.sim_seed if seed is None else seed)
    return SimCluster.from_scenario(scenario, seed)


@task(name="k8s-advance", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def advance_cluster(cluster: Cluster, seconds: float) -> float:
    """Move a simulated cluster's virtual time forward; returns the new virtual time."""
    if not isinstance(cluster, SimCluster):
        raise TypeError("only the simulated cluster has virtual time")
    cluster.advance(seconds)
    return cluster.now


@task(
    name="k8s-observe",
    retries=2,
    retry_delay_seconds=2.0,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def observe_cluster(cluster: Cluster, namespace: str | None = None) -> HealthReport:
    """Read the whole cluster (or one namespace) and summarise its health."""
    obs = cluster.observe([namespace] if namespace else None)
    return health_report(obs, namespace)


@task(
    name="k8s-apply-action",
    retries=2,
    retry_delay_seconds=2.0,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def apply_k8s_action(
    cluster: Cluster, action: Action | Mapping[str, Any] | str, dry_run: bool | None = None
) -> ActionResult:
    """Apply a typed action (or its JSON/mapping form); ``dry_run=None``: the backend's default."""
    typed = action if not isinstance(action, Mapping | str) else parse_action(action)
    return cluster.apply(typed, dry_run=dry_run)
