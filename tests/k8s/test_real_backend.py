"""The real backend over real HTTP against a Kubernetes API mock server (kmock).

Every read and write: request paths, verbs, query parameters (dry run, field manager,
selectors, paging, watch), bodies and content types, and the mapping of API errors
and timeouts to the project's exceptions.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import kmock
import pytest
import yaml

from apps.k8s.actions import (
    Action,
    ApiOp,
    CordonNode,
    DeleteEvictedPods,
    DeletePod,
    DrainNode,
    PatchConfigMap,
    PatchEnv,
    PatchHpa,
    PatchPdb,
    PatchProbe,
    PatchResourceQuota,
    PatchResources,
    PatchScheduling,
    PatchSecret,
    PatchServiceSelector,
    ProbeKind,
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
    ScaleJob,
    SuspendJob,
    Toleration,
    Verb,
)
from apps.k8s.cluster import WatchEventType
from apps.k8s.exceptions import (
    ActionRefusedError,
    ApiForbiddenError,
    ApiTimeoutError,
    ApiUnauthorizedError,
    ApiUnavailableError,
    ConflictError,
    InvalidObjectError,
    ObjectNotFoundError,
)
from apps.k8s.kinds import KINDS, Kind
from apps.k8s.patching import PatchType
from apps.k8s.real import RealCluster
from apps.k8s.settings import ClusterBackend, K8sSettings
from patterns.core.exceptions import DeadlineExceededError, PermanentError, RetryableError
from tests.k8s.apiserver import ApiEmulator, ApiServer

NS = "shop"
DEPLOY_PATH = "/apis/apps/v1/namespaces/shop/deployments/api"
TEMPLATE = {
    "metadata": {"labels": {"app": "api"}},
    "spec": {
        "containers": [
            {"name": "api", "image": "api:2", "resources": {"limits": {"memory": "512Mi"}}}
        ]
    },
}


def seed_objects(em: ApiEmulator) -> None:
    """A small namespace: a deployment with two revisions, pods on a node, and friends."""
    em.put(Kind.NODE, {"metadata": {"name": "node-1"}, "spec": {}})
    em.put(
        Kind.DEPLOYMENT,
        {
            "metadata": {
                "name": "api",
                "namespace": NS,
                "uid": "d-1",
                "annotations": {"deployment.kubernetes.io/revision": "2"},
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "api"}},
                "template": TEMPLATE,
            },
        },
    )
    for rev, image in ((1, "api:1"), (2, "api:2")):
        tpl = yaml.safe_load(yaml.safe_dump(TEMPLATE))
        tpl["spec"]["containers"][0]["image"] = image
        tpl["metadata"]["labels"]["pod-template-hash"] = f"h{rev}"
        em.put(
            Kind.REPLICA_SET,
            {
                "metadata": {
                    "name": f"api-h{rev}",
                    "namespace": NS,
                    "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                    "ownerReferences": [
                        {"kind": "Deployment", "name": "api", "uid": "d-1", "controller": True}
                    ],
                },
                "spec": {"template": tpl},
            },
        )
    for i in range(3):
        em.put(
            Kind.POD,
            {
                "metadata": {"name": f"api-h2-{i}", "namespace": NS, "labels": {"app": "api"}},
                "spec": {"nodeName": "node-1"},
            },
        )
    em.put(Kind.CONFIG_MAP, {"metadata": {"name": "cfg", "namespace": NS}, "data": {"a": "1"}})
    em.put(
        Kind.POD_DISRUPTION_BUDGET,
        {
            "metadata": {"name": "api", "namespace": NS},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "api"}}},
        },
    )
    em.put(
        Kind.POD,
        {
            "metadata": {"name": "batch-ev-0", "namespace": NS, "labels": {"app": "batch"}},
            "spec": {"nodeName": "node-2"},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
        },
    )
    em.put(
        Kind.JOB,
        {"metadata": {"name": "reindex", "namespace": NS}, "spec": {"parallelism": 4}},
    )
    em.put(
        Kind.SECRET,
        {
            "metadata": {"name": "creds", "namespace": NS},
            "type": "Opaque",
            "data": {"pw": "aHVudGVy"},
        },
    )
    em.put(
        Kind.SERVICE,
        {"metadata": {"name": "api", "namespace": NS}, "spec": {"selector": {"app": "apx"}}},
    )
    em.put(
        Kind.RESOURCE_QUOTA,
        {"metadata": {"name": "q", "namespace": NS}, "spec": {"hard": {"pods": "10"}}},
    )
    em.put(
        Kind.HORIZONTAL_POD_AUTOSCALER,
        {
            "metadata": {"name": "api", "namespace": NS},
            "spec": {"minReplicas": 1, "maxReplicas": 4},
        },
    )
    em.put(
        Kind.PERSISTENT_VOLUME_CLAIM,
        {
            "metadata": {"name": "data", "namespace": NS},
            "spec": {"storageClassName": "gold", "volumeName": "pv-1"},
        },
    )
    em.put(Kind.ENDPOINTS, {"metadata": {"name": "api", "namespace": NS}})
    em.put(Kind.EVENT, {"metadata": {"name": "api.1", "namespace": NS}, "reason": "BackOff"})
    em.put(Kind.STORAGE_CLASS, {"metadata": {"name": "standard"}, "provisioner": "x"})


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        srv.call(lambda: seed_objects(srv.handler))
        yield srv


def connect(srv: ApiServer, **overrides: Any) -> RealCluster:
    options: dict[str, Any] = {"request_timeout_s": 5, **overrides}
    settings = K8sSettings(
        backend=ClusterBackend.REAL, api_url=srv.url, bearer_token="s3cret", **options
    )
    return RealCluster.from_settings(settings)


def stored(srv: ApiServer, kind: Kind, name: str, ns: str = NS) -> dict[str, Any] | None:
    return srv.call(lambda: srv.handler.find(kind, name, ns))


def test_reads_every_kind_at_its_api_path_with_the_bearer_token(server: ApiServer) -> None:
    real = connect(server)
    for kind, info in KINDS.items():
        ns = NS if info.namespaced else None
        items = real.list(kind, ns)
        assert items, kind
        assert all(i["apiVersion"] == info.api_version and i["kind"] == kind.value for i in items)
        first = items[0]["metadata"]["name"]
        assert real.get(kind, first, NS)["metadata"]["name"] == first
    reqs = server.requests()
    paths = {r.url.path for r in reqs}
    assert "/api/v1/namespaces/shop/pods" in paths and "/api/v1/nodes" in paths
    assert "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/api" in paths
    assert "/apis/storage.k8s.io/v1/storageclasses/standard" in paths
    assert {r.headers.get("Authorization") for r in reqs} == {"Bearer s3cret"}
    assert all(r.method.value == "GET" for r in reqs)


def test_list_pages_with_limit_and_continue_and_passes_selectors(
    server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("apps.k8s.real.LIST_PAGE_SIZE", 2)
    real = connect(server)
    pods = real.list(Kind.POD, NS, label_selector="app=api", field_selector="spec.nodeName=node-1")
    assert [p["metadata"]["name"] for p in pods] == ["api-h2-0", "api-h2-1", "api-h2-2"]
    pages = [r for r in server.requests() if r.url.path == "/api/v1/namespaces/shop/pods"]
    assert [dict(r.params) for r in pages] == [
        {"labelSelector": "app=api", "fieldSelector": "spec.nodeName=node-1", "limit": "2"},
        {
            "labelSelector": "app=api",
            "fieldSelector": "spec.nodeName=node-1",
            "limit": "2",
            "continue": "2",
        },
    ]
    assert real.list(Kind.POD) and server.requests()[-1].url.path == "/api/v1/pods"


def test_pod_metrics_from_metrics_server(server: ApiServer) -> None:
    metrics = {
        "metadata": {"name": "api-h2-0", "namespace": NS},
        "containers": [{"name": "api", "usage": {"cpu": "5m", "memory": "10Mi"}}],
    }
    server.call(lambda: server.handler.put_raw("metrics.k8s.io", "v1beta1", "pods", metrics))
    real = connect(server)
    (m,) = real.pod_metrics(NS)
    assert m["kind"] == "PodMetrics" and m["containers"][0]["usage"]["cpu"] == "5m"
    assert server.requests()[-1].url.path == "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"


def _patch_for(srv: ApiServer, path: str) -> kmock.Request:
    (req,) = [r for r in srv.writes() if r.url.path == path]
    return req


WRITES: list[tuple[Action, str, str, str | None]] = [
    (
        RestartDeployment(namespace=NS, name="api"),
        "PATCH",
        DEPLOY_PATH,
        "application/strategic-merge-patch+json",
    ),
    (
        ScaleDeployment(namespace=NS, name="api", replicas=4),
        "PATCH",
        DEPLOY_PATH + "/scale",
        "application/merge-patch+json",
    ),
    (RolloutUndo(namespace=NS, name="api"), "PATCH", DEPLOY_PATH, "application/json-patch+json"),
    (
        PatchResources(namespace=NS, name="api", container="api", limits={"memory": "1Gi"}),
        "PATCH",
        DEPLOY_PATH,
        "application/strategic-merge-patch+json",
    ),
    (
        PatchEnv(namespace=NS, name="api", container="api", set={"A": "1"}),
        "PATCH",
        DEPLOY_PATH,
        "application/strategic-merge-patch+json",
    ),
    (
        PatchProbe(
            namespace=NS, name="api", container="api", probe=ProbeKind.READINESS, http_path="/ready"
        ),
        "PATCH",
        DEPLOY_PATH,
        "application/strategic-merge-patch+json",
    ),
    (
        PatchConfigMap(namespace=NS, name="cfg", set={"b": "2"}),
        "PATCH",
        "/api/v1/namespaces/shop/configmaps/cfg",
        "application/merge-patch+json",
    ),
    (
        PatchSecret(namespace=NS, name="creds", set={"pw": "hunter3"}, remove=["old"]),
        "PATCH",
        "/api/v1/namespaces/shop/secrets/creds",
        "application/merge-patch+json",
    ),
    (
        PatchPdb(namespace=NS, name="api", max_unavailable=1),
        "PATCH",
        "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/api",
        "application/merge-patch+json",
    ),
    (
        SuspendJob(namespace=NS, name="reindex"),
        "PATCH",
        "/apis/batch/v1/namespaces/shop/jobs/reindex",
        "application/merge-patch+json",
    ),
    (
        ScaleJob(namespace=NS, name="reindex", parallelism=1),
        "PATCH",
        "/apis/batch/v1/namespaces/shop/jobs/reindex",
        "application/merge-patch+json",
    ),
    (
        PatchScheduling(
            namespace=NS,
            name="api",
            node_selector={"pool": "general"},
            tolerations=[Toleration(key="dedicated", operator="Exists", effect="NoSchedule")],
        ),
        "PATCH",
        DEPLOY_PATH,
        "application/json-patch+json",
    ),
    (
        DeleteEvictedPods(namespace=NS),
        "DELETE",
        "/api/v1/namespaces/shop/pods/batch-ev-0",
        "application/json",
    ),
    (
        DeletePod(namespace=NS, name="api-h2-0"),
        "DELETE",
        "/api/v1/namespaces/shop/pods/api-h2-0",
        "application/json",
    ),
    (
        CordonNode(node="node-1"),
        "PATCH",
        "/api/v1/nodes/node-1",
        "application/strategic-merge-patch+json",
    ),
    (
        PatchHpa(namespace=NS, name="api", max_replicas=10),
        "PATCH",
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/api",
        "application/merge-patch+json",
    ),
    (
        PatchServiceSelector(namespace=NS, name="api", selector={"app": "api"}),
        "PATCH",
        "/api/v1/namespaces/shop/services/api",
        "application/json-patch+json",
    ),
    (
        PatchResourceQuota(namespace=NS, name="q", hard={"pods": "20"}),
        "PATCH",
        "/api/v1/namespaces/shop/resourcequotas/q",
        "application/merge-patch+json",
    ),
]


@pytest.mark.parametrize(
    ("action", "method", "path", "ctype"), WRITES, ids=[type(w[0]).__name__ for w in WRITES]
)
def test_each_write_defaults_to_server_side_dry_run(
    server: ApiServer, action: Action, method: str, path: str, ctype: str | None
) -> None:
    real = connect(server)
    before = server.call(lambda: dict(server.handler.db))
    result = real.apply(action)
    assert result.dry_run
    (req,) = server.writes()
    assert (req.method.value, req.url.path, req.headers.get("Content-Type")) == (
        method,
        path,
        ctype,
    )
    assert req.params.get("dryRun") == "All"
    if method == "PATCH":
        assert req.params.get("fieldManager") == "swarmkit-healer"
        expected = real.plan(action)[0].body
        if isinstance(action, RestartDeployment):  # the plan stamps the time again
            stamp = "kubectl.kubernetes.io/restartedAt"
            annotations = req.data["spec"]["template"]["metadata"]["annotations"]
            assert annotations[stamp].endswith("Z")
            annotations[stamp] = expected["spec"]["template"]["metadata"]["annotations"][stamp]
        assert req.data == expected
    else:
        assert req.data == {"apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["All"]}
    assert server.call(lambda: dict(server.handler.db)) == before  # nothing persisted


def test_writes_persist_when_dry_run_is_off(server: ApiServer) -> None:
    real = connect(server)
    real.apply(RolloutUndo(namespace=NS, name="api"), dry_run=False)
    deploy = stored(server, Kind.DEPLOYMENT, "api")
    assert (
        deploy is not None
        and deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "api:1"
    )
    real.apply(ScaleDeployment(namespace=NS, name="api", replicas=5), dry_run=False)
    assert stored(server, Kind.DEPLOYMENT, "api")["spec"]["replicas"] == 5  # type: ignore[index]
    real.apply(
        PatchConfigMap(namespace=NS, name="cfg", remove=["a"], set={"b": "2"}), dry_run=False
    )
    assert stored(server, Kind.CONFIG_MAP, "cfg")["data"] == {"b": "2"}  # type: ignore[index]
    real.apply(
        PatchServiceSelector(namespace=NS, name="api", selector={"app": "api"}), dry_run=False
    )
    assert stored(server, Kind.SERVICE, "api")["spec"]["selector"] == {"app": "api"}  # type: ignore[index]


def test_secret_patch_sends_base64_data_and_never_the_plain_value(server: ApiServer) -> None:
    real = connect(server)
    real.apply(PatchSecret(namespace=NS, name="creds", set={"pw": "hunter3"}), dry_run=False)
    (req,) = server.writes()
    assert req.data == {"data": {"pw": "aHVudGVyMw=="}}
    assert stored(server, Kind.SECRET, "creds")["data"] == {"pw": "aHVudGVyMw=="}  # type: ignore[index]


def test_read_secrets_off_never_reads_a_secret(server: ApiServer) -> None:
    real = connect(server, read_secrets=False)
    obs = real.observe([NS])
    batch = real.changes(None, [Kind.SECRET, Kind.CONFIG_MAP])
    assert obs.objects[Kind.SECRET] == [] and obs.objects[Kind.CONFIG_MAP]
    assert {e.kind for e in batch.events} == {Kind.CONFIG_MAP}
    assert not [r for r in server.requests() if "secrets" in r.url.path]
    assert real.changes(None, [Kind.SECRET]).events == []


def test_drain_cordons_then_evicts_every_pod(server: ApiServer) -> None:
    real = connect(server)
    real.apply(DrainNode(node="node-1"), dry_run=False)
    writes = server.writes()
    assert [(r.method.value, r.url.path) for r in writes] == [("PATCH", "/api/v1/nodes/node-1")] + [
        ("POST", f"/api/v1/namespaces/shop/pods/api-h2-{i}/eviction") for i in range(3)
    ]
    assert writes[1].data == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "api-h2-0", "namespace": NS},
    }
    assert stored(server, Kind.NODE, "node-1", "")["spec"]["unschedulable"] is True  # type: ignore[index]
    assert stored(server, Kind.POD, "api-h2-0") is None
    server.call(lambda: seed_objects(server.handler))
    real.apply(DrainNode(node="node-1"))
    evictions = [r for r in server.writes()[4:] if r.url.path.endswith("/eviction")]
    assert evictions and all(
        r.data["deleteOptions"] == {"dryRun": ["All"]} and r.params["dryRun"] == "All"
        for r in evictions
    )


def test_recreate_pvc_deletes_then_creates_with_the_new_class(server: ApiServer) -> None:
    real = connect(server)
    result = real.apply(
        RecreatePvc(namespace=NS, name="data", storage_class="standard"), dry_run=False
    )
    delete, create = server.writes()
    assert (delete.method.value, create.method.value) == ("DELETE", "POST")
    assert create.url.path == "/api/v1/namespaces/shop/persistentvolumeclaims"
    assert create.data["spec"] == {"storageClassName": "standard"}  # volumeName dropped
    assert (
        stored(server, Kind.PERSISTENT_VOLUME_CLAIM, "data")["spec"]["storageClassName"]
        == "standard"
    )  # type: ignore[index]
    assert len(result.objects) == 2


def test_allowlist_refuses_before_sending_any_write(server: ApiServer) -> None:
    real = connect(server, write_namespaces=["payments"])
    with pytest.raises(ActionRefusedError, match="namespace 'shop' is not in the write allowlist"):
        real.apply(RestartDeployment(namespace=NS, name="api"), dry_run=False)
    patch_only = connect(server, allowed_verbs=["patch"])
    with pytest.raises(ActionRefusedError, match="verb 'create'") as info:
        patch_only.apply(DrainNode(node="node-1"), dry_run=False)
    assert "pods/eviction shop/api-h2-0" in str(info.value)
    no_nodes = connect(server, allow_node_operations=False)
    with pytest.raises(ActionRefusedError, match="cluster-scoped"):
        no_nodes.apply(CordonNode(node="node-1"))
    assert server.writes() == []
    assert stored(server, Kind.NODE, "node-1", "")["spec"] == {}  # type: ignore[index]


STATUS_CASES = [
    (401, ApiUnauthorizedError, PermanentError),
    (403, ApiForbiddenError, PermanentError),
    (404, ObjectNotFoundError, PermanentError),
    (409, ConflictError, RetryableError),
    (422, InvalidObjectError, PermanentError),
    (429, ApiUnavailableError, RetryableError),
    (500, ApiUnavailableError, RetryableError),
    (503, ApiUnavailableError, RetryableError),
]


@pytest.mark.parametrize(
    ("code", "error", "family"), STATUS_CASES, ids=[str(c[0]) for c in STATUS_CASES]
)
def test_api_errors_map_to_project_exceptions(
    server: ApiServer, code: int, error: type[Exception], family: type[Exception]
) -> None:
    message = f'deployments.apps "api" is forbidden: code {code} from the mock'
    server.react(
        f"patch {DEPLOY_PATH}",
        kmock.KubernetesError(status=code, reason="Failure", message=message),
    )
    real = connect(server)
    with pytest.raises(
        error, match=f"PATCH {DEPLOY_PATH}: HTTP {code}: .*code {code} from the mock"
    ) as info:
        real.apply(RestartDeployment(namespace=NS, name="api"))
    assert isinstance(info.value, family)


def test_missing_objects_and_invalid_patches_map_from_the_server(server: ApiServer) -> None:
    real = connect(server)
    with pytest.raises(ObjectNotFoundError, match='HTTP 404: deployments "ghost" not found'):
        real.get(Kind.DEPLOYMENT, "ghost", NS)
    bad = ApiOp(
        Verb.PATCH,
        Kind.SERVICE,
        "api",
        NS,
        body=[{"op": "replace", "path": "/spec/nothing", "value": 1}],
        patch_type=PatchType.JSON,
    )
    with pytest.raises(InvalidObjectError, match="HTTP 422"):
        real._execute(bad, dry_run=False)
    server.react(
        "post /api/v1/namespaces/shop/persistentvolumeclaims",
        kmock.KubernetesError(status=409, reason="AlreadyExists", message="exists"),
    )
    # A dry run never sends the create after the delete (see the next test), so persist.
    with pytest.raises(ConflictError):
        real.apply(RecreatePvc(namespace=NS, name="data", storage_class="standard"), dry_run=False)


def test_timeouts_are_retryable_deadline_errors(server: ApiServer) -> None:
    server.hold("get /api/v1/namespaces/shop/pods")
    real = connect(server, request_timeout_s=0.2)
    with pytest.raises(ApiTimeoutError, match="timed out") as info:
        real.list(Kind.POD, NS)
    assert isinstance(info.value, DeadlineExceededError) and isinstance(info.value, RetryableError)


def test_unreachable_api_server_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    real = RealCluster.from_settings(
        K8sSettings(api_url=f"http://127.0.0.1:{port}", request_timeout_s=1)
    )
    with pytest.raises(ApiUnavailableError, match="unreachable"):
        real.get(Kind.NODE, "node-1")


def test_change_feed_lists_then_watches_from_resource_versions(server: ApiServer) -> None:
    real = connect(server, watch_timeout_s=7)
    first = real.changes(kinds=[Kind.DEPLOYMENT, Kind.CONFIG_MAP])
    assert {(e.kind, e.type) for e in first.events} == {
        (Kind.DEPLOYMENT, WatchEventType.ADDED),
        (Kind.CONFIG_MAP, WatchEventType.ADDED),
    }
    rv = first.cursor["Deployment"]
    real.apply(ScaleDeployment(namespace=NS, name="api", replicas=3), dry_run=False)
    second = real.changes(first.cursor, kinds=[Kind.DEPLOYMENT, Kind.CONFIG_MAP])
    assert [(e.kind, e.type, e.object["spec"]["replicas"]) for e in second.events] == [
        (Kind.DEPLOYMENT, WatchEventType.MODIFIED, 3)
    ]
    assert int(second.cursor["Deployment"]) > int(rv) and not second.resync
    watches = [r for r in server.requests() if r.params.get("watch") == "true"]
    assert {r.url.path for r in watches} == {"/apis/apps/v1/deployments", "/api/v1/configmaps"}
    assert all(
        r.params["timeoutSeconds"] == "7" and r.params["allowWatchBookmarks"] == "true"
        for r in watches
    )
    assert {r.params["resourceVersion"] for r in watches} == {rv}
    server.call(server.handler.compact)
    third = real.changes(second.cursor, kinds=[Kind.DEPLOYMENT])
    assert third.resync and [e.type for e in third.events] == [WatchEventType.ADDED]


def test_service_metrics_come_from_prometheus() -> None:
    def answer(req: kmock.Request) -> dict[str, Any]:
        query = req.params["query"]
        if "histogram_quantile(0.99" in query:
            value = "0.3"
        elif "histogram_quantile(0.5" in query:
            value = "0.02"
        elif 'code=~"5.."' in query:
            value = "5"
        else:
            value = "100"
        sample = {"metric": {"namespace": "shop", "service": "api"}, "value": [0, value]}
        return {"status": "success", "data": {"resultType": "vector", "result": [sample]}}

    with ApiServer(kmock.RawHandler) as prom:
        prom.react("get /api/v1/query", answer)
        real = RealCluster.from_settings(
            K8sSettings(api_url="http://127.0.0.1:1", prometheus_url=prom.url)
        )
        (m,) = real.service_metrics(NS)
        queries = [r.params["query"] for r in prom.requests()]
    assert (m.service, m.request_rate_rps, m.error_rate) == ("api", 100.0, 0.05)
    assert (m.latency_p50_ms, m.latency_p99_ms) == pytest.approx((20.0, 300.0))
    assert len(queries) == 4 and all('namespace="shop"' in q for q in queries)


def test_kubeconfig_content_configures_the_client(server: ApiServer) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mock", "cluster": {"server": server.url}}],
        "users": [{"name": "healer", "user": {"token": "from-kubeconfig"}}],
        "contexts": [
            {"name": "mock", "context": {"cluster": "mock", "user": "healer", "namespace": NS}}
        ],
        "current-context": "mock",
    }
    real = RealCluster.from_settings(K8sSettings(kubeconfig_content=yaml.safe_dump(kubeconfig)))
    assert real.get(Kind.CONFIG_MAP, "cfg", NS)["data"] == {"a": "1"}
    assert server.requests()[-1].headers["Authorization"] == "Bearer from-kubeconfig"
    assert "from-kubeconfig" not in repr(K8sSettings(kubeconfig_content=yaml.safe_dump(kubeconfig)))
