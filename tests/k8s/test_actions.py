"""Typed actions: parsing model output, the exact API requests they plan, the write allowlist."""

from __future__ import annotations

import pytest

from apps.k8s.actions import (
    ApiOp,
    CordonNode,
    DeletePod,
    DrainNode,
    PatchConfigMap,
    PatchEnv,
    PatchHpa,
    PatchProbe,
    PatchResourceQuota,
    PatchResources,
    PatchServiceSelector,
    ProbeKind,
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
    Verb,
    action_to_dict,
    parse_action,
    plan_action,
)
from apps.k8s.exceptions import (
    ActionRefusedError,
    InvalidActionError,
    InvalidObjectError,
    ObjectNotFoundError,
    RevisionNotFoundError,
)
from apps.k8s.kinds import Kind
from apps.k8s.patching import PatchType
from apps.k8s.policy import WritePolicy
from apps.k8s.scenario import load_scenario
from apps.k8s.settings import K8sSettings
from apps.k8s.sim.cluster import SimCluster
from patterns.core.exceptions import PermanentError


@pytest.fixture(scope="module")
def shop() -> SimCluster:
    """The quota scenario's cluster after its bad rollout: two revisions, HPA-less, a quota."""
    sim = SimCluster.from_scenario(load_scenario("quota-exceeded"))
    sim.run_until(150)
    return sim


def test_parse_action_accepts_json_and_mappings_and_round_trips() -> None:
    text = '{"type": "scale", "namespace": "shop", "name": "api", "replicas": 3}'
    action = parse_action(text)
    assert action == ScaleDeployment(namespace="shop", name="api", replicas=3)
    assert parse_action(action_to_dict(action)) == action


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "scale", "namespace": "shop", "name": "api", "replicas": -1}, "$.replicas"),
        (
            {"type": "scale", "namespace": "shop", "name": "api", "replicas": 3, "force": True},
            "force",
        ),
        ({"type": "rm -rf", "namespace": "shop"}, "$.type"),
        ({"type": "restart", "namespace": "shop"}, "name"),
        (
            {"type": "patch_probe", "namespace": "s", "name": "a", "container": "c", "probe": "x"},
            "$.probe",
        ),
    ],
)
def test_parse_action_rejects_what_does_not_fit_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidActionError, match=field.replace("$", r"\$")):
        parse_action(data)


def test_parse_action_rejects_invalid_json() -> None:
    with pytest.raises(InvalidActionError, match="not valid JSON"):
        parse_action("{type: scale")


def test_restart_scale_and_undo_plan_kubectl_requests(shop: SimCluster) -> None:
    (restart,) = plan_action(RestartDeployment(namespace="shop", name="api"), shop)
    assert (restart.verb, restart.path, restart.patch_type) == (
        Verb.PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/api",
        PatchType.STRATEGIC,
    )
    annotations = restart.body["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"kubectl.kubernetes.io/restartedAt": shop.now_iso()}
    (scale,) = plan_action(ScaleDeployment(namespace="shop", name="api", replicas=2), shop)
    assert scale.path.endswith("/deployments/api/scale") and scale.rule == "patch deployments/scale"
    assert scale.body == {"spec": {"replicas": 2}} and scale.patch_type is PatchType.MERGE
    (undo,) = plan_action(RolloutUndo(namespace="shop", name="api"), shop)
    assert undo.patch_type is PatchType.JSON
    (op,) = undo.body
    assert (op["op"], op["path"]) == ("replace", "/spec/template")
    assert op["value"]["spec"]["containers"][0]["resources"]["requests"]["memory"] == "256Mi"
    assert "pod-template-hash" not in op["value"]["metadata"]["labels"]


def test_undo_to_the_current_template_is_a_no_op_and_unknown_revisions_fail(
    shop: SimCluster,
) -> None:
    sim = shop.fork()
    sim.apply(RolloutUndo(namespace="shop", name="api"))
    sim.advance(5)
    assert plan_action(RolloutUndo(namespace="shop", name="api", to_revision=3), sim) == []
    with pytest.raises(RevisionNotFoundError, match="revision 9"):
        plan_action(RolloutUndo(namespace="shop", name="api", to_revision=9), sim)
    with pytest.raises(RevisionNotFoundError, match="no rollout history"):
        plan_action(RolloutUndo(namespace="shop", name="frontend"), sim)


def test_container_patches_are_strategic_merges_by_container_name(shop: SimCluster) -> None:
    (res,) = plan_action(
        PatchResources(namespace="shop", name="api", container="api", limits={"memory": "2Gi"}),
        shop,
    )
    assert res.body == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "api", "resources": {"limits": {"memory": "2Gi"}}}]
                }
            }
        }
    }
    (env,) = plan_action(
        PatchEnv(namespace="shop", name="api", container="api", set={"A": "1"}, remove=["B"]), shop
    )
    assert env.body["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "$patch": "delete"},
    ]
    (probe,) = plan_action(
        PatchProbe(
            namespace="shop",
            name="api",
            container="api",
            probe=ProbeKind.LIVENESS,
            http_path="/healthz",
            port=8080,
            failure_threshold=5,
        ),
        shop,
    )
    assert probe.body["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 8080},
        "failureThreshold": 5,
    }
    with pytest.raises(InvalidObjectError, match="no container 'nope'"):
        plan_action(PatchEnv(namespace="shop", name="api", container="nope", set={"A": "1"}), shop)
    with pytest.raises(InvalidActionError, match=r"limits\.cpu"):
        plan_action(
            PatchResources(namespace="shop", name="api", container="api", limits={"cpu": "lots"}),
            shop,
        )


def test_object_patches_use_the_patch_type_kubectl_uses(shop: SimCluster) -> None:
    sim = shop.fork()
    sim.create_manifest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "shop"},
            "data": {"a": "1"},
        }
    )
    (cm,) = plan_action(
        PatchConfigMap(namespace="shop", name="cfg", set={"b": "2"}, remove=["a"]), sim
    )
    assert (cm.patch_type, cm.body) == (PatchType.MERGE, {"data": {"b": "2", "a": None}})
    (sel,) = plan_action(
        PatchServiceSelector(namespace="shop", name="api", selector={"app": "api"}), sim
    )
    assert sel.body == [{"op": "replace", "path": "/spec/selector", "value": {"app": "api"}}]
    (quota,) = plan_action(
        PatchResourceQuota(namespace="shop", name="compute-quota", hard={"pods": "30"}), sim
    )
    assert quota.body == {"spec": {"hard": {"pods": "30"}}} and quota.rule == "patch resourcequotas"


def test_pod_node_and_claim_actions(shop: SimCluster) -> None:
    sim = shop.fork()
    ops = plan_action(DeletePod(namespace="shop", label_selector="app=frontend"), sim)
    assert [o.verb for o in ops] == [Verb.DELETE, Verb.DELETE] and all(
        o.kind is Kind.POD for o in ops
    )
    node = sim.list(Kind.POD, "shop", label_selector="app=frontend")[0]["spec"]["nodeName"]
    on_node = [p for p in sim.list(Kind.POD, field_selector=f"spec.nodeName={node}")]
    drain = plan_action(DrainNode(node=node), sim)
    assert drain[0] == ApiOp(
        Verb.PATCH,
        Kind.NODE,
        node,
        body={"spec": {"unschedulable": True}},
        patch_type=PatchType.STRATEGIC,
    )
    assert [o.rule for o in drain[1:]] == ["create pods/eviction"] * len(on_node)
    assert drain[1].path == f"/api/v1/namespaces/shop/pods/{drain[1].name}/eviction"
    assert drain[1].body["kind"] == "Eviction"
    (uncordon,) = plan_action(CordonNode(node=node, uncordon=True), sim)
    assert uncordon.body == {"spec": {"unschedulable": None}}
    with pytest.raises(ObjectNotFoundError):
        plan_action(DeletePod(namespace="shop", label_selector="app=ghost"), sim)
    with pytest.raises(ObjectNotFoundError):
        plan_action(CordonNode(node="node-99"), sim)
    sim.create_manifest(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "shop", "labels": {"app": "x"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "gold",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    delete, create = plan_action(
        RecreatePvc(namespace="shop", name="data", storage_class="standard"), sim
    )
    assert (delete.verb, create.verb, create.path) == (
        Verb.DELETE,
        Verb.CREATE,
        "/api/v1/namespaces/shop/persistentvolumeclaims",
    )
    assert create.body["spec"]["storageClassName"] == "standard"
    assert create.body["metadata"] == {"name": "data", "namespace": "shop", "labels": {"app": "x"}}


def test_hpa_patch_checks_bounds() -> None:
    sim = SimCluster.from_scenario(load_scenario("traffic-spike-hpa-max"))
    (op,) = plan_action(
        PatchHpa(namespace="shop", name="api", max_replicas=20, target_cpu_utilization=60), sim
    )
    assert op.path == "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/api"
    assert op.body["spec"]["maxReplicas"] == 20
    assert op.body["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    with pytest.raises(InvalidActionError, match="minReplicas 3 > maxReplicas 2"):
        plan_action(PatchHpa(namespace="shop", name="api", min_replicas=3, max_replicas=2), sim)


def test_write_policy_refuses_outside_the_allowlist_naming_why() -> None:
    policy = WritePolicy.from_settings(
        K8sSettings(write_namespaces=["shop"], allowed_verbs=["patch", "create"])
    )
    ok = ApiOp(Verb.PATCH, Kind.DEPLOYMENT, "api", "shop", body={}, patch_type=PatchType.STRATEGIC)
    policy.check([ok])
    cases = [
        (ApiOp(Verb.PATCH, Kind.DEPLOYMENT, "api", "kube-system"), "namespace 'kube-system'"),
        (ApiOp(Verb.DELETE, Kind.POD, "p", "shop"), "verb 'delete' is not allowed"),
        (ApiOp(Verb.DELETE, Kind.DEPLOYMENT, "api", "shop"), "verb 'delete'"),
        (
            ApiOp(Verb.PATCH, Kind.STORAGE_CLASS, "standard"),
            "'patch storageclasses' is not in the write allowlist",
        ),
    ]
    for op, why in cases:
        with pytest.raises(ActionRefusedError, match=why) as info:
            policy.check([ok, op])
        assert isinstance(info.value, PermanentError)
    no_nodes = WritePolicy.from_settings(K8sSettings(allow_node_operations=False))
    with pytest.raises(ActionRefusedError, match="cluster-scoped writes"):
        no_nodes.check([ApiOp(Verb.PATCH, Kind.NODE, "node-1")])
