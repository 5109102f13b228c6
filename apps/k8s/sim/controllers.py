"""The simulated control plane: deployment, replica set, endpoints, node, PVC, quota, HPA."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    POD_TEMPLATE_HASH,
    REVISION_ANNOTATION,
    SIM_EPOCH,
    KubeObject,
    canonical_json,
    condition,
    deep_copy,
    is_node_ready,
    is_pod_ready,
    label_selector_matches,
    parse_time,
    selector_matches,
    sim_time,
)
from apps.k8s.quantity import cpu_millicores, format_cpu, format_memory, memory_bytes
from apps.k8s.sim.kubelet import write_status
from apps.k8s.sim.podutil import (
    NAME_ALPHABET,
    delete_pod,
    new_pod,
    pod_limits,
    pod_requests,
    register_pod,
)
from apps.k8s.sim.state import (
    HPA_DOWNSCALE_WINDOW_S,
    HPA_TOLERANCE,
    NODE_MONITOR_GRACE_S,
    PROGRESS_DEADLINE_DEFAULT_S,
    PVC_RETRY_S,
    ContainerPhase,
    HpaRuntime,
    SimState,
)
from apps.k8s.sim.store import Key

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
FNV32_OFFSET = 2166136261
FNV32_PRIME = 16777619


def fnv32a(data: bytes) -> int:
    """FNV-1a 32-bit hash (the pod-template-hash function)."""
    h = FNV32_OFFSET
    for b in data:
        h = ((h ^ b) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def template_hash(template: dict[str, Any]) -> str:
    """``pod-template-hash`` of a template: FNV-1a of its JSON, encoded like SafeEncodeString."""
    digits = str(fnv32a(canonical_json(template)))
    return "".join(NAME_ALPHABET[ord(ch) % len(NAME_ALPHABET)] for ch in digits)


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    tpl: dict[str, Any] = deep_copy(template)
    ((tpl.get("metadata") or {}).get("labels") or {}).pop(POD_TEMPLATE_HASH, None)
    return tpl


def _revision(obj: KubeObject) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        frac = float(value[:-1]) / 100.0 * total
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(value)


# ---------------------------------------------------------------- deployment controller
def owned_replica_sets(state: SimState, deploy: KubeObject) -> list[KubeObject]:
    """Replica sets controlled by the deployment, oldest first."""
    keys = state.rs_by_owner.get(deploy["metadata"]["uid"], set())
    rss = [rs for k in keys if (rs := state.get(Kind.REPLICA_SET, *k)) is not None]
    return sorted(rss, key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]))


def _rs_template_json(state: SimState, rs: KubeObject) -> bytes:
    uid = rs["metadata"]["uid"]
    cached = state.rs_template_json.get(uid)
    if cached is None:
        cached = canonical_json(_strip_hash(rs["spec"]["template"]))
        state.rs_template_json[uid] = cached
    return cached


def _scale_rs(state: SimState, deploy: KubeObject, rs: KubeObject, replicas: int) -> None:
    old = int(rs["spec"].get("replicas", 0))
    if old == replicas:
        return
    rs["spec"]["replicas"] = replicas
    ann = rs["metadata"].setdefault("annotations", {})
    ann["deployment.kubernetes.io/desired-replicas"] = str(deploy["spec"].get("replicas", 1))
    state.store.touch(Kind.REPLICA_SET, rs)
    direction = "up" if replicas > old else "down"
    state.event(
        deploy,
        "ScalingReplicaSet",
        f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {replicas}",
        component="deployment-controller",
    )


def _new_replica_set(state: SimState, deploy: KubeObject, revision: int) -> KubeObject:
    md = deploy["metadata"]
    tpl = deep_copy(deploy["spec"]["template"])
    h = template_hash(tpl)
    tpl.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = h
    selector = deep_copy(deploy["spec"]["selector"])
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = h
    rs: KubeObject = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{md['name']}-{h}",
            "namespace": md["namespace"],
            "uid": state.new_uid(),
            "generation": 1,
            "creationTimestamp": sim_time(state.now),
            "labels": dict(tpl["metadata"]["labels"]),
            "annotations": {
                REVISION_ANNOTATION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(deploy["spec"].get("replicas", 1)),
                "deployment.kubernetes.io/max-replicas": str(deploy["spec"].get("replicas", 1)),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": md["name"],
                    "uid": md["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
            "selector": selector,
            "template": tpl,
        },
        "status": {"replicas": 0, "observedGeneration": 1},
    }
    state.store.add(Kind.REPLICA_SET, rs)
    state.rs_by_owner.setdefault(md["uid"], set()).add((md["namespace"], rs["metadata"]["name"]))
    return rs


def reconcile_deployment(state: SimState, deploy: KubeObject) -> None:
    """One sync of the deployment controller (rolling update and recreate strategies)."""
    spec = deploy["spec"]
    rss = owned_replica_sets(state, deploy)
    tpl_json = canonical_json(spec["template"])
    new_rs = next((rs for rs in rss if _rs_template_json(state, rs) == tpl_json), None)
    max_rev = max((_revision(rs) for rs in rss), default=0)
    if new_rs is None:
        new_rs = _new_replica_set(state, deploy, max_rev + 1)
        rss.append(new_rs)
        state.deploy_progress.pop(deploy["metadata"]["uid"], None)
    elif _revision(new_rs) < max_rev:
        new_rs["metadata"]["annotations"][REVISION_ANNOTATION] = str(max_rev + 1)
        state.store.touch(Kind.REPLICA_SET, new_rs)
        state.deploy_progress.pop(deploy["metadata"]["uid"], None)
    ann = deploy["metadata"].setdefault("annotations", {})
    if ann.get(REVISION_ANNOTATION) != str(_revision(new_rs)):
        ann[REVISION_ANNOTATION] = str(_revision(new_rs))
        state.store.touch(Kind.DEPLOYMENT, deploy)
    old = [rs for rs in rss if rs is not new_rs]
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        if any(int(rs["spec"].get("replicas", 0)) > 0 for rs in old):
            for rs in old:
                _scale_rs(state, deploy, rs, 0)
        elif any(state.pods_by_owner.get(rs["metadata"]["uid"]) for rs in old):
            pass  # wait for the old pods to terminate
        else:
            _scale_rs(state, deploy, new_rs, replicas)
    else:
        _rolling_update(state, deploy, new_rs, old, replicas, strategy.get("rollingUpdate") or {})
    _cleanup_history(state, deploy, old)


def _rolling_update(
    state: SimState,
    deploy: KubeObject,
    new_rs: KubeObject,
    old: list[KubeObject],
    replicas: int,
    params: dict[str, Any],
) -> None:
    max_surge = _int_or_percent(params.get("maxSurge", "25%"), replicas, round_up=True)
    max_unavailable = _int_or_percent(params.get("maxUnavailable", "25%"), replicas, round_up=False)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    all_rs = [new_rs, *old]

    def spec_replicas(rs: KubeObject) -> int:
        return int(rs["spec"].get("replicas", 0))

    def available(rs: KubeObject) -> int:
        return int((rs.get("status") or {}).get("availableReplicas", 0))

    new_replicas = spec_replicas(new_rs)
    if new_replicas > replicas:
        _scale_rs(state, deploy, new_rs, replicas)
    elif new_replicas < replicas:
        max_total = replicas + max_surge
        current = sum(spec_replicas(rs) for rs in all_rs)
        if current < max_total:
            up = min(max_total - current, replicas - new_replicas)
            _scale_rs(state, deploy, new_rs, new_replicas + up)
    # deployment/util: scale down old replica sets, unhealthy ones first
    all_pods = sum(spec_replicas(rs) for rs in all_rs)
    min_available = replicas - max_unavailable
    new_unavailable = spec_replicas(new_rs) - available(new_rs)
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return
    for rs in old:
        if max_scaled_down <= 0:
            break
        unhealthy = spec_replicas(rs) - available(rs)
        if spec_replicas(rs) == 0 or unhealthy <= 0:
            continue
        cut = min(max_scaled_down, unhealthy)
        _scale_rs(state, deploy, rs, spec_replicas(rs) - cut)
        max_scaled_down -= cut
    total_available = sum(available(rs) for rs in all_rs)
    scale_down = total_available - min_available
    for rs in old:
        if scale_down <= 0:
            break
        if spec_replicas(rs) == 0:
            continue
        cut = min(spec_replicas(rs), scale_down)
        _scale_rs(state, deploy, rs, spec_replicas(rs) - cut)
        scale_down -= cut


def _cleanup_history(state: SimState, deploy: KubeObject, old: list[KubeObject]) -> None:
    limit = int(deploy["spec"].get("revisionHistoryLimit", 10))
    idle = [
        rs
        for rs in old
        if int(rs["spec"].get("replicas", 0)) == 0
        and not state.pods_by_owner.get(rs["metadata"]["uid"])
    ]
    idle.sort(key=_revision)
    for rs in idle[: max(0, len(idle) - limit)]:
        md = rs["metadata"]
        state.store.remove(Kind.REPLICA_SET, md["namespace"], md["name"])
        state.rs_by_owner.get(deploy["metadata"]["uid"], set()).discard(
            (md["namespace"], md["name"])
        )
        state.rs_template_json.pop(md["uid"], None)


def deployment_status(state: SimState, deploy: KubeObject) -> None:
    """Write the deployment's status and conditions from its replica sets."""
    now = state.now
    spec = deploy["spec"]
    replicas = int(spec.get("replicas", 1))
    rss = owned_replica_sets(state, deploy)
    tpl_json = canonical_json(spec["template"])
    new_rs = next((rs for rs in rss if _rs_template_json(state, rs) == tpl_json), None)

    def st(rs: KubeObject, key: str) -> int:
        return int((rs.get("status") or {}).get(key, 0))

    total = sum(st(rs, "replicas") for rs in rss)
    updated = st(new_rs, "replicas") if new_rs else 0
    ready = sum(st(rs, "readyReplicas") for rs in rss)
    avail = sum(st(rs, "availableReplicas") for rs in rss)
    params = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    max_unavailable = (
        _int_or_percent(params.get("maxUnavailable", "25%"), replicas, round_up=False)
        if (spec.get("strategy") or {}).get("type") != "Recreate"
        else replicas
    )
    uid = deploy["metadata"]["uid"]
    counts = (total, updated, ready, avail)
    prev = state.deploy_progress.get(uid)
    if prev is None or prev[0] != counts:
        state.deploy_progress[uid] = (counts, now)
        last_progress = now
    else:
        last_progress = prev[1]
    old_conds = {c["type"]: c for c in (deploy.get("status") or {}).get("conditions") or []}

    def cond(ctype: str, status: str, reason: str, message: str) -> dict[str, Any]:
        prev_c = old_conds.get(ctype)
        changed = prev_c is None or prev_c.get("status") != status
        transition = sim_time(now) if changed else prev_c["lastTransitionTime"]  # type: ignore[index]
        update = (
            sim_time(now)
            if changed or prev_c.get("reason") != reason  # type: ignore[union-attr]
            else prev_c["lastUpdateTime"]  # type: ignore[index]
        )
        return {
            "type": ctype,
            "status": status,
            "lastUpdateTime": update,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }

    conditions = []
    if avail >= replicas - max_unavailable:
        conditions.append(
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        )
    else:
        conditions.append(
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        )
    rs_name = new_rs["metadata"]["name"] if new_rs else ""
    deadline = float(spec.get("progressDeadlineSeconds", PROGRESS_DEADLINE_DEFAULT_S))
    complete = updated == replicas and avail == replicas and total == replicas
    if complete:
        conditions.append(
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        )
    elif now - last_progress > deadline:
        conditions.append(
            cond(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        )
    else:
        conditions.append(
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
            )
        )
    failure = condition(new_rs, "ReplicaFailure") if new_rs else None
    if failure is not None:
        conditions.append(
            cond("ReplicaFailure", "True", "FailedCreate", failure.get("message", ""))
        )
    status: dict[str, Any] = {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": avail,
        "conditions": conditions,
    }
    spec_total = sum(int(rs["spec"].get("replicas", 0)) for rs in rss)
    if max(spec_total, replicas) - avail > 0:
        status["unavailableReplicas"] = max(spec_total, replicas) - avail
    for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
        if status[key] == 0:
            del status[key]
    if deploy.get("status") != status:
        deploy["status"] = status
        state.store.touch(Kind.DEPLOYMENT, deploy)


# ---------------------------------------------------------------- replica set controller
def _active_pods(state: SimState, rs: KubeObject) -> list[KubeObject]:
    out = []
    for key in sorted(state.pods_by_owner.get(rs["metadata"]["uid"], set())):
        pod = state.get(Kind.POD, *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        out.append(pod)
    return out


def _deletion_rank(state: SimState, pod: KubeObject) -> tuple[int, int, int, int, float, str]:
    rt = state.pods.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
    assigned = 1 if rt is not None and rt.node else 0
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(
        (pod.get("status") or {}).get("phase", ""), 0
    )
    ready = 1 if is_pod_ready(pod) else 0
    restarts = sum(c.restart_count for c in rt.containers) if rt else 0
    created = -(rt.created_at if rt else 0.0)
    return (assigned, phase, ready, -restarts, created, pod["metadata"]["name"])


def reconcile_replica_set(state: SimState, rs: KubeObject) -> None:
    """Create or delete pods until the replica set has ``spec.replicas`` active pods."""
    desired = int(rs["spec"].get("replicas", 0))
    active = _active_pods(state, rs)
    diff = len(active) - desired
    if diff < 0:
        failure: str | None = None
        for _ in range(-diff):
            pod = new_pod(state, rs["spec"]["template"], rs, "ReplicaSet")
            failure = quota_admit(state, pod)
            if failure is not None:
                state.event(
                    rs,
                    "FailedCreate",
                    f"Error creating: {failure}",
                    warning=True,
                    component="replicaset-controller",
                )
                break
            register_pod(state, pod)
            state.event(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                component="replicaset-controller",
            )
        _set_replica_failure(state, rs, failure)
    elif diff > 0:
        victims = sorted(active, key=lambda p: _deletion_rank(state, p))[:diff]
        for pod in victims:
            delete_pod(state, pod)
            state.event(
                rs,
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                component="replicaset-controller",
            )
    elif condition(rs, "ReplicaFailure") is not None:
        _set_replica_failure(state, rs, None)


def _set_replica_failure(state: SimState, rs: KubeObject, failure: str | None) -> None:
    status = rs.setdefault("status", {})
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    if failure is not None:
        conds.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": sim_time(state.now),
                "reason": "FailedCreate",
                "message": failure,
            }
        )
    new = conds or None
    if status.get("conditions") != new and not (new is None and "conditions" not in status):
        if new is None:
            status.pop("conditions", None)
        else:
            old = condition(rs, "ReplicaFailure")
            if old is not None and failure is not None and old.get("message") == failure:
                return
            status["conditions"] = new
        state.store.touch(Kind.REPLICA_SET, rs)


def _runtime_ready(state: SimState, pod: KubeObject) -> bool:
    rt = state.pods.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
    if rt is None or rt.node_lost or rt.node is None:
        return False
    return all(c.ready for c in rt.containers) and is_pod_ready(pod)


def replica_set_status(state: SimState, rs: KubeObject) -> None:
    """Write the replica set's status from its pods."""
    active = _active_pods(state, rs)
    ready = sum(1 for p in active if _runtime_ready(state, p))
    status: dict[str, Any] = {
        "replicas": len(active),
        "fullyLabeledReplicas": len(active),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if status[key] == 0:
            del status[key]
    old = rs.get("status") or {}
    if old.get("conditions"):
        status["conditions"] = old["conditions"]
    if old != status:
        rs["status"] = status
        state.store.touch(Kind.REPLICA_SET, rs)


# ---------------------------------------------------------------- endpoints controller
def endpoints_step(state: SimState) -> None:
    """Rebuild Endpoints of every Service from ready and not-ready pods it selects."""
    if not state.endpoints_dirty:
        return
    state.endpoints_dirty = False
    by_ns: dict[str, list[KubeObject]] = {}
    for pod in state.store.values(Kind.POD):
        md = pod["metadata"]
        rt = state.pods.get((md["namespace"], md["name"]))
        if rt is None or rt.node is None or md.get("deletionTimestamp"):
            continue
        by_ns.setdefault(md["namespace"], []).append(pod)
    for svc in state.store.values(Kind.SERVICE):
        sync_endpoints(state, svc, by_ns.get(svc["metadata"]["namespace"], []))


def _target_port(svc_port: dict[str, Any], pod: KubeObject | None) -> int:
    target = svc_port.get("targetPort", svc_port["port"])
    if isinstance(target, int):
        return target
    for c in (pod or {}).get("spec", {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return int(svc_port["port"])


def sync_endpoints(state: SimState, svc: KubeObject, pods: list[KubeObject]) -> None:
    """Write the Endpoints object of one Service."""
    md = svc["metadata"]
    selector = (svc.get("spec") or {}).get("selector")
    if not selector:
        return
    ready: list[dict[str, Any]] = []
    not_ready: list[dict[str, Any]] = []
    sample: KubeObject | None = None
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if not selector_matches(selector, labels):
            continue
        rt = state.pods[(pod["metadata"]["namespace"], pod["metadata"]["name"])]
        addr = {
            "ip": rt.ip,
            "nodeName": rt.node,
            "targetRef": {
                "kind": "Pod",
                "namespace": pod["metadata"]["namespace"],
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        (ready if is_pod_ready(pod) else not_ready).append(addr)
        sample = sample or pod
    ports = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        entry: dict[str, Any] = {
            "port": _target_port(p, sample),
            "protocol": p.get("protocol", "TCP"),
        }
        if p.get("name"):
            entry["name"] = p["name"]
        ports.append(entry)
    obj: KubeObject = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": md["name"],
            "namespace": md["namespace"],
            "labels": dict(md.get("labels") or {}),
        },
    }
    if ready or not_ready:
        subset: dict[str, Any] = {"ports": ports}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["targetRef"]["name"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["targetRef"]["name"])
        obj["subsets"] = [subset]
    existing = state.get(Kind.ENDPOINTS, md["namespace"], md["name"])
    if existing is None:
        obj["metadata"]["uid"] = state.new_uid()
        obj["metadata"]["creationTimestamp"] = sim_time(state.now)
        state.store.add(Kind.ENDPOINTS, obj)
        return
    if existing.get("subsets") != obj.get("subsets") or existing["metadata"].get("labels") != obj[
        "metadata"
    ].get("labels"):
        if "subsets" in obj:
            existing["subsets"] = obj["subsets"]
        else:
            existing.pop("subsets", None)
        existing["metadata"]["labels"] = obj["metadata"]["labels"]
        state.store.touch(Kind.ENDPOINTS, existing)


# ---------------------------------------------------------------- node lifecycle
def node_lifecycle_step(state: SimState) -> None:
    """Node controller: mark silent nodes NotReady, taint them, evict after tolerationSeconds."""
    now = state.now
    for name, nrt in state.nodes.items():
        node = state.get(Kind.NODE, "", name)
        if node is None:
            continue
        _sync_unschedulable_taint(state, node)
        ready = is_node_ready(node)
        if nrt.kubelet_up:
            nrt.last_heartbeat = now
            if not ready:
                _node_ready(state, node)
        elif ready and now - nrt.last_heartbeat >= NODE_MONITOR_GRACE_S:
            _node_unknown(state, node)
        if not nrt.kubelet_up and not is_node_ready(node):
            _taint_eviction(state, node)


_HEALTHY_CONDITIONS = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}


def _set_node_conditions(
    node: KubeObject, status: str, reason: str, message: str, now: float
) -> None:
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.update(
                status=status,
                reason=reason,
                message=message,
                lastTransitionTime=sim_time(now),
                lastHeartbeatTime=sim_time(now),
            )
        elif status == "Unknown":
            cond.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=sim_time(now),
            )
        else:
            reason_ok, message_ok = _HEALTHY_CONDITIONS[cond["type"]]
            cond.update(
                status="False",
                reason=reason_ok,
                message=message_ok,
                lastTransitionTime=sim_time(now),
            )


def _node_unknown(state: SimState, node: KubeObject) -> None:
    now = state.now
    name = node["metadata"]["name"]
    _set_node_conditions(
        node, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now
    )
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE_TAINT]
    taints.append({"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": sim_time(now)})
    taints.append({"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": sim_time(now)})
    node["spec"]["taints"] = taints
    state.store.touch(Kind.NODE, node)
    state.event(
        node,
        "NodeNotReady",
        f"Node {name} status is now: NodeNotReady",
        component="node-controller",
    )
    for key in sorted(state.nodes[name].pods):
        rt = state.pods.get(key)
        pod = state.get(Kind.POD, *key)
        if rt is None or pod is None:
            continue
        rt.node_lost = True
        write_status(state, pod, rt)
        state.event(
            pod, "NodeNotReady", "Node is not ready", warning=True, component="node-controller"
        )
    state.endpoints_dirty = True


def _node_ready(state: SimState, node: KubeObject) -> None:
    now = state.now
    name = node["metadata"]["name"]
    _set_node_conditions(node, "True", "KubeletReady", "kubelet is posting ready status", now)
    node["spec"]["taints"] = [
        t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE_TAINT
    ] or None
    if node["spec"]["taints"] is None:
        del node["spec"]["taints"]
    state.store.touch(Kind.NODE, node)
    state.event(
        node, "NodeReady", f"Node {name} status is now: NodeReady", component="kubelet", host=name
    )
    for key in sorted(state.nodes[name].pods):
        rt = state.pods.get(key)
        if rt is not None:
            rt.node_lost = False
            rt.next_wake = now
    state.endpoints_dirty = True


def _sync_unschedulable_taint(state: SimState, node: KubeObject) -> None:
    spec = node["spec"]
    taints = spec.get("taints") or []
    has = any(t.get("key") == UNSCHEDULABLE_TAINT for t in taints)
    name = node["metadata"]["name"]
    if spec.get("unschedulable") and not has:
        spec["taints"] = [
            *taints,
            {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule", "timeAdded": sim_time(state.now)},
        ]
        state.store.touch(Kind.NODE, node)
        state.event(
            node, "NodeNotSchedulable", f"Node {name} status is now: NodeNotSchedulable", host=name
        )
    elif not spec.get("unschedulable") and has:
        rest = [t for t in taints if t.get("key") != UNSCHEDULABLE_TAINT]
        if rest:
            spec["taints"] = rest
        else:
            spec.pop("taints", None)
        state.store.touch(Kind.NODE, node)
        state.event(
            node, "NodeSchedulable", f"Node {name} status is now: NodeSchedulable", host=name
        )


def _taint_eviction(state: SimState, node: KubeObject) -> None:
    now = state.now
    name = node["metadata"]["name"]
    taint = next(
        (
            t
            for t in node["spec"].get("taints") or []
            if t.get("key") == UNREACHABLE_TAINT and t.get("effect") == "NoExecute"
        ),
        None,
    )
    if taint is None:
        return
    added_at = (parse_time(taint["timeAdded"]) - SIM_EPOCH).total_seconds()
    for key in sorted(state.nodes[name].pods):
        pod = state.get(Kind.POD, *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            continue
        tol = next(
            (
                t
                for t in pod["spec"].get("tolerations") or []
                if t.get("key") == UNREACHABLE_TAINT and t.get("effect") == "NoExecute"
            ),
            None,
        )
        if tol is None:
            seconds = 0.0
        elif tol.get("tolerationSeconds") is None:
            continue
        else:
            seconds = float(tol["tolerationSeconds"])
        if added_at + seconds <= now:
            state.event(
                pod,
                "TaintManagerEviction",
                f"Marking for deletion Pod {key[0]}/{key[1]}",
                component="taint-eviction-controller",
            )
            delete_pod(state, pod)


# ---------------------------------------------------------------- persistent volumes
def pvc_step(state: SimState) -> None:
    """Persistent volume controller: bind claims of existing classes, report missing ones."""
    now = state.now
    for pvc in state.store.values(Kind.PERSISTENT_VOLUME_CLAIM):
        md = pvc["metadata"]
        key: Key = (md["namespace"], md["name"])
        if md.get("deletionTimestamp"):
            if not _pvc_in_use(state, pvc):
                state.store.remove(Kind.PERSISTENT_VOLUME_CLAIM, *key)
            continue
        if (pvc.get("status") or {}).get("phase") == "Bound":
            continue
        sc_name = pvc["spec"].get("storageClassName")
        sc = state.get(Kind.STORAGE_CLASS, "", sc_name) if sc_name else None
        if sc is None:
            if now >= state.pvc_retry.get(key, 0.0):
                msg = (
                    f'storageclass.storage.k8s.io "{sc_name}" not found'
                    if sc_name
                    else "no persistent volumes available for this claim and no storage class is set"
                )
                state.event(
                    pvc,
                    "ProvisioningFailed" if sc_name else "FailedBinding",
                    msg,
                    warning=True,
                    component="persistentvolume-controller",
                )
                state.pvc_retry[key] = now + PVC_RETRY_S
            continue
        provisioner = sc.get("provisioner", "kubernetes.io/no-provisioner")
        volume = f"pvc-{md['uid']}"
        pvc["spec"]["volumeName"] = volume
        ann = md.setdefault("annotations", {})
        ann["pv.kubernetes.io/bind-completed"] = "yes"
        ann["pv.kubernetes.io/bound-by-controller"] = "yes"
        ann["volume.kubernetes.io/storage-provisioner"] = provisioner
        pvc["status"] = {
            "phase": "Bound",
            "accessModes": list(pvc["spec"].get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {
                "storage": ((pvc["spec"].get("resources") or {}).get("requests") or {}).get(
                    "storage", "1Gi"
                )
            },
        }
        state.store.touch(Kind.PERSISTENT_VOLUME_CLAIM, pvc)
        state.event(
            pvc,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume} using {provisioner}",
            component=provisioner,
        )


def _pvc_in_use(state: SimState, pvc: KubeObject) -> bool:
    ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    for key, rt in state.pods.items():
        if key[0] != ns or rt.node is None:
            continue
        pod = state.get(Kind.POD, *key)
        if pod is None:
            continue
        running = any(c.phase is ContainerPhase.RUNNING for c in rt.containers)
        uses = any(
            (v.get("persistentVolumeClaim") or {}).get("claimName") == name
            for v in pod["spec"].get("volumes") or []
        )
        if running and uses:
            return True
    return False


# ---------------------------------------------------------------- resource quota
_QUOTA_AMOUNTS: dict[str, Callable[[float, float, float, float], float]] = {
    "pods": lambda rc, rm, lc, lm: 1.0,
    "requests.cpu": lambda rc, rm, lc, lm: rc,
    "cpu": lambda rc, rm, lc, lm: rc,
    "requests.memory": lambda rc, rm, lc, lm: rm,
    "memory": lambda rc, rm, lc, lm: rm,
    "limits.cpu": lambda rc, rm, lc, lm: lc,
    "limits.memory": lambda rc, rm, lc, lm: lm,
}


def _quota_hard(resource: str, value: Any) -> float:
    if resource in ("pods", "count/pods"):
        return float(value)
    if resource.endswith("cpu"):
        return cpu_millicores(value)
    return memory_bytes(value)


def _quota_format(resource: str, amount: float) -> str:
    if resource == "pods":
        return str(int(amount))
    if resource.endswith("cpu"):
        return format_cpu(amount)
    return format_memory(amount)


def namespace_usage(state: SimState, namespace: str) -> dict[str, float]:
    """Quota usage of a namespace: pods and the sums of requests and limits."""
    usage = dict.fromkeys(_QUOTA_AMOUNTS, 0.0)
    for pod in state.store.in_namespace(Kind.POD, namespace):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        rc, rm = pod_requests(pod)
        lc, lm = pod_limits(pod)
        for res, fn in _QUOTA_AMOUNTS.items():
            usage[res] += fn(rc, rm, lc, lm)
    return usage


def quota_admit(state: SimState, pod: KubeObject) -> str | None:
    """ResourceQuota admission: the API's refusal message, or None if the pod fits."""
    ns = pod["metadata"]["namespace"]
    quotas = state.store.in_namespace(Kind.RESOURCE_QUOTA, ns)
    if not quotas:
        return None
    rc, rm = pod_requests(pod)
    lc, lm = pod_limits(pod)
    usage = namespace_usage(state, ns)
    for quota in quotas:
        hard = (quota.get("spec") or {}).get("hard") or {}
        exceeded = []
        for res, value in hard.items():
            fn = _QUOTA_AMOUNTS.get(res)
            if fn is None:
                continue
            amount = fn(rc, rm, lc, lm)
            if amount and usage[res] + amount > _quota_hard(res, value) + 1e-9:
                exceeded.append(res)
        if exceeded:
            req = ",".join(
                f"{r}={_quota_format(r, _QUOTA_AMOUNTS[r](rc, rm, lc, lm))}" for r in exceeded
            )
            used = ",".join(f"{r}={_quota_format(r, usage[r])}" for r in exceeded)
            lim = ",".join(f"{r}={hard[r]}" for r in exceeded)
            return (
                f'pods "{pod["metadata"]["name"]}" is forbidden: exceeded quota: '
                f"{quota['metadata']['name']}, requested: {req}, used: {used}, limited: {lim}"
            )
    return None


def quota_status_step(state: SimState) -> None:
    """Resource quota controller: write ``status.hard`` and ``status.used``."""
    for quota in state.store.values(Kind.RESOURCE_QUOTA):
        ns = quota["metadata"]["namespace"]
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        usage = namespace_usage(state, ns)
        used = {r: _quota_format(r, usage[r]) for r in hard if r in usage}
        status = {"hard": hard, "used": used}
        if quota.get("status") != status:
            quota["status"] = status
            state.store.touch(Kind.RESOURCE_QUOTA, quota)


# ---------------------------------------------------------------- horizontal pod autoscaler
def hpa_step(state: SimState) -> None:
    """HPA controller (autoscaling/v2, CPU utilization), with the downscale stabilization window."""
    now = state.now
    for hpa in state.store.values(Kind.HORIZONTAL_POD_AUTOSCALER):
        md = hpa["metadata"]
        key: Key = (md["namespace"], md["name"])
        rt = state.hpas.setdefault(key, HpaRuntime())
        spec = hpa["spec"]
        ref = spec.get("scaleTargetRef") or {}
        deploy = state.get(Kind.DEPLOYMENT, md["namespace"], ref.get("name", ""))
        if deploy is None:
            continue
        target = 80.0
        for metric in spec.get("metrics") or []:
            res = metric.get("resource") or {}
            if metric.get("type") == "Resource" and res.get("name") == "cpu":
                target = float(res.get("target", {}).get("averageUtilization", 80))
        current = int(deploy["spec"].get("replicas", 1))
        usage = request = 0.0
        ready_pods = 0
        missing: tuple[str, str] | None = None  # (container, pod) without a CPU request
        for pod in state.store.in_namespace(Kind.POD, md["namespace"]):
            if pod["metadata"].get("deletionTimestamp") or not is_pod_ready(pod):
                continue
            if not label_selector_matches(
                deploy["spec"]["selector"], pod["metadata"].get("labels") or {}
            ):
                continue
            prt = state.pods.get((md["namespace"], pod["metadata"]["name"]))
            if prt is None:
                continue
            ready_pods += 1
            for c in prt.containers:
                usage += c.cpu_m
                cpu_request = ((c.spec.get("resources") or {}).get("requests") or {}).get("cpu")
                if not cpu_request and missing is None:
                    missing = (c.name, pod["metadata"]["name"])
                request += cpu_millicores(cpu_request)
        if missing is not None:
            _hpa_missing_request(state, hpa, current, *missing)
            continue
        if ready_pods == 0 or request <= 0:
            continue
        util = 100.0 * usage / request
        ratio = util / target
        raw = current if abs(ratio - 1.0) <= HPA_TOLERANCE else math.ceil(ratio * ready_pods)
        rt.recommendations = [
            (t, r) for t, r in rt.recommendations if now - t < HPA_DOWNSCALE_WINDOW_S
        ]
        rt.recommendations.append((now, raw))
        desired = raw
        if raw < current:
            desired = min(current, max(r for _, r in rt.recommendations))
        low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        limited = None
        if desired > high:
            desired, limited = (
                high,
                (
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                ),
            )
        elif desired < low:
            desired, limited = (
                low,
                (
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                ),
            )
        status: dict[str, Any] = dict(hpa.get("status") or {})
        if desired != current:
            deploy["spec"]["replicas"] = desired
            deploy["metadata"]["generation"] = int(deploy["metadata"].get("generation", 1)) + 1
            state.store.touch(Kind.DEPLOYMENT, deploy)
            direction = "above" if desired > current else "below"
            state.event(
                hpa,
                "SuccessfulRescale",
                f"New size: {desired}; reason: cpu resource utilization (percentage of request) {direction} target",
                component="horizontal-pod-autoscaler",
            )
            status["lastScaleTime"] = sim_time(now)
            able = (
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
        else:
            able = ("ReadyForNewScale", "recommended size matches current size")
        old_conds = {c["type"]: c for c in status.get("conditions") or []}

        def cond(
            ctype: str, value: str, reason: str, message: str, old: dict[str, Any] = old_conds
        ) -> dict[str, Any]:
            prev = old.get(ctype)
            since = (
                sim_time(now)
                if prev is None or prev.get("status") != value
                else prev["lastTransitionTime"]
            )
            return {
                "type": ctype,
                "status": value,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            }

        status.update(
            observedGeneration=md.get("generation", 1),
            currentReplicas=current,
            desiredReplicas=desired,
            currentMetrics=[
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {
                            "averageUtilization": round(util),
                            "averageValue": format_cpu(usage / ready_pods),
                        },
                    },
                }
            ],
            conditions=[
                cond("AbleToScale", "True", *able),
                cond(
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                ),
                cond("ScalingLimited", "True", *limited)
                if limited
                else cond(
                    "ScalingLimited",
                    "False",
                    "DesiredWithinRange",
                    "the desired count is within the acceptable range",
                ),
            ],
        )
        if hpa.get("status") != status:
            hpa["status"] = status
            state.store.touch(Kind.HORIZONTAL_POD_AUTOSCALER, hpa)


def _hpa_missing_request(
    state: SimState, hpa: KubeObject, current: int, container: str, pod: str
) -> None:
    """The HPA cannot compute CPU utilization: a pod has no CPU request (as the controller says)."""
    now = state.now
    detail = f"failed to get cpu utilization: missing request for cpu in container {container} of Pod {pod}"
    state.event(
        hpa,
        "FailedGetResourceMetric",
        detail,
        warning=True,
        component="horizontal-pod-autoscaler",
    )
    state.event(
        hpa,
        "FailedComputeMetricsReplicas",
        f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
        f"value: {detail}",
        warning=True,
        component="horizontal-pod-autoscaler",
    )
    status: dict[str, Any] = dict(hpa.get("status") or {})
    old = {c["type"]: c for c in status.get("conditions") or []}
    conds = []
    for ctype, value, reason, message in (
        (
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        ),
        (
            "ScalingActive",
            "False",
            "FailedGetResourceMetric",
            f"the HPA was unable to compute the replica count: {detail}",
        ),
    ):
        prev = old.get(ctype)
        since = (
            prev["lastTransitionTime"]
            if prev is not None and prev.get("status") == value
            else sim_time(now)
        )
        conds.append(
            {
                "type": ctype,
                "status": value,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            }
        )
    status.pop("currentMetrics", None)
    status.update(currentReplicas=current, desiredReplicas=current, conditions=conds)
    if hpa.get("status") != status:
        hpa["status"] = status
        state.store.touch(Kind.HORIZONTAL_POD_AUTOSCALER, hpa)


def gc_orphans(state: SimState) -> None:
    """Garbage collector: delete replica sets and pods whose owner is gone (background cascade)."""
    owners = {d["metadata"]["uid"] for d in state.store.values(Kind.DEPLOYMENT)}
    for rs in state.store.values(Kind.REPLICA_SET):
        refs = rs["metadata"].get("ownerReferences") or []
        if refs and refs[0]["uid"] not in owners:
            md = rs["metadata"]
            state.store.remove(Kind.REPLICA_SET, md["namespace"], md["name"])
            state.rs_by_owner.get(refs[0]["uid"], set()).discard((md["namespace"], md["name"]))
    rs_uids = {rs["metadata"]["uid"] for rs in state.store.values(Kind.REPLICA_SET)}
    rs_uids |= {job["metadata"]["uid"] for job in state.store.values(Kind.JOB)}
    for key, rt in list(state.pods.items()):
        if rt.owner_uid and rt.owner_uid not in rs_uids:
            pod = state.get(Kind.POD, *key)
            if pod is not None:
                delete_pod(state, pod)
