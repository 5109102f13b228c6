"""Pods in the simulator: defaulting, creation from a template, graceful deletion and removal."""

from __future__ import annotations

from typing import Any

from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, deep_copy, meta, sim_time
from apps.k8s.quantity import cpu_millicores, memory_bytes
from apps.k8s.sim.state import DEFAULT_TOLERATION_S, ContainerRuntime, PodRuntime, SimState
from apps.k8s.sim.store import Key

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.SafeEncodeString
DEFAULT_GRACE_S = 30

_DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": DEFAULT_TOLERATION_S,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": DEFAULT_TOLERATION_S,
    },
]


def default_container(c: dict[str, Any]) -> None:
    """Fill the defaults the API server sets on a container."""
    c.setdefault("imagePullPolicy", "Always" if c["image"].endswith(":latest") else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe_key in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = c.get(probe_key)
        if isinstance(probe, dict):
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if "httpGet" in probe:
                probe["httpGet"].setdefault("scheme", "HTTP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Fill the defaults the API server sets on a pod spec (idempotent)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        default_container(c)


def default_pod_resources(spec: dict[str, Any]) -> None:
    """The API server's Pod defaulting: a resource with a limit and no request requests its limit.

    (``SetDefaults_Pod`` in ``pkg/apis/core/v1/defaults.go``; it applies to pods, not to the
    templates of their controllers, so quota, scheduling and HPA utilization see it.)
    """
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        if not limits:
            continue
        requests = dict(res.get("requests") or {})
        for name, value in limits.items():
            requests.setdefault(name, value)
        c["resources"] = {**res, "requests": requests}


def random_suffix(state: SimState, length: int = 5) -> str:
    """A random name suffix as the API server's generateName makes it."""
    return "".join(state.rng.choice(NAME_ALPHABET) for _ in range(length))


def pod_requests(pod: KubeObject) -> tuple[float, float]:
    """Total CPU (millicores) and memory (bytes) requests of a pod's containers."""
    cpu = mem = 0.0
    for c in pod["spec"].get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += cpu_millicores(req.get("cpu"))
        mem += memory_bytes(req.get("memory"))
    return cpu, mem


def pod_limits(pod: KubeObject) -> tuple[float, float]:
    """Total CPU (millicores) and memory (bytes) limits of a pod's containers."""
    cpu = mem = 0.0
    for c in pod["spec"].get("containers") or []:
        lim = (c.get("resources") or {}).get("limits") or {}
        cpu += cpu_millicores(lim.get("cpu"))
        mem += memory_bytes(lim.get("memory"))
    return cpu, mem


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's QoS class from its containers' requests and limits."""
    any_set = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def new_pod(
    state: SimState, template: dict[str, Any], owner: KubeObject, owner_kind: str
) -> KubeObject:
    """A pod object built from a template, as the ReplicaSet controller would create it."""
    om = meta(owner)
    base = f"{om['name']}-"
    name = base + random_suffix(state)
    while state.get(Kind.POD, om["namespace"], name) is not None:
        name = base + random_suffix(state)
    tpl = deep_copy(template)
    tmeta = tpl.get("metadata") or {}
    spec = tpl["spec"]
    default_pod_spec(spec)
    default_pod_resources(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    tolerations = list(spec.get("tolerations") or [])
    for tol in _DEFAULT_TOLERATIONS:
        if not any(
            t.get("key") == tol["key"] and t.get("effect") == "NoExecute" for t in tolerations
        ):
            tolerations.append(dict(tol))
    spec["tolerations"] = tolerations
    pod_meta: dict[str, Any] = {
        "name": name,
        "generateName": base,
        "namespace": om["namespace"],
        "uid": state.new_uid(),
        "creationTimestamp": sim_time(state.now),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner_kind,
                "name": om["name"],
                "uid": om["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": qos_class(spec)},
    }


def register_pod(state: SimState, pod: KubeObject) -> PodRuntime:
    """Store a new pod and create its runtime record and index entries."""
    md = meta(pod)
    key: Key = (md["namespace"], md["name"])
    owner = next((r["uid"] for r in md.get("ownerReferences") or [] if r.get("controller")), None)
    containers = [
        ContainerRuntime(
            name=c["name"], image=c["image"], spec=c, behaviour=state.images.get(c["image"])
        )
        for c in pod["spec"]["containers"]
    ]
    init = [
        ContainerRuntime(
            name=c["name"],
            image=c["image"],
            spec=c,
            behaviour=state.images.get(c["image"]),
            waiting_reason="PodInitializing",
        )
        for c in pod["spec"].get("initContainers") or []
    ]
    rt = PodRuntime(
        key=key, uid=md["uid"], owner_uid=owner, containers=containers, init_containers=init
    )
    rt.created_at = state.now
    rt.transitions["PodScheduled"] = ("False", state.now)
    state.store.add(Kind.POD, pod)
    state.pods[key] = rt
    if owner:
        state.pods_by_owner.setdefault(owner, set()).add(key)
    state.unscheduled.add(key)
    return rt


def bind_pod(state: SimState, pod: KubeObject, node_name: str) -> None:
    """Assign a pod to a node (the scheduler's Binding) and reserve its requests."""
    rt = state.pods[(pod["metadata"]["namespace"], pod["metadata"]["name"])]
    node = state.nodes[node_name]
    rt.node = node_name
    rt.bound_at = state.now
    rt.next_wake = state.now
    node.pods.add(rt.key)
    cpu, mem = pod_requests(pod)
    node.used_cpu_m += cpu
    node.used_mem += mem
    rt.ip = f"10.244.{node.index}.{node.next_ip}"
    node.next_ip = node.next_ip + 1 if node.next_ip < 254 else 2
    state.unscheduled.discard(rt.key)
    pod["spec"]["nodeName"] = node_name


def release_node_resources(state: SimState, rt: PodRuntime) -> None:
    """A pod that finished (Succeeded/Failed) no longer holds its requests on the node."""
    if rt.released or rt.node is None or rt.node not in state.nodes:
        return
    pod = state.store.get(Kind.POD, *rt.key)
    if pod is None:
        return
    cpu, mem = pod_requests(pod)
    node = state.nodes[rt.node]
    node.used_cpu_m -= cpu
    node.used_mem -= mem
    rt.released = True


def remove_pod(state: SimState, key: Key) -> None:
    """Delete a pod from the store and every index (its containers have stopped)."""
    rt = state.pods.pop(key, None)
    pod = state.store.get(Kind.POD, *key)
    if rt is not None:
        if rt.owner_uid and rt.owner_uid in state.pods_by_owner:
            state.pods_by_owner[rt.owner_uid].discard(key)
        if rt.node and rt.node in state.nodes and pod is not None and not rt.released:
            node = state.nodes[rt.node]
            node.pods.discard(key)
            cpu, mem = pod_requests(pod)
            node.used_cpu_m -= cpu
            node.used_mem -= mem
        state.unscheduled.discard(key)
        if any(c.ready for c in rt.containers):
            state.endpoints_dirty = True
    state.store.remove(Kind.POD, *key)
    state.endpoints_dirty = True


def delete_pod(state: SimState, pod: KubeObject, grace_s: int | None = None) -> KubeObject:
    """Graceful deletion: mark the pod terminating; unscheduled pods go at once."""
    md = pod["metadata"]
    key: Key = (md["namespace"], md["name"])
    rt = state.pods.get(key)
    if md.get("deletionTimestamp"):
        return pod
    grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    if grace_s is not None:
        grace = grace_s
    if rt is None or rt.node is None:
        out = deep_copy(pod)
        remove_pod(state, key)
        return out
    md["deletionTimestamp"] = sim_time(state.now + grace)
    md["deletionGracePeriodSeconds"] = grace
    rt.next_wake = state.now
    state.store.touch(Kind.POD, pod)
    state.endpoints_dirty = True
    return pod
