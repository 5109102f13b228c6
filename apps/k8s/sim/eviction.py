"""The kubelet's eviction manager: node pressure, its taint, and evicting pods.

As ``pkg/kubelet/eviction`` does it, for three signals with the kubelet's default hard
thresholds where it has one: ``memory.available<100Mi``, ``nodefs.available<10%`` (the
node filesystem: logs, writable layers, emptyDir) and ``pid.available<10%`` (no default in
the kubelet; the simulator applies this one). Every housekeeping pass compares the node's
capacity with what its pods use; below a threshold the node reports the condition
(``MemoryPressure``, ``DiskPressure``, ``PIDPressure``), is tainted
``node.kubernetes.io/<memory|disk|pid>-pressure:NoSchedule``, and the kubelet evicts one pod
per pass, ranked as the kubelet ranks them: pods whose usage exceeds their requests first,
then lower priority, then by usage over requests. An evicted pod ends ``Failed`` with reason
``Evicted`` and the kubelet's message; its controller replaces it. A condition clears only
after its pressure has been gone for ``--eviction-pressure-transition-period`` (5 min).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, sim_time
from apps.k8s.quantity import MIB, memory_bytes
from apps.k8s.sim.kubelet import memory_usage, write_status
from apps.k8s.sim.podutil import release_node_resources
from apps.k8s.sim.state import ContainerPhase, ContainerRuntime, NodeRuntime, PodRuntime, SimState

HOUSEKEEPING_S = 10.0  # --housekeeping-interval
PRESSURE_TRANSITION_S = 300.0  # --eviction-pressure-transition-period
MEMORY_THRESHOLD = 100 * MIB  # --eviction-hard=memory.available<100Mi
MEMORY_PRESSURE_TAINT = "node.kubernetes.io/memory-pressure"


def _minutes_up(c: ContainerRuntime, now: float) -> float:
    return (now - c.started_at) / 60.0 if c.started_at is not None else 0.0


def _disk(c: ContainerRuntime, load: float, now: float) -> float:
    beh = c.behaviour
    if beh is None or c.phase is not ContainerPhase.RUNNING:
        return 0.0
    return (beh.storage.base_mib + beh.storage.growth_mib_per_min * _minutes_up(c, now)) * MIB


def _pids(c: ContainerRuntime, load: float, now: float) -> float:
    beh = c.behaviour
    if beh is None or c.phase is not ContainerPhase.RUNNING:
        return 0.0
    return beh.pids.base + beh.pids.leak_per_min * _minutes_up(c, now)


@dataclass(frozen=True)
class Signal:
    """One eviction signal: what it measures, its threshold, the condition and taint it drives."""

    resource: str  # as the kubelet's messages name it
    condition: str
    taint: str
    on: tuple[str, str]  # condition reason and message under pressure
    off: tuple[str, str]
    events: tuple[str, str]  # node event reasons: pressure, relief
    usage: Callable[[ContainerRuntime, float, float], float]
    capacity: Callable[[KubeObject, NodeRuntime], float]
    threshold: Callable[[float], float]  # from capacity
    threshold_text: str
    request_key: str  # the container request it is ranked against
    unit: Callable[[float], str]


def _ki(value: float) -> str:
    return f"{int(value // 1024)}Ki"


def _count(value: float) -> str:
    return str(int(value))


def _alloc(key: str) -> Callable[[KubeObject, NodeRuntime], float]:
    def get(node: KubeObject, nrt: NodeRuntime) -> float:
        return memory_bytes(((node.get("status") or {}).get("allocatable") or {}).get(key))

    return get


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "memory",
        "MemoryPressure",
        MEMORY_PRESSURE_TAINT,
        ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
        ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("NodeHasInsufficientMemory", "NodeHasSufficientMemory"),
        memory_usage,
        _alloc("memory"),
        lambda cap: MEMORY_THRESHOLD,
        "100Mi",
        "memory",
        _ki,
    ),
    Signal(
        "ephemeral-storage",
        "DiskPressure",
        "node.kubernetes.io/disk-pressure",
        ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("NodeHasDiskPressure", "NodeHasNoDiskPressure"),
        _disk,
        _alloc("ephemeral-storage"),
        lambda cap: 0.10 * cap,
        "10%",
        "ephemeral-storage",
        _ki,
    ),
    Signal(
        "pids",
        "PIDPressure",
        "node.kubernetes.io/pid-pressure",
        ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
        ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("NodeHasInsufficientPID", "NodeHasSufficientPID"),
        _pids,
        lambda node, nrt: nrt.pid_max,
        lambda cap: 0.10 * cap,
        "10%",
        "",
        _count,
    ),
)


def eviction_step(state: SimState) -> None:
    """One housekeeping pass of every live kubelet, signal by signal."""
    for nrt in state.nodes.values():
        node = state.get(Kind.NODE, "", nrt.name)
        if node is None or not nrt.kubelet_up:
            continue
        running = [
            rt
            for key in sorted(nrt.pods)
            if (rt := state.pods.get(key)) is not None and not rt.evicted and not rt.released
        ]
        for sig in SIGNALS:
            capacity = sig.capacity(node, nrt)
            if capacity <= 0:
                continue
            usage = {
                rt.key: sum(sig.usage(c, rt.load_rps, state.now) for c in rt.containers)
                for rt in running
            }
            available = capacity - sum(usage.values())
            if available < sig.threshold(capacity):
                nrt.pressure_at[sig.resource] = state.now
                _set_pressure(state, node, sig, True)
                victim = _rank(state, sig, running, usage)
                if victim is not None:
                    _evict(state, sig, victim, nrt, available)
                    running.remove(victim)
            elif (
                sig.resource in nrt.pressure_at
                and state.now - nrt.pressure_at[sig.resource] >= PRESSURE_TRANSITION_S
            ):
                del nrt.pressure_at[sig.resource]
                _set_pressure(state, node, sig, False)


def _request(c: ContainerRuntime, key: str) -> float:
    if not key:
        return 0.0
    return memory_bytes(((c.spec.get("resources") or {}).get("requests") or {}).get(key))


def _rank(
    state: SimState, sig: Signal, pods: list[PodRuntime], usage: dict[tuple[str, str], float]
) -> PodRuntime | None:
    def key(rt: PodRuntime) -> tuple[int, int, float]:
        pod = state.get(Kind.POD, *rt.key) or {}
        over = usage[rt.key] - sum(_request(c, sig.request_key) for c in rt.containers)
        priority = int((pod.get("spec") or {}).get("priority", 0))
        return (0 if over > 0 else 1, priority, -over)

    candidates = [rt for rt in pods if usage[rt.key] > 0]
    return min(candidates, key=key) if candidates else None


def _set_pressure(state: SimState, node: KubeObject, sig: Signal, on: bool) -> None:
    now = state.now
    for cond in node["status"]["conditions"]:
        if cond["type"] != sig.condition:
            continue
        status = "True" if on else "False"
        if cond.get("status") == status:
            return
        reason, message = sig.on if on else sig.off
        cond.update(status=status, reason=reason, message=message, lastTransitionTime=sim_time(now))
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != sig.taint]
    name = node["metadata"]["name"]
    if on:
        taints.append({"key": sig.taint, "effect": "NoSchedule", "timeAdded": sim_time(now)})
    event = sig.events[0] if on else sig.events[1]
    state.event(node, event, f"Node {name} status is now: {event}", host=name)
    if taints:
        node["spec"]["taints"] = taints
    else:
        node["spec"].pop("taints", None)
    state.store.touch(Kind.NODE, node)


def _evict(
    state: SimState, sig: Signal, rt: PodRuntime, nrt: NodeRuntime, available: float
) -> None:
    pod = state.get(Kind.POD, *rt.key)
    if pod is None:
        return
    now = state.now
    biggest = max(rt.containers, key=lambda c: sig.usage(c, rt.load_rps, now), default=None)
    detail = ""
    if biggest is not None:
        req = (
            ((biggest.spec.get("resources") or {}).get("requests") or {}).get(sig.request_key, "0")
            if sig.request_key
            else "0"
        )
        detail = (
            f"Container {biggest.name} was using "
            f"{sig.unit(sig.usage(biggest, rt.load_rps, now))}, request is {req}, "
            f"has larger consumption of {sig.resource}. "
        )
    message = (
        f"The node was low on resource: {sig.resource}. Threshold quantity: "
        f"{sig.threshold_text}, available: {sig.unit(max(available, 0.0))}. {detail}"
    )
    state.event(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": nrt.name, "uid": nrt.name}},
        "EvictionThresholdMet",
        f"Attempting to reclaim {sig.resource}",
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
            "startedAt": sim_time(c.started_at if c.started_at is not None else now),
            "finishedAt": sim_time(now),
            "containerID": "",
        }
    rt.evicted = message
    release_node_resources(state, rt)
    write_status(state, pod, rt)
    state.endpoints_dirty = True
    state.dirty.add(rt.owner_uid or "")
