"""Cluster benchmark (`make bench NAME=cluster`): the simulator at 50 nodes / 500 pods, the real backend."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

from apps.k8s.behaviour import CallSpec, ImageBehaviour
from apps.k8s.checking import check_composed, check_scenario, is_cascade
from apps.k8s.compose import compose_pairs
from apps.k8s.kinds import KINDS, Kind
from apps.k8s.real import RealCluster
from apps.k8s.scenario import MANIFEST_KINDS, NodeGroup, load_catalog
from apps.k8s.settings import K8sSettings
from apps.k8s.sim.cluster import SimCluster
from tests.k8s.apiserver import ApiServer

NODES = 50
DEPLOYMENTS = 50
REPLICAS = 10  # 50 x 10 = 500 pods
WARMUP_S = 120.0  # virtual seconds until every pod is Running and Ready
MEASURE_S = 600.0  # virtual seconds timed
OBSERVE_REPEAT = 5
API_REQUESTS = 300
API_LIST_PODS = 500
COMPOSED = 40  # seeded two-fault compositions checked
COMPOSE_SEED = 20261204


def big_cluster(seed: int = 0) -> SimCluster:
    """50 nodes, 50 deployments of 10 pods behind 50 services calling each other in a chain."""
    images = {
        f"svc-{i}:1": ImageBehaviour(
            calls=[CallSpec(service=f"svc-{i + 1}", fraction=0.2)] if i + 1 < DEPLOYMENTS else []
        )
        for i in range(DEPLOYMENTS)
    }
    sim = SimCluster(
        seed=seed, nodes=[NodeGroup(count=NODES, cpu="8", memory="32Gi")], images=images
    )
    for i in range(DEPLOYMENTS):
        name = f"svc-{i}"
        container: dict[str, Any] = {
            "name": name,
            "image": f"{name}:1",
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "256Mi"},
            },
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": 8080},
                "periodSeconds": 10,
                "initialDelaySeconds": 10,
            },
        }
        sim.create_manifest(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "bench"},
                "spec": {
                    "replicas": REPLICAS,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [container]},
                    },
                },
            }
        )
        sim.create_manifest(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": "bench"},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
        sim.set_traffic("bench", name, 20.0)
    return sim


def _bench_sim(out: dict[str, float]) -> None:
    t0 = time.perf_counter()
    sim = big_cluster()
    sim.run_until(WARMUP_S)
    out["sim_warmup_wall_s"] = time.perf_counter() - t0
    pods = sim.list(Kind.POD)
    out["pods"] = len(pods)
    out["pods_ready"] = sum(
        1
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
    )
    t0 = time.perf_counter()
    sim.advance(MEASURE_S)
    wall = time.perf_counter() - t0
    out["sim_seconds_per_wall_second"] = MEASURE_S / wall
    times = []
    for _ in range(OBSERVE_REPEAT):
        t0 = time.perf_counter()
        obs = sim.observe()
        times.append((time.perf_counter() - t0) * 1000)
    out["observe_ms"] = statistics.median(times)
    out["observe_objects"] = sum(obs.counts().values())


def serve_mock(conn: Connection, pods: int) -> None:
    """Child process: a mock API server with ``pods`` pods until told to stop."""
    with ApiServer() as srv:

        def seed() -> None:
            for i in range(pods):
                pod = {
                    "metadata": {"name": f"pod-{i}", "namespace": "bench"},
                    "spec": {"nodeName": "node-1"},
                }
                srv.handler.put(Kind.POD, pod)

        srv.call(seed)
        conn.send(srv.url)
        conn.recv()


def _bench_real(out: dict[str, float]) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_mock, args=(child, API_LIST_PODS), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        real = RealCluster.from_settings(K8sSettings(api_url=url, bearer_token="bench"))
        real.get(Kind.POD, "pod-0", "bench")
        t0 = time.perf_counter()
        for i in range(API_REQUESTS):
            real.get(Kind.POD, f"pod-{i % API_LIST_PODS}", "bench")
        out["real_backend_requests_per_s"] = API_REQUESTS / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        listed = real.list(Kind.POD, "bench")
        out["real_backend_list_500_pods_ms"] = (time.perf_counter() - t0) * 1000
        out["real_backend_listed"] = len(listed)
    finally:
        parent.send("stop")
        proc.join(timeout=30)


def _bench_catalog(out: dict[str, float]) -> None:
    """Every scenario and a seeded set of two-fault compositions, each checked three ways."""
    catalog = load_catalog()
    scenarios = list(catalog.values())
    out["scenarios"] = len(scenarios)
    out["no_action_scenarios"] = sum(s.ground_truth.no_action for s in scenarios)
    out["cascade_scenarios"] = sum(
        is_cascade(s) and not s.ground_truth.no_action for s in scenarios
    )
    out["kinds_supported"] = len(KINDS)
    out["manifest_kinds"] = len(MANIFEST_KINDS)
    t0 = time.perf_counter()
    failures = {s.name: check_scenario(s) for s in scenarios}
    out["scenarios_checked_ok"] = sum(not f for f in failures.values())
    out["scenario_check_wall_s"] = time.perf_counter() - t0
    for name, problems in failures.items():
        if problems:
            print(f"scenario {name}: {problems}")
    composed = compose_pairs(scenarios, COMPOSED, COMPOSE_SEED)
    out["composed_scenarios"] = len(composed)
    bad = {c.name: check_composed(c) for c in composed}
    out["composed_scenarios_checked_ok"] = sum(not f for f in bad.values())
    for name, problems in bad.items():
        if problems:
            print(f"composed {name}: {problems}")


def run_cluster_bench() -> dict[str, float]:
    out: dict[str, float] = {"nodes": NODES}
    _bench_catalog(out)
    _bench_sim(out)
    _bench_real(out)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    print(json.dumps(run_cluster_bench(), indent=2))
