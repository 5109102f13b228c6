"""The kubelet's eviction manager: node memory pressure, its taint, and evicting pods.

As ``pkg/kubelet/eviction`` does it with the default hard threshold
``memory.available<100Mi``: every housekeeping pass compares the node's memory with the
sum of its pods' working sets; below the threshold the node reports
``MemoryPressure=True`` and is tainted ``node.kubernetes.io/memory-pressure:NoSchedule``,
and the kubelet evicts one pod per pass, ranked as ``rankMemoryPressure`` ranks them:
pods whose usage exceeds their requests first, then lower priority, then by how far usage
exceeds requests. An evicted pod ends ``Failed`` with reason ``Evicted`` and the kubelet's
message; its controller replaces it. The condition clears only after the pressure has been
gone for ``--eviction-pressure-transition-period`` (5 min).
"""

from __future__ import annotations

from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, sim_time
from apps.k8s.quantity import MIB, memory_bytes
from apps.k8s.sim.kubelet import memory_usage, write_status
from apps.k8s.sim.podutil import pod_requests, release_node_resources
from apps.k8s.sim.state import ContainerPhase, NodeRuntime, PodRuntime, SimState

HOUSEKEEPING_S = 10.0  # --housekeeping-interval
MEMORY_THRESHOLD = 100 * MIB  # --eviction-hard=memory.available<100Mi
PRESSURE_TRANSITION_S = 300.0  # --eviction-pressure-transition-period
MEMORY_PRESSURE_TAINT = "node.kubernetes.io/memory-pressure"


def _ki(value: float) -> str:
    return f"{int(value // 1024)}Ki"


def eviction_step(state: SimState) -> None:
    """One housekeeping pass of every live kubelet."""
    for nrt in state.nodes.values():
        node = state.get(Kind.NODE, "", nrt.name)
        if node is None or not nrt.kubelet_up:
            continue
        capacity = memory_bytes(((node.get("status") or {}).get("allocatable") or {}).get("memory"))
        running = [
            rt
            for key in sorted(nrt.pods)
            if (rt := state.pods.get(key)) is not None and not rt.evicted and not rt.released
        ]
        usage = {rt.key: _pod_usage(state, rt) for rt in running}
        available = capacity - sum(usage.values())
        if available < MEMORY_THRESHOLD:
            nrt.memory_pressure_at = state.now
            _set_pressure(state, node, True)
            victim = _rank(state, running, usage)
            if victim is not None:
                _evict(state, victim, nrt, available, usage[victim.key])
        elif (
            nrt.memory_pressure_at is not None
            and state.now - nrt.memory_pressure_at >= PRESSURE_TRANSITION_S
        ):
            nrt.memory_pressure_at = None
            _set_pressure(state, node, False)


def _pod_usage(state: SimState, rt: PodRuntime) -> float:
    return sum(memory_usage(c, rt.load_rps, state.now) for c in rt.containers)


def _rank(
    state: SimState, pods: list[PodRuntime], usage: dict[tuple[str, str], float]
) -> PodRuntime | None:
    def key(rt: PodRuntime) -> tuple[int, int, float]:
        pod = state.get(Kind.POD, *rt.key) or {}
        request = pod_requests(pod)[1] if pod else 0.0
        over = usage[rt.key] - request
        priority = int((pod.get("spec") or {}).get("priority", 0))
        return (0 if over > 0 else 1, priority, -over)

    candidates = [rt for rt in pods if usage[rt.key] > 0]
    return min(candidates, key=key) if candidates else None


def _set_pressure(state: SimState, node: KubeObject, on: bool) -> None:
    now = state.now
    for cond in node["status"]["conditions"]:
        if cond["type"] != "MemoryPressure":
            continue
        status = "True" if on else "False"
        if cond.get("status") == status:
            return
        reason, message = (
            ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
            if on
            else ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")
        )
        cond.update(status=status, reason=reason, message=message, lastTransitionTime=sim_time(now))
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != MEMORY_PRESSURE_TAINT]
    if on:
        taints.append(
            {"key": MEMORY_PRESSURE_TAINT, "effect": "NoSchedule", "timeAdded": sim_time(now)}
        )
        state.event(
            node,
            "NodeHasInsufficientMemory",
            f"Node {node['metadata']['name']} status is now: NodeHasInsufficientMemory",
            host=node["metadata"]["name"],
        )
    else:
        state.event(
            node,
            "NodeHasSufficientMemory",
            f"Node {node['metadata']['name']} status is now: NodeHasSufficientMemory",
            host=node["metadata"]["name"],
        )
    if taints:
        node["spec"]["taints"] = taints
    else:
        node["spec"].pop("taints", None)
    state.store.touch(Kind.NODE, node)


def _evict(
    state: SimState, rt: PodRuntime, nrt: NodeRuntime, available: float, used: float
) -> None:
    pod = state.get(Kind.POD, *rt.key)
    if pod is None:
        return
    biggest = max(
        rt.containers, key=lambda c: memory_usage(c, rt.load_rps, state.now), default=None
    )
    detail = ""
    if biggest is not None:
        req = ((biggest.spec.get("resources") or {}).get("requests") or {}).get("memory", "0")
        detail = (
            f"Container {biggest.name} was using "
            f"{_ki(memory_usage(biggest, rt.load_rps, state.now))}, request is {req}, "
            "has larger consumption of memory. "
        )
    message = (
        f"The node was low on resource: memory. Threshold quantity: 100Mi, available: "
        f"{_ki(max(available, 0.0))}. {detail}"
    )
    state.event(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": nrt.name, "uid": nrt.name}},
        "EvictionThresholdMet",
        "Attempting to reclaim memory",
        warning=True,
        host=nrt.name,
    )
    state.event(pod, "Evicted", message, warning=True, host=nrt.name)
    for c in rt.containers:
        if c.phase is ContainerPhase.RUNNING:
            state.event(pod, "Killing", f"Stopping container {c.name}", host=nrt.name)
        c.phase = ContainerPhase.TERMINATED
        c.ready = False
        c.terminated = {
            "exitCode": 137,
            "reason": "ContainerStatusUnknown",
            "message": "The container could not be located when the pod was terminated",
            "startedAt": sim_time(c.started_at if c.started_at is not None else state.now),
            "finishedAt": sim_time(state.now),
            "containerID": "",
        }
    rt.evicted = message
    release_node_resources(state, rt)
    write_status(state, pod, rt)
    state.endpoints_dirty = True
    state.dirty.add(rt.owner_uid or "")
