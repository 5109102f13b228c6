"""Mechanics of the simulated cluster checked against what Kubernetes does."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.k8s.actions import RestartDeployment, RolloutUndo, ScaleDeployment
from apps.k8s.behaviour import CallSpec, ImageBehaviour, MemoryProfile, Requirements
from apps.k8s.cluster import WatchEventType
from apps.k8s.exceptions import RevisionNotFoundError
from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    SIM_EPOCH,
    is_pod_ready,
    parse_time,
)
from apps.k8s.quantity import MIB, cpu_millicores, memory_bytes
from apps.k8s.scenario import NodeDownFault, NodeGroup, PatchFault, TrafficFault
from apps.k8s.sim.cluster import SimCluster
from tests.k8s.builders import NS, cluster, deployment, service

OK = ImageBehaviour(startup_s=2, pull_s=1)


def t_of(stamp: str) -> float:
    return (parse_time(stamp) - SIM_EPOCH).total_seconds()


def events(sim: SimCluster, reason: str) -> list[dict]:
    return [e for e in sim.list(Kind.EVENT) if e["reason"] == reason]


def test_crashloop_backoff_doubles_from_10s_to_five_minutes() -> None:
    images = {"app:1": ImageBehaviour(requires=Requirements(env=["DB_URL"]), crash_after_s=1)}
    sim = cluster(images, [deployment("app", "app:1", replicas=1)], nodes=1)
    starts: list[float] = []
    ends: list[float] = []
    messages = set()
    for _ in range(1400):
        sim.step()
        (pod,) = sim.list(Kind.POD, NS)
        cs = pod["status"]["containerStatuses"][0]
        running = cs["state"].get("running")
        if running and (not starts or t_of(running["startedAt"]) != starts[-1]):
            starts.append(t_of(running["startedAt"]))
        term = cs["lastState"].get("terminated")
        if term and (not ends or t_of(term["finishedAt"]) != ends[-1]):
            ends.append(t_of(term["finishedAt"]))
            assert term["exitCode"] == 1 and term["reason"] == "Error"
            assert term["message"] == "panic: required environment variable DB_URL is not set"
        waiting = cs["state"].get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            messages.add(waiting["message"].split(" restarting")[0])
    delays = [start - end for end, start in zip(ends, starts[1:], strict=False)]
    assert delays[:7] == [10, 20, 40, 80, 160, 300, 300]
    assert {"back-off 10s", "back-off 20s", "back-off 1m20s", "back-off 5m0s"} <= messages
    assert pod["status"]["containerStatuses"][0]["restartCount"] == len(starts) - 1
    assert pod["status"]["phase"] == "Running"  # a crash-looping pod stays Running
    backoff = [e for e in events(sim, "BackOff") if "restarting failed container" in e["message"]]
    assert backoff and backoff[0]["type"] == "Warning" and backoff[0]["count"] == len(ends)


def test_oomkilled_when_memory_passes_the_limit() -> None:
    leak = ImageBehaviour(pull_s=1, memory=MemoryProfile(base_mib=100, leak_mib_per_min=60))
    sim = cluster(
        {"app:1": leak},
        [deployment("app", "app:1", replicas=1, limits={"memory": "160Mi"})],
        nodes=1,
    )
    sim.run_until(30)
    (metrics,) = sim.pod_metrics(NS)
    used = memory_bytes(metrics["containers"][0]["usage"]["memory"])
    assert 100 * MIB < used < 160 * MIB
    sim.run_until(80)
    (pod,) = sim.list(Kind.POD, NS)
    term = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
    assert t_of(term["finishedAt"]) - t_of(term["startedAt"]) == pytest.approx(60, abs=1)
    (oom,) = events(sim, "OOMKilling")
    assert oom["involvedObject"]["kind"] == "Node" and oom["type"] == "Warning"
    assert "Memory cgroup out of memory" in oom["message"]


def test_missing_image_goes_errimagepull_then_imagepullbackoff() -> None:
    sim = cluster({}, [deployment("app", "nope:0.0", replicas=1)], nodes=1)
    sim.run_until(1)

    def reason() -> str:
        return str(
            sim.list(Kind.POD, NS)[0]["status"]["containerStatuses"][0]["state"]["waiting"][
                "reason"
            ]
        )

    assert reason() == "ErrImagePull"
    sim.run_until(2)
    assert reason() == "ImagePullBackOff"
    assert sim.list(Kind.POD, NS)[0]["status"]["phase"] == "Pending"
    sim.run_until(200)
    pulls = [e for e in events(sim, "Failed") if e["message"].startswith("Failed to pull image")]
    assert pulls[0]["count"] == 5  # attempts at 1, 11, 31, 71, 151 s (back-off 10 s doubling)
    assert "docker.io/library/nope:0.0: not found" in pulls[0]["message"]


def test_scheduler_honours_requests_taints_and_node_readiness() -> None:
    sim = SimCluster(
        nodes=[
            NodeGroup(
                name="db-node",
                cpu="4",
                taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
            ),
            NodeGroup(name="small", cpu="1"),
            NodeGroup(name="lost", cpu="4"),
        ],
        images={"app:1": OK},
    )
    sim.inject(NodeDownFault(at_s=1, node="lost"))
    sim.run_until(60)  # "lost" is NotReady and tainted unreachable by now
    sim.create_manifest(
        deployment("app", "app:1", replicas=2, requests={"cpu": "600m", "memory": "64Mi"})
    )
    sim.advance(20)
    pods = sim.list(Kind.POD, NS)
    placed = [p for p in pods if p["spec"].get("nodeName")]
    assert [p["spec"]["nodeName"] for p in placed] == ["small"]
    (pending,) = [p for p in pods if not p["spec"].get("nodeName")]
    message = pending["status"]["conditions"][0]["message"]
    assert message.startswith("0/3 nodes are available: 1 Insufficient cpu, ")
    assert "1 node(s) had untolerated taint {dedicated: db}" in message
    assert "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }" in message
    tolerant = deployment(
        "db",
        "app:1",
        replicas=1,
        requests={"cpu": "600m", "memory": "64Mi"},
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
        ],
    )
    sim.create_manifest(tolerant)
    sim.advance(10)
    (db_pod,) = sim.list(Kind.POD, NS, label_selector="app=db")
    assert db_pod["spec"]["nodeName"] == "db-node"


@settings(max_examples=12, deadline=None)
@given(
    replicas=st.integers(1, 6),
    surge=st.sampled_from([0, 1, 2, "25%", "50%"]),
    unavailable=st.sampled_from([0, 1, 2, "25%"]),
)
def test_rolling_update_respects_max_surge_and_max_unavailable(
    replicas: int, surge: int | str, unavailable: int | str
) -> None:
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    images = {"app:1": OK, "app:2": OK}
    sim = cluster(images, [deployment("app", "app:1", replicas=replicas, strategy=strategy)])
    sim.run_until(20)

    def resolve(v: int | str, up: bool) -> int:
        if isinstance(v, str):
            f = int(v[:-1]) / 100 * replicas
            return math.ceil(f) if up else math.floor(f)
        return v

    max_surge, max_unavail = resolve(surge, True), resolve(unavailable, False)
    if max_surge == 0 and max_unavail == 0:
        max_unavail = 1
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    sim.inject(PatchFault(at_s=21, kind=Kind.DEPLOYMENT, namespace=NS, name="app", patch=patch))
    for _ in range(150):
        sim.step()
        live = [p for p in sim.list(Kind.POD, NS) if not p["metadata"].get("deletionTimestamp")]
        assert len(live) <= replicas + max_surge
        assert sum(1 for p in sim.list(Kind.POD, NS) if is_pod_ready(p)) >= replicas - max_unavail
    pods = sim.list(Kind.POD, NS)
    assert len(pods) == replicas
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"app:2"}
    assert (
        sim.get(Kind.DEPLOYMENT, "app", NS)["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    )


def _roll(sim: SimCluster, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    sim.inject(
        PatchFault(at_s=sim.now + 1, kind=Kind.DEPLOYMENT, namespace=NS, name="app", patch=patch)
    )
    sim.advance(40)


def test_rollout_undo_restores_the_previous_template_under_a_new_revision() -> None:
    images = {f"app:{i}": OK for i in (1, 2, 3)}
    sim = cluster(images, [deployment("app", "app:1", replicas=2)])
    sim.advance(20)
    _roll(sim, "app:2")
    _roll(sim, "app:3")
    sim.apply(RolloutUndo(namespace=NS, name="app"))
    sim.advance(40)

    def image() -> str:
        return str(
            sim.get(Kind.DEPLOYMENT, "app", NS)["spec"]["template"]["spec"]["containers"][0][
                "image"
            ]
        )

    assert image() == "app:2"
    revisions = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["metadata"]["annotations"][
            REVISION_ANNOTATION
        ]
        for rs in sim.list(Kind.REPLICA_SET, NS)
    }
    assert revisions == {
        "app:1": "1",
        "app:2": "4",
        "app:3": "3",
    }  # kubectl rollout history: 1, 3, 4
    assert {p["spec"]["containers"][0]["image"] for p in sim.list(Kind.POD, NS)} == {"app:2"}
    sim.apply(RolloutUndo(namespace=NS, name="app", to_revision=1))
    sim.advance(40)
    assert image() == "app:1"
    with pytest.raises(RevisionNotFoundError, match="revision 2"):
        sim.apply(RolloutUndo(namespace=NS, name="app", to_revision=2))


def test_revision_history_limit_prunes_old_replica_sets() -> None:
    images = {f"app:{i}": OK for i in range(1, 7)}
    sim = cluster(images, [deployment("app", "app:1", replicas=1, history=2)])
    sim.advance(20)
    for i in range(2, 7):
        _roll(sim, f"app:{i}")
    sim.advance(20)
    revisions = sorted(
        int(rs["metadata"]["annotations"][REVISION_ANNOTATION])
        for rs in sim.list(Kind.REPLICA_SET, NS)
    )
    assert revisions == [4, 5, 6]


def test_restart_stamps_the_template_and_replaces_every_pod() -> None:
    sim = cluster({"app:1": OK}, [deployment("app", "app:1", replicas=3)])
    sim.advance(20)
    before = {p["metadata"]["name"] for p in sim.list(Kind.POD, NS)}
    result = sim.apply(RestartDeployment(namespace=NS, name="app"))
    stamp = result.objects[0]["spec"]["template"]["metadata"]["annotations"][
        RESTARTED_AT_ANNOTATION
    ]
    assert stamp == sim.now_iso()
    sim.advance(60)
    after = {p["metadata"]["name"] for p in sim.list(Kind.POD, NS)}
    assert len(after) == 3 and not before & after


def test_dry_run_returns_the_result_and_changes_nothing() -> None:
    sim = cluster({"app:1": OK}, [deployment("app", "app:1", replicas=2)])
    sim.advance(20)
    rv = sim.state.store.rv
    result = sim.apply(ScaleDeployment(namespace=NS, name="app", replicas=5), dry_run=True)
    assert result.dry_run and result.objects[0]["spec"]["replicas"] == 5
    restart = sim.apply(RestartDeployment(namespace=NS, name="app"), dry_run=True)
    assert (
        RESTARTED_AT_ANNOTATION in restart.objects[0]["spec"]["template"]["metadata"]["annotations"]
    )
    assert sim.state.store.rv == rv
    assert sim.get(Kind.DEPLOYMENT, "app", NS)["spec"]["replicas"] == 2


def test_node_not_ready_taints_marks_pods_and_evicts_after_toleration() -> None:
    sim = cluster({"app:1": OK}, [deployment("app", "app:1", replicas=3)], nodes=3)
    sim.inject(NodeDownFault(at_s=30, node="node-2"))
    sim.run_until(29)
    on_lost = {
        p["metadata"]["name"] for p in sim.list(Kind.POD, NS) if p["spec"]["nodeName"] == "node-2"
    }
    assert on_lost
    sim.run_until(80)
    node = sim.get(Kind.NODE, "node-2")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    # 40 s grace after the last heartbeat the 5 s node monitor saw
    assert 30 + 40 - 5 <= t_of(ready["lastTransitionTime"]) <= 30 + 40 + 5
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    for pod in sim.list(Kind.POD, NS):
        if pod["metadata"]["name"] in on_lost:
            assert not is_pod_ready(pod) and not pod["metadata"].get("deletionTimestamp")
    sim.run_until(t_of(ready["lastTransitionTime"]) + 299)
    assert not any(p["metadata"].get("deletionTimestamp") for p in sim.list(Kind.POD, NS))
    sim.advance(20)
    pods = sim.list(Kind.POD, NS)
    assert {
        p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")
    } == on_lost
    healthy = [p for p in pods if is_pod_ready(p) and p["spec"]["nodeName"] != "node-2"]
    assert len(healthy) == 3
    assert events(sim, "TaintManagerEviction")


def test_hpa_scales_up_fast_and_down_only_after_the_stabilization_window() -> None:
    images = {"api:1": ImageBehaviour(pull_s=1, startup_s=1)}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
    sim = cluster(images, [deployment("api", "api:1", replicas=1), service("api"), hpa])
    sim.set_traffic(NS, "api", 20)  # 20 + 2*20 = 60m of a 100m request: 60 %
    sim.inject(TrafficFault(at_s=60, namespace=NS, service="api", rps=200))
    sim.inject(TrafficFault(at_s=200, namespace=NS, service="api", rps=20))
    sim.run_until(59)
    assert sim.get(Kind.DEPLOYMENT, "api", NS)["spec"]["replicas"] == 2
    sim.run_until(200)
    peak = sim.get(Kind.DEPLOYMENT, "api", NS)["spec"]["replicas"]
    assert peak >= 8
    status = sim.get(Kind.HORIZONTAL_POD_AUTOSCALER, "api", NS)["status"]
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] <= 60
    sim.run_until(480)
    assert sim.get(Kind.DEPLOYMENT, "api", NS)["spec"]["replicas"] == peak  # 300 s window holds it
    sim.run_until(560)
    assert sim.get(Kind.DEPLOYMENT, "api", NS)["spec"]["replicas"] < peak
    rescales = [e for e in events(sim, "SuccessfulRescale")]
    assert any("above target" in e["message"] for e in rescales)
    assert any("below target" in e["message"] for e in rescales)


def test_cpu_limit_caps_usage_and_throttling_raises_latency() -> None:
    beh = ImageBehaviour(pull_s=1)
    sim = cluster(
        {"app:1": beh},
        [
            deployment("app", "app:1", replicas=1, limits={"cpu": "200m", "memory": "256Mi"}),
            service("app"),
        ],
    )
    sim.set_traffic(NS, "app", 50)  # wants 20 + 2*50 = 120m
    sim.run_until(30)
    calm = sim.service_metrics(NS)[0]
    sim.set_traffic(NS, "app", 150)  # wants 320m under a 200m limit
    sim.advance(10)
    (metrics,) = sim.pod_metrics(NS)
    assert cpu_millicores(metrics["containers"][0]["usage"]["cpu"]) == pytest.approx(200)
    hot = sim.service_metrics(NS)[0]
    assert hot.latency_p99_ms > 5 * calm.latency_p99_ms
    assert hot.error_rate > calm.error_rate


def test_changes_feed_coalesces_and_resyncs_after_compaction() -> None:
    sim = cluster({"app:1": OK}, [deployment("app", "app:1", replicas=2)])
    first = sim.changes(kinds=[Kind.DEPLOYMENT, Kind.POD])
    assert {e.type for e in first.events} == {WatchEventType.ADDED}
    assert [e.kind for e in first.events] == [Kind.DEPLOYMENT]  # no pod yet at t=0
    sim.advance(20)
    second = sim.changes(first.cursor, kinds=[Kind.DEPLOYMENT, Kind.POD])
    pods = [e for e in second.events if e.kind is Kind.POD]
    assert len(pods) == 2 and all(e.type is WatchEventType.ADDED for e in pods)
    assert len({e.object["metadata"]["name"] for e in second.events}) == len(second.events)
    sim.apply(ScaleDeployment(namespace=NS, name="app", replicas=1))
    sim.advance(10)
    third = sim.changes(second.cursor, kinds=[Kind.POD])
    assert [e.type for e in third.events] == [WatchEventType.DELETED]
    assert int(third.cursor["Pod"]) == sim.state.store.rv
    sim.state.store.log_start_rv = sim.state.store.rv + 1  # as if the log were compacted
    stale = sim.changes(third.cursor, kinds=[Kind.POD])
    assert stale.resync and len(stale.events) == 1


def test_events_repeat_with_a_count_like_the_api() -> None:
    sim = cluster({}, [deployment("app", "missing:1", replicas=1)], nodes=1)
    sim.run_until(100)
    back = [e for e in events(sim, "BackOff")]
    assert len(back) == 1 and back[0]["count"] == 4
    assert back[0]["firstTimestamp"] < back[0]["lastTimestamp"]
    assert back[0]["source"]["component"] == "kubelet"


def test_service_without_ready_pods_has_no_addresses_and_fails_callers() -> None:
    images = {
        "fe:1": ImageBehaviour(pull_s=1, calls=[CallSpec(service="be", fraction=0.5)]),
        "be:1": OK,
    }
    probe = {"httpGet": {"path": "/wrong", "port": 8080}, "periodSeconds": 5}
    sim = cluster(
        images,
        [
            deployment("fe", "fe:1"),
            service("fe"),
            deployment("be", "be:1", readiness=probe),
            service("be"),
        ],
    )
    sim.set_traffic(NS, "fe", 100)
    sim.run_until(40)
    ep = sim.get(Kind.ENDPOINTS, "be", NS)
    assert "addresses" not in ep["subsets"][0] and len(ep["subsets"][0]["notReadyAddresses"]) == 2
    by_name = {m.service: m for m in sim.service_metrics(NS)}
    assert by_name["be"].error_rate == 1.0
    assert by_name["fe"].error_rate == pytest.approx(0.5, abs=0.01)
    unhealthy = events(sim, "Unhealthy")
    assert unhealthy and "HTTP probe failed with statuscode: 404" in unhealthy[-1]["message"]
