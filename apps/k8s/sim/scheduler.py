"""The simulated kube-scheduler: filters on readiness, taints, selectors, PVCs and requests."""

from __future__ import annotations

from collections import Counter
from typing import Any

from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, is_node_ready, sim_time
from apps.k8s.quantity import cpu_millicores, memory_bytes
from apps.k8s.sim.podutil import bind_pod, pod_requests
from apps.k8s.sim.state import SCHEDULER_RETRY_S, SimState

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    """Whether any toleration matches the taint (core/v1 ToleratesTaint)."""
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator", "Equal") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _pvc_problem(state: SimState, pod: KubeObject) -> str | None:
    ns = pod["metadata"]["namespace"]
    for vol in pod["spec"].get("volumes") or []:
        src = vol.get("persistentVolumeClaim")
        if src is None:
            continue
        pvc = state.get(Kind.PERSISTENT_VOLUME_CLAIM, ns, src["claimName"])
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            return f'persistentvolumeclaim "{src["claimName"]}" not found'
        if (pvc.get("status") or {}).get("phase") != "Bound":
            return "pod has unbound immediate PersistentVolumeClaims"
    return None


def pick_node(state: SimState, pod: KubeObject) -> tuple[str | None, str]:
    """The best feasible node, or None and the scheduler's FailedScheduling message."""
    total = len(state.nodes)
    preemption = f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
    pvc_problem = _pvc_problem(state, pod)
    if pvc_problem is not None:
        return None, f"0/{total} nodes are available: {pvc_problem}. {preemption}"
    cpu, mem = pod_requests(pod)
    tolerations = pod["spec"].get("tolerations") or []
    selector = pod["spec"].get("nodeSelector") or {}
    reasons: Counter[str] = Counter()
    best: tuple[float, str] | None = None
    for name, nrt in state.nodes.items():
        node = state.get(Kind.NODE, "", name)
        if node is None:
            continue
        spec, status = node.get("spec") or {}, node.get("status") or {}
        # NodeUnschedulable plugin: a cordoned node takes only pods that tolerate its taint
        if spec.get("unschedulable") and not tolerates(tolerations, UNSCHEDULABLE_TAINT):
            reasons["node(s) were unschedulable"] += 1
            continue
        untolerated = [
            t
            for t in spec.get("taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute")
            and t.get("key") != UNSCHEDULABLE_TAINT["key"]
            and not tolerates(tolerations, t)
        ]
        if untolerated:
            t = untolerated[0]
            reasons[f"node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}"] += 1
            continue
        if not is_node_ready(node):
            reasons["node(s) were not ready"] += 1
            continue
        labels = node["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            reasons["node(s) didn't match Pod's node affinity/selector"] += 1
            continue
        alloc = status.get("allocatable") or {}
        alloc_cpu = cpu_millicores(alloc.get("cpu"))
        alloc_mem = memory_bytes(alloc.get("memory"))
        alloc_pods = int(alloc.get("pods", 110))
        fits = True
        if len(nrt.pods) + 1 > alloc_pods:
            reasons["Too many pods"] += 1
            fits = False
        if nrt.used_cpu_m + cpu > alloc_cpu:
            reasons["Insufficient cpu"] += 1
            fits = False
        if nrt.used_mem + mem > alloc_mem:
            reasons["Insufficient memory"] += 1
            fits = False
        if not fits:
            continue
        # NodeResourcesFit LeastAllocated: prefer the emptiest node
        score = (nrt.used_cpu_m + cpu) / max(alloc_cpu, 1.0) + (nrt.used_mem + mem) / max(
            alloc_mem, 1.0
        )
        if best is None or score < best[0]:
            best = (score, name)
    if best is not None:
        return best[1], ""
    detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    return None, f"0/{total} nodes are available: {detail}. {preemption}"


def scheduler_step(state: SimState) -> None:
    """Try to bind every pending pod that is due for an attempt."""
    now = state.now
    for key in sorted(state.unscheduled):
        rt = state.pods.get(key)
        pod = state.get(Kind.POD, *key)
        if rt is None or pod is None or pod["metadata"].get("deletionTimestamp"):
            continue
        if now - rt.last_sched_try < SCHEDULER_RETRY_S:
            continue
        rt.last_sched_try = now
        node, message = pick_node(state, pod)
        if node is not None:
            bind_pod(state, pod, node)
            state.event(
                pod,
                "Scheduled",
                f"Successfully assigned {key[0]}/{key[1]} to {node}",
                component="default-scheduler",
            )
            state.store.touch(Kind.POD, pod)
            continue
        state.event(pod, "FailedScheduling", message, warning=True, component="default-scheduler")
        prev = rt.transitions.get("PodScheduled", ("False", now))
        status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": sim_time(prev[1]),
                    "reason": "Unschedulable",
                    "message": message,
                }
            ],
            "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
        }
        if pod.get("status") != status:
            pod["status"] = status
            state.store.touch(Kind.POD, pod)
