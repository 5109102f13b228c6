"""Prefect tasks of the Kubernetes layer (bodies via ``.fn``) and the demo flow under the harness."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client

from apps.k8s.exceptions import InvalidActionError
from apps.k8s.real import RealCluster
from apps.k8s.settings import ClusterBackend, K8sSettings
from apps.k8s.sim.cluster import SimCluster
from flows.demo_k8s import k8s_demo
from tasks.k8s import (
    advance_cluster,
    apply_k8s_action,
    load_k8s_scenario,
    observe_cluster,
    start_cluster,
)


def test_task_bodies_take_a_scenario_from_incident_to_healthy() -> None:
    sc = load_k8s_scenario.fn("service-selector-mismatch")
    cluster = start_cluster.fn(sc, settings=K8sSettings())
    assert isinstance(cluster, SimCluster)
    assert advance_cluster.fn(cluster, 90) == 90
    before = observe_cluster.fn(cluster, "shop")
    assert not before.healthy
    assert any(p.startswith("NoEndpoints Service shop/payments") for p in before.problems)
    fix = '{"type": "patch_service_selector", "namespace": "shop", "name": "payments", "selector": {"app": "payments"}}'
    result = apply_k8s_action.fn(cluster, fix, dry_run=False)
    assert [op.describe() for op in result.ops] == ["PATCH services shop/payments"]
    advance_cluster.fn(cluster, 30)
    after = observe_cluster.fn(cluster, "shop")
    assert after.healthy and after.pod_states == {"Running": 4}
    with pytest.raises(InvalidActionError):
        apply_k8s_action.fn(cluster, {"type": "delete_namespace", "name": "shop"})


def test_start_cluster_connects_to_a_real_cluster_when_configured() -> None:
    cfg = K8sSettings(backend=ClusterBackend.REAL, api_url="http://127.0.0.1:1", bearer_token="t")
    cluster = start_cluster.fn(settings=cfg)
    assert isinstance(cluster, RealCluster) and cluster.default_dry_run
    with pytest.raises(TypeError, match="virtual time"):
        advance_cluster.fn(cluster, 1)


def test_demo_flow_resolves_the_scenario_and_publishes_before_after() -> None:
    out = k8s_demo(scenario="service-selector-mismatch")
    assert out["resolved"] is True
    assert out["problems_before"] >= 3 and out["problems_after"] == 0
    assert out["requests"] == ["PATCH services shop/payments"]

    async def keys() -> set[str]:
        async with get_client() as client:
            arts = await client.read_artifacts()
        return {a.key for a in arts if a.key}

    assert {
        "k8s-service-selector-mismatch",
        "k8s-service-selector-mismatch-services",
    } <= asyncio.run(keys())
