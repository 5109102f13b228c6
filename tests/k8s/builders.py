"""Small manifest builders for simulator tests."""

from __future__ import annotations

from typing import Any

from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.scenario import NodeGroup
from apps.k8s.sim.cluster import SimCluster

NS = "shop"


def deployment(
    name: str,
    image: str,
    replicas: int = 2,
    *,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    readiness: dict[str, Any] | None = None,
    liveness: dict[str, Any] | None = None,
    env: list[dict[str, Any]] | None = None,
    strategy: dict[str, Any] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    history: int | None = None,
) -> dict[str, Any]:
    """A Deployment manifest with one container."""
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "resources": {
            "requests": requests or {"cpu": "100m", "memory": "128Mi"},
            "limits": limits or {"cpu": "1", "memory": "256Mi"},
        },
    }
    if readiness is not None:
        container["readinessProbe"] = readiness
    if liveness is not None:
        container["livenessProbe"] = liveness
    if env is not None:
        container["env"] = env
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
    }
    if strategy is not None:
        spec["strategy"] = strategy
    if tolerations is not None:
        spec["template"]["spec"]["tolerations"] = tolerations
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": spec,
    }


def service(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    """A ClusterIP Service on port 80 -> 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": selector or {"app": name},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }


def cluster(
    images: dict[str, ImageBehaviour],
    manifests: list[dict[str, Any]],
    nodes: int = 3,
    seed: int = 0,
    cpu: str = "4",
) -> SimCluster:
    """A simulated cluster with ``nodes`` identical nodes and the manifests created."""
    sim = SimCluster(seed=seed, nodes=[NodeGroup(count=nodes, cpu=cpu)], images=images)
    for m in manifests:
        sim.create_manifest(m)
    return sim
