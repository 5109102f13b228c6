"""Shared state of the simulated cluster: the store, runtimes of pods and nodes, and constants."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.cluster import ServiceMetrics
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject
from apps.k8s.sim.store import EventRecorder, Key, ObjectStore

TICK_S = 1.0  # virtual seconds per simulation step
METRICS_PERIOD_S = 5  # traffic model and metrics refresh, seconds
HPA_PERIOD_S = 15  # --horizontal-pod-autoscaler-sync-period
NODE_MONITOR_PERIOD_S = 5  # --node-monitor-period
NODE_MONITOR_GRACE_S = 40.0  # --node-monitor-grace-period
DEFAULT_TOLERATION_S = 300  # DefaultTolerationSeconds admission plugin
BACKOFF_INITIAL_S = 10.0  # kubelet crash back-off: 10 s ...
BACKOFF_MAX_S = 300.0  # ... doubling to 5 min
BACKOFF_RESET_S = 600.0  # a container that ran 10 min resets its back-off
MOUNT_RETRY_INITIAL_S = 2.0  # volume manager retry, doubling ...
MOUNT_RETRY_MAX_S = 122.0  # ... to 2m2s
CONFIG_RETRY_S = 10.0  # kubelet re-sync of a pod waiting on CreateContainerConfigError
SCHEDULER_RETRY_S = 5.0  # retry of unschedulable pods
PVC_RETRY_S = 15.0  # persistent volume controller resync
HPA_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
HPA_DOWNSCALE_WINDOW_S = 300.0  # scale-down stabilization window
PROGRESS_DEADLINE_DEFAULT_S = 600  # Deployment progressDeadlineSeconds default
NO_LIMIT_CPU_M = 2000.0  # CPU a container without a limit can use, millicores
KUBELET_VERSION = "v1.30.4"


class ContainerPhase(Enum):
    """Lifecycle state of one container in the simulator."""

    WAITING = "waiting"
    RUNNING = "running"
    TERMINATED = "terminated"


@dataclass
class ContainerRuntime:
    """What the kubelet knows about one container."""

    name: str
    image: str
    spec: dict[str, Any]
    behaviour: ImageBehaviour | None
    phase: ContainerPhase = ContainerPhase.WAITING
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    started_at: float | None = None
    listening_at: float = 0.0
    restart_count: int = 0
    crash_streak: int = 0
    backoff_until: float = 0.0
    crash_at: float | None = None
    crash_exit: tuple[int, str, str] = (1, "Error", "")
    last_terminated: dict[str, Any] | None = None
    ready: bool = False
    ready_successes: int = 0
    ready_failures: int = 0
    live_failures: int = 0
    next_readiness_at: float | None = None
    next_liveness_at: float | None = None
    next_startup_at: float | None = None
    startup_done: bool = True
    pulled: bool = False
    pulling: bool = False
    pull_done_at: float | None = None
    pull_attempts: int = 0
    next_pull_at: float = 0.0
    next_start_at: float = 0.0
    cpu_m: float = 0.0
    throttle: float = 1.0
    cpu_cap: float = 0.0  # CPU it can get now: its limit, or less on an oversubscribed node
    complete_at: float | None = None  # a run-to-completion container exits 0 then
    terminated: dict[str, Any] | None = None  # state.terminated once it exited 0 (init containers)
    waiting_since: float | None = None  # a wait-for container polls its requirements since


@dataclass
class PodRuntime:
    """What the kubelet and the controllers know about one pod beyond its API object."""

    key: Key
    uid: str
    owner_uid: str | None
    containers: list[ContainerRuntime]
    init_containers: list[ContainerRuntime] = field(default_factory=list)
    init_done: int = 0  # init containers that exited 0, in order
    released: bool = False  # finished: its requests no longer count on the node
    evicted: str = ""  # the kubelet's eviction message once evicted
    node: str | None = None
    ip: str = ""
    created_at: float = 0.0
    bound_at: float | None = None
    volumes_ready: bool = False
    mount_attempts: int = 0
    next_mount_at: float = 0.0
    remove_at: float | None = None
    next_wake: float = 0.0
    node_lost: bool = False
    load_rps: float = 0.0
    transitions: dict[str, tuple[str, float]] = field(default_factory=dict)
    last_sched_try: float = -1e9
    started_at: float | None = None


@dataclass
class NodeRuntime:
    """The kubelet of one node."""

    name: str
    index: int
    kubelet_up: bool = True
    last_heartbeat: float = 0.0
    images: set[str] = field(default_factory=set)
    next_ip: int = 2
    used_cpu_m: float = 0.0
    used_mem: float = 0.0
    pods: set[Key] = field(default_factory=set)
    pid_max: float = 32768.0
    # per eviction signal ("memory", "ephemeral-storage", "pids"): last pass that saw pressure
    pressure_at: dict[str, float] = field(default_factory=dict)


@dataclass
class HpaRuntime:
    """Recommendations of one HPA over the downscale stabilization window."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class SimState:
    """Everything the simulated control plane and kubelets share."""

    rng: random.Random
    images: dict[str, ImageBehaviour]
    store: ObjectStore = field(default_factory=ObjectStore)
    now: float = 0.0
    pods: dict[Key, PodRuntime] = field(default_factory=dict)
    nodes: dict[str, NodeRuntime] = field(default_factory=dict)
    pods_by_owner: dict[str, set[Key]] = field(default_factory=dict)
    rs_by_owner: dict[str, set[Key]] = field(default_factory=dict)
    unscheduled: set[Key] = field(default_factory=set)
    hpas: dict[Key, HpaRuntime] = field(default_factory=dict)
    traffic: dict[Key, float] = field(default_factory=dict)
    service_stats: dict[Key, ServiceMetrics] = field(default_factory=dict)
    call_rates: dict[tuple[Key, Key], float] = field(default_factory=dict)
    endpoints_dirty: bool = True
    pvc_retry: dict[Key, float] = field(default_factory=dict)
    deploy_progress: dict[str, tuple[tuple[int, ...], float]] = field(default_factory=dict)
    rs_template_json: dict[str, bytes] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    uid_seq: int = 0
    events: EventRecorder = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.store)
        self.store.on_change = self._mark

    def _mark(self, kind: Kind, obj: KubeObject) -> None:
        """Remember which controllers must look again: the object's and its owner's uids."""
        if kind in (Kind.POD, Kind.REPLICA_SET, Kind.DEPLOYMENT):
            md = obj.get("metadata") or {}
            if kind is not Kind.POD:
                self.dirty.add(str(md.get("uid")))
            for ref in md.get("ownerReferences") or []:
                if ref.get("controller"):
                    self.dirty.add(str(ref.get("uid")))

    def new_uid(self) -> str:
        """A deterministic, UUID-shaped uid."""
        self.uid_seq += 1
        r = self.rng.getrandbits(96)
        return f"{self.uid_seq:08x}-{(r >> 80) & 0xFFFF:04x}-4{(r >> 68) & 0xFFF:03x}-a{(r >> 56) & 0xFFF:03x}-{r & 0xFFFFFFFFFFFF:012x}"

    def event(
        self,
        involved: KubeObject,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "kubelet",
        host: str | None = None,
    ) -> None:
        """Record an event at the current virtual time."""
        self.events.record(
            self.now, involved, reason, message, warning=warning, component=component, host=host
        )

    def get(self, kind: Kind, namespace: str, name: str) -> KubeObject | None:
        """A stored object (not a copy)."""
        return self.store.get(kind, namespace, name)
