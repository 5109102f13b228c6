"""Regression tests of the simulated cluster against Kubernetes behaviour (issue: cluster fidelity)."""

from __future__ import annotations

import pytest

from apps.k8s.actions import CordonNode, RestartDeployment
from apps.k8s.exceptions import ActionRefusedError
from apps.k8s.kinds import Kind
from apps.k8s.policy import WritePolicy
from apps.k8s.scenario import NodeGroup
from apps.k8s.settings import K8sSettings
from apps.k8s.sim.cluster import SimCluster


def _deployment(
    name: str, resources: dict[str, object], tolerations: list[dict[str, str]] | None = None
) -> dict[str, object]:
    spec: dict[str, object] = {
        "containers": [{"name": name, "image": "app:1", "resources": resources}]
    }
    if tolerations:
        spec["tolerations"] = tolerations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def _pods(sim: SimCluster, name: str) -> list[dict[str, object]]:
    return [
        p for p in sim.list(Kind.POD, "default") if p["metadata"]["name"].startswith(f"{name}-")
    ]


def _cordoned_cluster() -> SimCluster:
    sim = SimCluster(nodes=[NodeGroup(count=1)])
    sim.apply(CordonNode(node="node-1"), dry_run=False)
    return sim


def test_a_pod_that_does_not_tolerate_a_cordon_is_refused_with_the_schedulers_message() -> None:
    sim = _cordoned_cluster()
    sim.create_manifest(_deployment("plain", {}))
    sim.advance(20)
    (pod,) = _pods(sim, "plain")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "False"
    assert cond["message"].startswith("0/1 nodes are available: 1 node(s) were unschedulable.")


def test_a_pod_that_tolerates_the_unschedulable_taint_lands_on_a_cordoned_node() -> None:
    sim = _cordoned_cluster()
    tol = [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    ]
    sim.create_manifest(_deployment("tolerant", {}, tol))
    sim.advance(20)
    (pod,) = _pods(sim, "tolerant")
    assert pod["spec"].get("nodeName") == "node-1"


def test_requests_default_to_limits_so_a_three_cpu_limit_does_not_fit_a_two_cpu_node() -> None:
    sim = SimCluster(nodes=[NodeGroup(count=1, cpu="2")])
    sim.create_manifest(_deployment("big", {"limits": {"cpu": "3", "memory": "1Gi"}}))
    sim.advance(20)
    (pod,) = _pods(sim, "big")
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "3", "memory": "1Gi"}
    assert pod["status"]["qosClass"] == "Guaranteed"
    assert "Insufficient cpu" in next(
        c["message"] for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"
    )


def _coredns(sim: SimCluster) -> SimCluster:
    manifest = _deployment("coredns", {})
    manifest["metadata"] = {
        "name": "coredns",
        "namespace": "kube-system",
        "labels": {"app": "coredns"},
    }
    sim.create_manifest(manifest)
    return sim


def test_the_simulator_refuses_what_the_real_backends_write_policy_refuses() -> None:
    sim = _coredns(
        SimCluster(policy=WritePolicy.from_settings(K8sSettings(write_namespaces=["shop"])))
    )
    with pytest.raises(
        ActionRefusedError, match="namespace 'kube-system' is not in the write allowlist"
    ):
        sim.apply(RestartDeployment(namespace="kube-system", name="coredns"))


def test_every_namespace_allowed_still_protects_the_system_ones() -> None:
    sim = _coredns(SimCluster())
    with pytest.raises(ActionRefusedError, match="namespace 'kube-system' is protected"):
        sim.apply(RestartDeployment(namespace="kube-system", name="coredns"))
    listed = _coredns(
        SimCluster(policy=WritePolicy.from_settings(K8sSettings(write_namespaces=["kube-system"])))
    )
    assert listed.apply(RestartDeployment(namespace="kube-system", name="coredns")).ops
