"""``SimCluster``: the embedded simulated cluster behind the ``Cluster`` interface."""

from __future__ import annotations

import builtins
import copy
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apps.k8s.actions import ApiOp, Verb
from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.cluster import (
    ChangeBatch,
    Cluster,
    ServiceCall,
    ServiceMetrics,
    WatchEvent,
    WatchEventType,
)
from apps.k8s.exceptions import InvalidObjectError
from apps.k8s.kinds import KINDS, Kind, kind_info
from apps.k8s.objects import (
    KubeObject,
    deep_copy,
    get_path,
    matches_requirements,
    parse_selector,
    sim_time,
)
from apps.k8s.patching import PatchType
from apps.k8s.policy import WritePolicy
from apps.k8s.quantity import cpu_millicores, memory_bytes
from apps.k8s.scenario import (
    ApplyFault,
    DeleteFault,
    Fault,
    NodeDownFault,
    NodeGroup,
    NodeUpFault,
    PatchFault,
    ScaleFault,
    Scenario,
    TrafficFault,
)
from apps.k8s.sim import api
from apps.k8s.sim.controllers import (
    deployment_status,
    endpoints_step,
    gc_orphans,
    hpa_step,
    node_lifecycle_step,
    pvc_step,
    quota_status_step,
    reconcile_deployment,
    reconcile_replica_set,
    replica_set_status,
)
from apps.k8s.sim.disruption import pdb_step
from apps.k8s.sim.eviction import HOUSEKEEPING_S, eviction_step
from apps.k8s.sim.jobs import job_step
from apps.k8s.sim.kubelet import kubelet_step, memory_usage
from apps.k8s.sim.scheduler import scheduler_step
from apps.k8s.sim.state import (
    HPA_PERIOD_S,
    KUBELET_VERSION,
    METRICS_PERIOD_S,
    NODE_MONITOR_PERIOD_S,
    TICK_S,
    ContainerPhase,
    NodeRuntime,
    SimState,
)
from apps.k8s.sim.traffic import traffic_step

SYSTEM_RESERVED_CPU_M = 100.0  # kube-reserved + system-reserved CPU per node, millicores
SYSTEM_RESERVED_MEMORY = 512 * 2**20  # ... and memory, bytes
GC_PERIOD_S = 10
FULL_RESYNC_PERIOD_S = 10  # every controller looks at every object this often (informer resync)
EVENT_GC_PERIOD_S = 60
_PATCH_TYPES = {"strategic": PatchType.STRATEGIC, "merge": PatchType.MERGE, "json": PatchType.JSON}


class SimCluster(Cluster):
    """A deterministic simulated cluster in virtual time (one seed reproduces a run).

    Time moves only through :meth:`advance`; every write through :meth:`apply` is seen
    by the controllers on the next step, as on a real cluster.
    """

    default_dry_run = False

    def __init__(
        self,
        seed: int = 0,
        nodes: Sequence[NodeGroup] = (NodeGroup(count=3),),
        storage_classes: Iterable[str] = ("standard",),
        images: Mapping[str, ImageBehaviour] | None = None,
        policy: WritePolicy | None = None,
    ) -> None:
        self.seed = seed
        self.policy = policy or WritePolicy.permissive()
        self.state = SimState(rng=random.Random(seed), images=dict(images or {}))
        self._faults: builtins.list[Fault] = []
        self.scenario: Scenario | None = None
        self._dirty_prev: set[str] = set()
        for group in nodes:
            names = (
                [group.name]
                if group.name
                else [f"{group.prefix}-{i}" for i in range(1, group.count + 1)]
            )
            for name in names:
                self.add_node(
                    name,
                    group.cpu,
                    group.memory,
                    group.pods,
                    group.labels,
                    group.taints,
                    ephemeral_storage=group.ephemeral_storage,
                    pid_max=group.pid_max,
                )
        for i, sc in enumerate(storage_classes):
            self._add_storage_class(sc, default=i == 0)

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_scenario(
        cls, scenario: Scenario, seed: int | None = None, policy: WritePolicy | None = None
    ) -> SimCluster:
        """Build the cluster a scenario describes, at virtual time 0.

        Args:
            scenario: The scenario (nodes, manifests, image behaviours, traffic, faults).
            seed: Overrides the scenario's seed (pod names, uids, scheduling ties).
            policy: The write allowlist (default: every namespace but the protected ones).

        Returns:
            A cluster whose faults fire as virtual time passes their ``at_s``.
        """
        sim = cls(
            seed=scenario.seed if seed is None else seed,
            nodes=scenario.nodes,
            storage_classes=scenario.storage_classes,
            images=scenario.images,
            policy=policy,
        )
        for manifest in scenario.manifests:
            sim.create_manifest(manifest)
        for t in scenario.traffic:
            sim.set_traffic(t.namespace, t.service, t.rps)
        for fault in scenario.faults:
            sim.inject(fault)
        sim.scenario = scenario
        return sim

    def add_node(
        self,
        name: str,
        cpu: str = "4",
        memory: str = "16Gi",
        pods: int = 110,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, Any]] = (),
        *,
        ephemeral_storage: str = "100Gi",
        pid_max: int = 32768,
    ) -> KubeObject:
        """Add a Ready node with the given capacity."""
        st = self.state
        index = len(st.nodes) + 1
        alloc_cpu = max(cpu_millicores(cpu) - SYSTEM_RESERVED_CPU_M, 0.0)
        alloc_mem = max(memory_bytes(memory) - SYSTEM_RESERVED_MEMORY, 0.0)
        ts = sim_time(st.now)
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        node: KubeObject = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "uid": st.new_uid(),
                "creationTimestamp": ts,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    **dict(labels or {}),
                },
            },
            "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
            "status": {
                "capacity": {
                    "cpu": str(cpu),
                    "memory": str(memory),
                    "pods": str(pods),
                    "ephemeral-storage": str(ephemeral_storage),
                },
                "allocatable": {
                    "cpu": f"{int(alloc_cpu)}m",
                    "memory": f"{int(alloc_mem / 1024)}Ki",
                    "pods": str(pods),
                    "ephemeral-storage": str(ephemeral_storage),
                },
                "conditions": [
                    {
                        "type": t,
                        "status": s,
                        "reason": r,
                        "message": m,
                        "lastHeartbeatTime": ts,
                        "lastTransitionTime": ts,
                    }
                    for t, s, r, m in conditions
                ],
                "addresses": [
                    {"type": "InternalIP", "address": f"10.0.0.{index + 10}"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": KUBELET_VERSION,
                    "containerRuntimeVersion": "containerd://1.7.20",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }
        if taints:
            node["spec"]["taints"] = [dict(t) for t in taints]
        st.store.add(Kind.NODE, node)
        st.nodes[name] = NodeRuntime(
            name=name, index=index, last_heartbeat=st.now, pid_max=float(pid_max)
        )
        return deep_copy(node)

    def _add_storage_class(self, name: str, default: bool) -> None:
        sc: KubeObject = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": name,
                "uid": self.state.new_uid(),
                "creationTimestamp": sim_time(self.state.now),
                "annotations": {
                    "storageclass.kubernetes.io/is-default-class": str(default).lower()
                },
            },
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        self.state.store.add(Kind.STORAGE_CLASS, sc)

    def create_manifest(self, manifest: Mapping[str, Any]) -> KubeObject:
        """Create one object from a manifest (``kubectl create``)."""
        kind = Kind(manifest["kind"])
        return api.create(self.state, kind, dict(manifest))

    def set_traffic(self, namespace: str, service: str, rps: float) -> None:
        """Set the external requests per second arriving at a Service."""
        self.state.traffic[(namespace, service)] = rps

    def inject(self, fault: Fault) -> None:
        """Schedule a fault at its ``at_s`` (applied at the first step at or after it)."""
        self._faults.append(fault)
        self._faults.sort(key=lambda f: f.at_s)

    # time ---------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Virtual seconds since the cluster started."""
        return self.state.now

    def advance(self, seconds: float) -> None:
        """Run the control plane and kubelets for ``seconds`` of virtual time."""
        self.run_until(self.state.now + seconds)

    def run_until(self, t: float) -> None:
        """Run until virtual time ``t``."""
        while self.state.now + TICK_S <= t + 1e-9:
            self.step()

    def step(self) -> None:
        """One tick: faults, controllers, scheduler, kubelets, endpoints, metrics, HPA."""
        st = self.state
        st.now = round(st.now + TICK_S, 6)
        tick = round(st.now)
        while self._faults and self._faults[0].at_s <= st.now:
            self._apply_fault(self._faults.pop(0))
        if tick % NODE_MONITOR_PERIOD_S == 0:
            node_lifecycle_step(st)
        pvc_step(st)
        full = tick % FULL_RESYNC_PERIOD_S == 0
        work = self._dirty_prev | st.dirty
        deployments = [
            d for d in st.store.values(Kind.DEPLOYMENT) if full or d["metadata"]["uid"] in work
        ]
        for d in deployments:
            reconcile_deployment(st, d)
        if tick % GC_PERIOD_S == 0:
            gc_orphans(st)
        work |= st.dirty
        for rs in st.store.values(Kind.REPLICA_SET):
            if full or rs["metadata"]["uid"] in work:
                reconcile_replica_set(st, rs)
        scheduler_step(st)
        kubelet_step(st)
        endpoints_step(st)
        work |= st.dirty
        for rs in st.store.values(Kind.REPLICA_SET):
            if full or rs["metadata"]["uid"] in work:
                replica_set_status(st, rs)
        work |= st.dirty
        for d in st.store.values(Kind.DEPLOYMENT):
            if full or d["metadata"]["uid"] in work:
                deployment_status(st, d)
        self._dirty_prev = st.dirty
        st.dirty = set()
        if tick % METRICS_PERIOD_S == 0 or tick == 1:
            traffic_step(st)
            quota_status_step(st)
        if tick % HPA_PERIOD_S == 0:
            hpa_step(st)
        if st.store.count(Kind.POD_DISRUPTION_BUDGET):
            pdb_step(st)
        if st.store.count(Kind.JOB):
            job_step(st)
        if tick % HOUSEKEEPING_S == 0:
            eviction_step(st)
        if tick % EVENT_GC_PERIOD_S == 0:
            st.events.gc(st.now)

    def _apply_fault(self, fault: Fault) -> None:
        st = self.state
        match fault:
            case PatchFault():
                ns = fault.namespace or ("" if not kind_info(fault.kind).namespaced else "default")
                api.patch(
                    st,
                    fault.kind,
                    ns,
                    fault.name,
                    fault.patch,
                    _PATCH_TYPES[fault.patch_type],
                    fault.subresource,
                )
            case ApplyFault():
                for manifest in fault.manifests:
                    self.create_manifest(manifest)
            case DeleteFault():
                ns = fault.namespace or ("" if not kind_info(fault.kind).namespaced else "default")
                api.delete(st, fault.kind, ns, fault.name)
            case ScaleFault():
                api.patch(
                    st,
                    Kind.DEPLOYMENT,
                    fault.namespace,
                    fault.name,
                    {"spec": {"replicas": fault.replicas}},
                    PatchType.MERGE,
                    "scale",
                )
            case NodeDownFault():
                st.nodes[fault.node].kubelet_up = False
            case NodeUpFault():
                st.nodes[fault.node].kubelet_up = True
            case TrafficFault():
                key = (fault.namespace, fault.service)
                if fault.rps is not None:
                    st.traffic[key] = fault.rps
                else:
                    st.traffic[key] = st.traffic.get(key, 0.0) * float(fault.factor or 1.0)

    def fork(self) -> SimCluster:
        """An independent copy that continues from the same state (same future randomness)."""
        return copy.deepcopy(self)

    # reads --------------------------------------------------------------------------------
    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[KubeObject]:
        """Objects of a kind (copies), sorted by namespace and name like the API."""
        ns = namespace if kind_info(kind).namespaced else None
        items = self.state.store.in_namespace(kind, ns)
        labels = parse_selector(label_selector)
        fields = parse_selector(field_selector)
        out = []
        for obj in items:
            if labels and not matches_requirements(obj["metadata"].get("labels") or {}, labels):
                continue
            if fields and not matches_requirements(
                {key: get_path(obj, key) for key, _, _ in fields}, fields
            ):
                continue
            out.append(obj)
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        copied: builtins.list[KubeObject] = deep_copy(out)
        return copied

    def get(self, kind: Kind, name: str, namespace: str = "") -> KubeObject:
        """One object (a copy); raises :class:`ObjectNotFoundError`."""
        ns = (namespace or "default") if kind_info(kind).namespaced else ""
        obj = self.state.store.get(kind, ns, name)
        if obj is None:
            raise api._not_found(kind, ns, name)
        copied: KubeObject = deep_copy(obj)
        return copied

    def pod_metrics(self, namespace: str | None = None) -> builtins.list[KubeObject]:
        """metrics.k8s.io PodMetrics of running pods on live nodes (as metrics-server serves)."""
        st = self.state
        ts = sim_time(st.now - (st.now % METRICS_PERIOD_S))
        out: builtins.list[KubeObject] = []
        for (ns, name), rt in st.pods.items():
            if namespace is not None and ns != namespace:
                continue
            if rt.node is None or not st.nodes[rt.node].kubelet_up:
                continue
            running = [c for c in rt.containers if c.phase is ContainerPhase.RUNNING]
            if not running:
                continue
            pod = st.store.get(Kind.POD, ns, name)
            out.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": name,
                        "namespace": ns,
                        "creationTimestamp": sim_time(st.now),
                        "labels": dict(((pod or {}).get("metadata") or {}).get("labels") or {}),
                    },
                    "timestamp": ts,
                    "window": f"{METRICS_PERIOD_S}s",
                    "containers": [
                        {
                            "name": c.name,
                            "usage": {
                                "cpu": f"{int(c.cpu_m * 1e6)}n",
                                "memory": f"{int(memory_usage(c, rt.load_rps, st.now) / 1024)}Ki",
                            },
                        }
                        for c in running
                    ],
                }
            )
        out.sort(key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
        return out

    def service_metrics(self, namespace: str | None = None) -> builtins.list[ServiceMetrics]:
        """Golden signals of every Service with a selector (from the traffic model)."""
        return [
            m
            for key, m in sorted(self.state.service_stats.items())
            if namespace is None or key[0] == namespace
        ]

    def service_calls(self, namespace: str | None = None) -> builtins.list[ServiceCall]:
        """Call edges between Services with their request rates (as a service mesh reports)."""
        return [
            ServiceCall(src[0], src[1], dst[0], dst[1], round(rps, 6))
            for (src, dst), rps in sorted(self.state.call_rates.items())
            if namespace is None or src[0] == namespace
        ]

    def now_iso(self) -> str:
        """Virtual time as RFC 3339."""
        return sim_time(self.state.now)

    def wait(self, seconds: float) -> None:
        """Advance virtual time (no wall-clock sleep)."""
        self.advance(seconds)

    def changes(
        self, cursor: dict[str, str] | None = None, kinds: Sequence[Kind] | None = None
    ) -> ChangeBatch:
        """Changes since ``cursor`` from the store's log, coalesced per object."""
        st = self.state
        wanted = list(kinds) if kinds else list(KINDS)
        rv = st.store.rv
        next_cursor = {k.value: str(rv) for k in wanted}
        since = None
        if cursor:
            since = min(int(cursor.get(k.value, "0")) for k in wanted)
        if since is None or since < st.store.log_start_rv:
            events = [
                WatchEvent(WatchEventType.ADDED, k, obj) for k in wanted for obj in self.list(k)
            ]
            return ChangeBatch(events, next_cursor, resync=since is not None)
        latest: dict[
            tuple[Kind, str, str], tuple[WatchEventType, WatchEventType, KubeObject | None]
        ] = {}
        wanted_set = set(wanted)
        for entry in _entries_after(st.store.log, since):
            if entry.kind not in wanted_set:
                continue
            k = (entry.kind, *entry.key)
            first = latest[k][0] if k in latest else entry.type
            latest[k] = (first, entry.type, entry.final)
        events = []
        for (kind, ns, name), (first, last, final) in latest.items():
            if last is WatchEventType.DELETED:
                if first is not WatchEventType.ADDED and final is not None:
                    events.append(WatchEvent(WatchEventType.DELETED, kind, final))
                continue
            obj = st.store.get(kind, ns, name)
            if obj is None:
                continue
            etype = (
                WatchEventType.ADDED if first is WatchEventType.ADDED else WatchEventType.MODIFIED
            )
            events.append(WatchEvent(etype, kind, deep_copy(obj)))
        return ChangeBatch(events, next_cursor)

    # writes -------------------------------------------------------------------------------
    def _execute(self, op: ApiOp, dry_run: bool) -> KubeObject | None:
        st = self.state
        ns = op.namespace if kind_info(op.kind).namespaced else ""
        if op.verb is Verb.PATCH:
            return api.patch(
                st,
                op.kind,
                ns,
                op.name,
                op.body,
                op.patch_type or PatchType.STRATEGIC,
                op.subresource,
                dry_run,
            )
        if op.verb is Verb.DELETE:
            return api.delete(st, op.kind, ns, op.name, op.grace_period_seconds, dry_run)
        if op.subresource == "eviction":
            return api.evict(st, ns, op.name, op.body, dry_run)
        if op.subresource is not None:
            raise InvalidObjectError(f"unsupported subresource {op.subresource!r}")
        if not isinstance(op.body, dict):
            raise InvalidObjectError("create needs an object body")
        return api.create(st, op.kind, op.body, dry_run)


def _entries_after(log: builtins.list[Any], since: int) -> builtins.list[Any]:
    lo, hi = 0, len(log)
    while lo < hi:
        mid = (lo + hi) // 2
        if log[mid].rv <= since:
            lo = mid + 1
        else:
            hi = mid
    return log[lo:]
