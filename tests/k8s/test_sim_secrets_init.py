"""Secrets and init containers in the simulated cluster behave as the kubelet and API server do."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from apps.k8s.actions import (
    ApiOp,
    DeleteEvictedPods,
    PatchPdb,
    PatchScheduling,
    PatchSecret,
    SuspendJob,
    Verb,
    plan_action,
)
from apps.k8s.behaviour import (
    CpuProfile,
    ImageBehaviour,
    MemoryProfile,
    PidProfile,
    Requirements,
    SecretKeyRef,
    StorageProfile,
)
from apps.k8s.exceptions import ApiUnavailableError, InvalidObjectError
from apps.k8s.kinds import Kind
from apps.k8s.report import pod_state
from apps.k8s.scenario import NodeGroup
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import ProblemKind, find_problems
from tests.k8s.builders import NS, cluster, deployment, service

SERVER = ImageBehaviour(startup_s=1.0)


def _secret(name: str = "creds", **string_data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "stringData": string_data,
    }


def _pods(sim: SimCluster, app: str) -> list[dict[str, Any]]:
    return sim.list(Kind.POD, NS, label_selector=f"app={app}")


def _waiting(pod: dict[str, Any], key: str = "containerStatuses") -> str:
    return str(pod["status"][key][0]["state"].get("waiting", {}).get("reason"))


# Secrets -------------------------------------------------------------------------------------
def test_string_data_is_stored_base64_in_data_and_dropped() -> None:
    sim = cluster({}, [_secret(pw="hunter2")], nodes=1)
    secret = sim.get(Kind.SECRET, "creds", NS)
    assert secret["data"] == {"pw": base64.b64encode(b"hunter2").decode()}
    assert "stringData" not in secret and secret["type"] == "Opaque"


def test_data_that_is_not_base64_is_refused_naming_the_key() -> None:
    sim = cluster({}, [], nodes=1)
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": NS}}
    with pytest.raises(InvalidObjectError, match=r"data\[pw\].*base64"):
        sim.create_manifest({**bad, "data": {"pw": "not base64!"}})
    with pytest.raises(InvalidObjectError, match="valid config key"):
        sim.create_manifest({**bad, "data": {"a/b": "eA=="}})


def _env_app(key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": "creds", "key": key}
    if optional:
        ref["optional"] = True
    return deployment(
        "api", "api:1", replicas=1, env=[{"name": "PW", "valueFrom": {"secretKeyRef": ref}}]
    )


def test_a_missing_secret_key_in_env_is_create_container_config_error_not_a_crash() -> None:
    sim = cluster({"api:1": SERVER}, [_secret(other="x"), _env_app("pw")], nodes=1)
    sim.advance(60)
    (pod,) = _pods(sim, "api")
    assert _waiting(pod) == "CreateContainerConfigError"
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0 and status["lastState"] == {}
    assert status["state"]["waiting"]["message"] == f"couldn't find key pw in Secret {NS}/creds"
    assert pod_state(pod) == "CreateContainerConfigError"
    events = [e for e in sim.list(Kind.EVENT, NS) if e["reason"] == "Failed"]
    assert events and events[0]["message"] == f"Error: couldn't find key pw in Secret {NS}/creds"


def test_a_missing_secret_is_named_and_an_optional_reference_is_honoured() -> None:
    sim = cluster({"api:1": SERVER}, [_env_app("pw")], nodes=1)
    sim.advance(30)
    (pod,) = _pods(sim, "api")
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == (
        'secret "creds" not found'
    )
    sim2 = cluster({"api:1": SERVER}, [_env_app("pw", optional=True)], nodes=1)
    sim2.advance(30)
    (pod2,) = _pods(sim2, "api")
    assert pod2["status"]["containerStatuses"][0]["ready"] is True


def test_env_from_a_secret_and_a_required_key_reach_the_process() -> None:
    needs = ImageBehaviour(
        requires=Requirements(secret_keys=[SecretKeyRef(secret="creds", key="pw")])
    )
    app = deployment("api", "api:1", replicas=1)
    app["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "creds"}}]
    sim = cluster({"api:1": needs}, [_secret(other="x"), app], nodes=1)
    sim.advance(30)
    (pod,) = _pods(sim, "api")
    term = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert term["message"] == "fatal: secret key 'pw' (secret creds) not found"
    sim.apply(PatchSecret(namespace=NS, name="creds", set={"pw": "hunter2"}), dry_run=False)
    sim.advance(400)
    (pod,) = _pods(sim, "api")
    assert pod["status"]["containerStatuses"][0]["ready"] is True


def test_a_secret_volume_with_a_missing_item_is_failed_mount_in_container_creating() -> None:
    app = deployment("api", "api:1", replicas=1)
    tpl = app["spec"]["template"]["spec"]
    tpl["containers"][0]["volumeMounts"] = [{"name": "tls", "mountPath": "/tls"}]
    tpl["volumes"] = [
        {
            "name": "tls",
            "secret": {"secretName": "creds", "items": [{"key": "tls.crt", "path": "c"}]},
        }
    ]
    sim = cluster({"api:1": SERVER}, [_secret(other="x"), app], nodes=1)
    sim.advance(30)
    (pod,) = _pods(sim, "api")
    assert _waiting(pod) == "ContainerCreating"
    mounts = [e["message"] for e in sim.list(Kind.EVENT, NS) if e["reason"] == "FailedMount"]
    assert mounts and mounts[0] == (
        'MountVolume.SetUp failed for volume "tls" : secret references non-existent secret key: tls.crt'
    )


def test_patch_secret_sends_base64_and_removes_with_null() -> None:
    sim = cluster({}, [_secret(pw="a", old="b")], nodes=1)
    (op,) = plan_action(
        PatchSecret(namespace=NS, name="creds", set={"pw": "s3cr3t"}, remove=["old"]), sim
    )
    assert op.body == {"data": {"pw": base64.b64encode(b"s3cr3t").decode(), "old": None}}
    assert "s3cr3t" not in PatchSecret(namespace=NS, name="creds", set={"pw": "s3cr3t"}).describe()


# Init containers ------------------------------------------------------------------------------
def _with_init(init_image: str) -> dict[str, Any]:
    app = deployment(
        "api", "api:1", replicas=1, readiness={"httpGet": {"path": "/ready", "port": 8080}}
    )
    app["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": init_image}]
    return app


def test_main_containers_start_only_after_every_init_container_succeeded() -> None:
    init = ImageBehaviour(completes_after_s=20.0)
    sim = cluster({"api:1": SERVER, "migrate:1": init}, [_with_init("migrate:1")], nodes=1)
    sim.advance(10)
    (pod,) = _pods(sim, "api")
    assert pod["status"]["phase"] == "Pending" and pod_state(pod) == "Init:0/1"
    assert _waiting(pod) == "PodInitializing"
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert (cond["status"], cond["reason"]) == ("False", "ContainersNotInitialized")
    assert cond["message"] == "containers with incomplete status: [migrate]"
    sim.advance(40)
    (pod,) = _pods(sim, "api")
    init_status = pod["status"]["initContainerStatuses"][0]
    assert init_status["state"]["terminated"]["reason"] == "Completed"
    assert init_status["state"]["terminated"]["exitCode"] == 0
    assert pod["status"]["phase"] == "Running" and pod["status"]["containerStatuses"][0]["ready"]


def test_a_failing_init_container_is_restarted_with_back_off_and_blocks_the_pod() -> None:
    init = ImageBehaviour(completes_after_s=1.0, requires=Requirements(services=["db"]))
    sim = cluster({"api:1": SERVER, "migrate:1": init}, [_with_init("migrate:1")], nodes=1)
    seen: set[str] = set()
    for _ in range(60):
        sim.advance(2)
        (pod,) = _pods(sim, "api")
        seen.add(pod_state(pod))
    assert {"Init:CrashLoopBackOff", "Init:0/1"} <= seen
    assert pod["status"]["initContainerStatuses"][0]["restartCount"] >= 3
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    problems = find_problems(sim.observe([NS]))
    assert any(
        p.kind is ProblemKind.CONTAINER_WAITING and p.detail == "migrate: Init:CrashLoopBackOff"
        for p in problems
    ) or any(p.kind is ProblemKind.POD_PENDING and "migrate" in p.detail for p in problems)
    backoff = [e["message"] for e in sim.list(Kind.EVENT, NS) if e["reason"] == "BackOff"]
    assert backoff and backoff[0].startswith("Back-off restarting failed container migrate in pod")


def test_a_wait_for_init_container_completes_once_its_dependency_is_ready() -> None:
    init = ImageBehaviour(
        completes_after_s=1.0, wait_for_requirements_s=None, requires=Requirements(services=["db"])
    )
    images = {"api:1": SERVER, "migrate:1": init, "db:1": SERVER}
    sim = cluster(images, [_with_init("migrate:1"), service("db", {"app": "db"})], nodes=1)
    sim.advance(120)
    (pod,) = _pods(sim, "api")
    assert pod_state(pod) == "Init:0/1"  # waits, never crashes
    assert pod["status"]["initContainerStatuses"][0]["restartCount"] == 0
    sim.create_manifest(deployment("db", "db:1", replicas=1))
    sim.advance(60)
    (pod,) = _pods(sim, "api")
    assert pod["status"]["phase"] == "Running"
    assert not [p for p in find_problems(sim.observe([NS])) if p.name == pod["metadata"]["name"]]


# HPA conditions -------------------------------------------------------------------------------
def test_an_hpa_over_pods_without_cpu_requests_reports_failed_get_resource_metric() -> None:
    app = deployment("api", "api:1", replicas=2)
    app["spec"]["template"]["spec"]["containers"][0]["resources"] = {}  # no requests, no limits
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 6,
        },
    }
    sim = cluster({"api:1": SERVER}, [app, service("api"), hpa], nodes=1)
    sim.advance(90)
    status = sim.get(Kind.HORIZONTAL_POD_AUTOSCALER, "api", NS)["status"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["AbleToScale"]["status"] == "True"
    active = conds["ScalingActive"]
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "missing request for cpu in container api of Pod api-" in active["message"]
    reasons = {e["reason"] for e in sim.list(Kind.EVENT, NS) if e["type"] == "Warning"}
    assert {"FailedGetResourceMetric", "FailedComputeMetricsReplicas"} <= reasons
    assert sim.get(Kind.DEPLOYMENT, "api", NS)["spec"]["replicas"] == 2  # it cannot scale


# PodDisruptionBudgets --------------------------------------------------------------------------
def _pdb(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, **spec},
    }


def test_the_disruption_controller_writes_the_budget_status() -> None:
    sim = cluster(
        {"api:1": SERVER},
        [deployment("api", "api:1", replicas=3), _pdb(minAvailable="50%")],
        nodes=2,
    )
    sim.advance(30)
    status = sim.get(Kind.POD_DISRUPTION_BUDGET, "api", NS)["status"]
    assert (status["expectedPods"], status["currentHealthy"]) == (3, 3)
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 1)  # 50% of 3 rounds up
    assert status["conditions"][0]["reason"] == "SufficientPods"


def test_a_drain_stops_at_the_budget_with_the_eviction_apis_429() -> None:
    sim = cluster(
        {"api:1": SERVER}, [deployment("api", "api:1", replicas=2), _pdb(maxUnavailable=0)], nodes=1
    )
    sim.advance(30)
    pod = _pods(sim, "api")[0]["metadata"]["name"]
    op = ApiOp(Verb.CREATE, Kind.POD, pod, NS, subresource="eviction", body={})
    with pytest.raises(
        ApiUnavailableError, match="disruption budget api needs 2 healthy pods and has 2"
    ):
        sim._execute(op, dry_run=False)
    assert len(_pods(sim, "api")) == 2
    sim.apply(PatchPdb(namespace=NS, name="api", max_unavailable=1), dry_run=False)
    spec = sim.get(Kind.POD_DISRUPTION_BUDGET, "api", NS)["spec"]
    assert spec == {"selector": {"matchLabels": {"app": "api"}}, "maxUnavailable": 1}
    sim._execute(op, dry_run=False)  # now one may go
    assert sim.get(Kind.POD, pod, NS)["metadata"].get("deletionTimestamp")


def test_a_budget_with_both_fields_is_refused() -> None:
    sim = cluster({}, [], nodes=1)
    with pytest.raises(InvalidObjectError, match="cannot be both set"):
        sim.create_manifest(_pdb(minAvailable=1, maxUnavailable=1))


# Jobs -------------------------------------------------------------------------------------------
def _job(
    parallelism: int = 2, completions: int = 4, policy: str | None = "Never"
) -> dict[str, Any]:
    tspec: dict[str, Any] = {
        "containers": [
            {
                "name": "work",
                "image": "batch:1",
                "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}},
            }
        ]
    }
    if policy:
        tspec["restartPolicy"] = policy
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "reindex", "namespace": NS},
        "spec": {
            "parallelism": parallelism,
            "completions": completions,
            "template": {"spec": tspec},
        },
    }


BATCH = ImageBehaviour(completes_after_s=30.0)


def test_a_job_runs_its_completions_parallelism_at_a_time_and_completes() -> None:
    sim = cluster({"batch:1": BATCH}, [_job()], nodes=1)
    sim.advance(20)
    job = sim.get(Kind.JOB, "reindex", NS)
    assert (job["status"]["active"], job["status"]["succeeded"]) == (2, 0)
    sim.advance(120)
    job = sim.get(Kind.JOB, "reindex", NS)
    assert (job["status"]["active"], job["status"]["succeeded"]) == (0, 4)
    assert any(
        c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"]
    )
    pods = sim.list(Kind.POD, NS, label_selector="job-name=reindex")
    assert len(pods) == 4 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")


def test_job_pods_count_against_quota_and_suspending_frees_it() -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": NS},
        "spec": {"hard": {"pods": "3"}},
    }
    long_batch = ImageBehaviour(completes_after_s=3600.0)
    sim = cluster(
        {"batch:1": long_batch, "api:1": SERVER},
        [quota, _job(parallelism=3, completions=10)],
        nodes=2,
    )
    sim.advance(20)
    sim.create_manifest(deployment("api", "api:1", replicas=1))
    sim.advance(20)
    assert not _pods(sim, "api")
    failed = [e["message"] for e in sim.list(Kind.EVENT, NS) if e["reason"] == "FailedCreate"]
    assert failed and "exceeded quota: compute" in failed[-1]
    sim.apply(SuspendJob(namespace=NS, name="reindex"), dry_run=False)
    sim.advance(60)
    job = sim.get(Kind.JOB, "reindex", NS)
    assert job["status"]["active"] == 0
    assert any(
        c["type"] == "Suspended" and c["status"] == "True" for c in job["status"]["conditions"]
    )
    assert len(_pods(sim, "api")) == 1


def test_a_job_needs_never_or_on_failure() -> None:
    sim = cluster({}, [], nodes=1)
    with pytest.raises(InvalidObjectError, match="restartPolicy: Required value"):
        sim.create_manifest(_job(policy=None))
    with pytest.raises(InvalidObjectError, match='Unsupported value: "Always"'):
        sim.create_manifest(_job(policy="Always"))


def test_a_failing_job_stops_at_its_backoff_limit() -> None:
    crash = ImageBehaviour(requires=Requirements(env=["MISSING"]))
    job = _job(parallelism=1, completions=1)
    job["spec"]["backoffLimit"] = 2
    sim = cluster({"batch:1": crash}, [job], nodes=1)
    sim.advance(120)
    status = sim.get(Kind.JOB, "reindex", NS)["status"]
    assert status["failed"] == 3 and status["active"] == 0
    assert any(c["reason"] == "BackoffLimitExceeded" for c in status["conditions"])


# Node memory pressure and the eviction manager -------------------------------------------------
def test_memory_pressure_taints_the_node_and_evicts_the_pod_most_over_its_request() -> None:
    leaky = ImageBehaviour(memory=MemoryProfile(base_mib=100, leak_mib_per_min=400))
    steady = ImageBehaviour(memory=MemoryProfile(base_mib=200))
    hog = deployment("hog", "hog:1", replicas=1, requests={"cpu": "100m", "memory": "64Mi"})
    hog["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits")
    calm = deployment("calm", "calm:1", replicas=1, requests={"cpu": "100m", "memory": "256Mi"})
    sim = SimCluster(
        seed=0, nodes=[NodeGroup(count=1, memory="2Gi")], images={"hog:1": leaky, "calm:1": steady}
    )
    for m in (hog, calm):
        sim.create_manifest(m)
    sim.advance(300)
    node = sim.get(Kind.NODE, "node-1")
    pressure = next(c for c in node["status"]["conditions"] if c["type"] == "MemoryPressure")
    evicted = [p for p in sim.list(Kind.POD, NS) if p["status"].get("reason") == "Evicted"]
    assert evicted and all(p["metadata"]["name"].startswith("hog-") for p in evicted)
    assert evicted[0]["status"]["phase"] == "Failed"
    assert evicted[0]["status"]["message"].startswith(
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
    )
    assert "Container hog was using" in evicted[0]["status"]["message"]
    assert _pods(sim, "calm")[0]["status"]["phase"] == "Running"  # within its request: spared
    assert pressure["status"] == "True" or any(
        e["reason"] == "NodeHasInsufficientMemory" for e in sim.list(Kind.EVENT, "default")
    )
    reasons = {e["reason"] for e in sim.list(Kind.EVENT, NS)}
    assert "Evicted" in reasons
    assert any(p["status"]["phase"] != "Failed" for p in _pods(sim, "hog"))  # replaced
    sim.apply(DeleteEvictedPods(namespace=NS), dry_run=False)
    sim.advance(5)
    assert not [p for p in sim.list(Kind.POD, NS) if p["status"].get("reason") == "Evicted"] or all(
        p["metadata"].get("deletionTimestamp")
        for p in sim.list(Kind.POD, NS)
        if p["status"].get("reason") == "Evicted"
    )


def test_patch_scheduling_moves_pods_that_fit_no_node() -> None:
    app = deployment("api", "api:1", replicas=1)
    app["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "gpu"}
    sim = cluster({"api:1": SERVER}, [app], nodes=1)
    sim.advance(30)
    (pod,) = _pods(sim, "api")
    assert pod["status"]["phase"] == "Pending"
    sim.apply(PatchScheduling(namespace=NS, name="api", node_selector={}), dry_run=False)
    sim.advance(60)
    assert [p["status"]["phase"] for p in _pods(sim, "api")] == ["Running"]


# Node CPU contention -----------------------------------------------------------------------------
def _p99(sim: SimCluster, svc: str) -> float:
    (m,) = [m for m in sim.service_metrics(NS) if m.service == svc]
    return m.latency_p99_ms


def test_a_noisy_neighbour_slows_pods_that_burst_above_their_request_not_those_within_it() -> None:
    images = {
        "noisy:1": ImageBehaviour(cpu=CpuProfile(base_millicores=1800, per_rps_millicores=0)),
        "bursty:1": ImageBehaviour(cpu=CpuProfile(base_millicores=20, per_rps_millicores=10)),
        "steady:1": ImageBehaviour(cpu=CpuProfile(base_millicores=20, per_rps_millicores=5)),
    }
    small = {"cpu": "100m", "memory": "64Mi"}
    apps = [
        deployment(
            "bursty", "bursty:1", replicas=1, requests=small, limits={"cpu": "1", "memory": "128Mi"}
        ),
        deployment(
            "steady",
            "steady:1",
            replicas=1,
            requests={"cpu": "500m", "memory": "64Mi"},
            limits={"cpu": "1", "memory": "128Mi"},
        ),
        service("bursty"),
        service("steady"),
    ]

    def run(with_noisy: bool) -> SimCluster:
        sim = SimCluster(seed=0, nodes=[NodeGroup(count=1, cpu="2")], images=images)
        for m in apps:
            sim.create_manifest(m)
        if with_noisy:
            sim.create_manifest(
                deployment(
                    "noisy",
                    "noisy:1",
                    replicas=1,
                    requests=small,
                    limits={"cpu": "2", "memory": "128Mi"},
                )
            )
        sim.set_traffic(NS, "bursty", 50.0)  # 520m wanted, 100m requested
        sim.set_traffic(NS, "steady", 40.0)  # 220m wanted, 500m requested
        sim.advance(60)
        return sim

    quiet, busy = run(False), run(True)
    assert _p99(busy, "bursty") > 1.5 * _p99(quiet, "bursty")
    assert _p99(busy, "steady") == pytest.approx(_p99(quiet, "steady"))


@pytest.mark.parametrize(
    ("behaviour", "group", "condition", "resource"),
    [
        (
            ImageBehaviour(storage=StorageProfile(growth_mib_per_min=2048)),
            NodeGroup(count=1, ephemeral_storage="10Gi"),
            "DiskPressure",
            "ephemeral-storage",
        ),
        (
            ImageBehaviour(pids=PidProfile(base=50, leak_per_min=1500)),
            NodeGroup(count=1, pid_max=4096),
            "PIDPressure",
            "pids",
        ),
    ],
    ids=["disk", "pids"],
)
def test_disk_and_pid_pressure_taint_the_node_and_evict_the_pod_that_uses_them(
    behaviour: ImageBehaviour, group: NodeGroup, condition: str, resource: str
) -> None:
    sim = SimCluster(seed=0, nodes=[group], images={"spew:1": behaviour, "calm:1": SERVER})
    sim.create_manifest(deployment("spew", "spew:1", replicas=1))
    sim.create_manifest(deployment("calm", "calm:1", replicas=1))
    sim.advance(400)
    node = sim.get(Kind.NODE, "node-1")
    cond = next(c for c in node["status"]["conditions"] if c["type"] == condition)
    taints = {t["key"] for t in node["spec"].get("taints") or []}
    evicted = [p for p in sim.list(Kind.POD, NS) if p["status"].get("reason") == "Evicted"]
    assert evicted and all(p["metadata"]["name"].startswith("spew-") for p in evicted)
    assert f"The node was low on resource: {resource}." in evicted[0]["status"]["message"]
    assert cond["status"] == "True"
    assert f"node.kubernetes.io/{condition[:-8].lower()}-pressure" in taints
    assert _pods(sim, "calm")[0]["status"]["phase"] == "Running"
