"""Step 7: server-side dry run, apply, verify over a window, roll back when verification fails."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.k8s.actions import (
    Action,
    CordonNode,
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
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
    ScaleJob,
    SuspendJob,
    revision_of,
)
from apps.k8s.cluster import Cluster, Observation
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, name_of
from apps.k8s.symptoms import Problem, ProblemKind, find_problems
from apps.selfheal.changes import seconds_of
from patterns.core.exceptions import PermanentError, RetryableError

APPLY_ATTEMPTS = 4  # tries of one write when the API answers 429/5xx
APPLY_BACKOFF_S = 1.0  # first back-off between them (doubles)
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
PRESSURE_HOLD_S = 300.0  # the kubelet's --eviction-pressure-transition-period default
STRUCTURAL = frozenset(
    {
        ProblemKind.DEPLOYMENT_UNAVAILABLE,
        ProblemKind.NO_ENDPOINTS,
        ProblemKind.HIGH_ERROR_RATE,
        ProblemKind.HIGH_LATENCY,
        ProblemKind.NODE_NOT_READY,
        ProblemKind.PVC_PENDING,
        ProblemKind.REPLICA_FAILURE,
    }
)


SYNC_WAIT_S = 30.0  # longest wait for the deployment controller to catch up with a spec change
SYNC_POLL_S = 1.0


def _synced_deployment(cluster: Cluster, namespace: str, name: str) -> KubeObject:
    """The Deployment once its controller has seen its latest spec (``observedGeneration``).

    Its revision annotation is the controller's: read right after a spec change (the
    rollback of an earlier attempt), it still names the old revision, and undoing to it
    would bring back the template that was just rolled back. Waits at most
    ``SYNC_WAIT_S`` seconds of cluster time.
    """
    waited = 0.0
    while True:
        d = cluster.get(Kind.DEPLOYMENT, name, namespace)
        generation = int((d.get("metadata") or {}).get("generation", 0) or 0)
        observed = int((d.get("status") or {}).get("observedGeneration", generation) or 0)
        if observed >= generation or waited >= SYNC_WAIT_S:
            return d
        cluster.wait(SYNC_POLL_S)
        waited += SYNC_POLL_S


def inverse_action(action: Action, cluster: Cluster) -> Action | None:
    """The action that undoes ``action`` on this cluster as it is now (None: irreversible)."""
    if isinstance(
        action,
        RolloutUndo | RestartDeployment | PatchResources | PatchEnv | PatchProbe | PatchScheduling,
    ):
        d = _synced_deployment(cluster, action.namespace, action.name)
        return RolloutUndo(namespace=action.namespace, name=action.name, to_revision=revision_of(d))
    if isinstance(action, ScaleDeployment):
        d = cluster.get(Kind.DEPLOYMENT, action.name, action.namespace)
        return ScaleDeployment(
            namespace=action.namespace, name=action.name, replicas=int(d["spec"].get("replicas", 1))
        )
    if isinstance(action, PatchConfigMap):
        cm = cluster.get(Kind.CONFIG_MAP, action.name, action.namespace)
        data = cm.get("data") or {}
        keys = set(action.set) | set(action.remove)
        return PatchConfigMap(
            namespace=action.namespace,
            name=action.name,
            set={k: str(data[k]) for k in keys if k in data},
            remove=[k for k in keys if k not in data],
        )
    if isinstance(action, SuspendJob):
        return SuspendJob(namespace=action.namespace, name=action.name, suspend=not action.suspend)
    if isinstance(action, ScaleJob):
        job = cluster.get(Kind.JOB, action.name, action.namespace)
        return ScaleJob(
            namespace=action.namespace,
            name=action.name,
            parallelism=int((job.get("spec") or {}).get("parallelism", 1)),
        )
    if isinstance(action, PatchPdb):
        spec = (
            cluster.get(Kind.POD_DISRUPTION_BUDGET, action.name, action.namespace).get("spec") or {}
        )
        if "minAvailable" in spec:
            return PatchPdb(
                namespace=action.namespace, name=action.name, min_available=spec["minAvailable"]
            )
        if "maxUnavailable" in spec:
            return PatchPdb(
                namespace=action.namespace, name=action.name, max_unavailable=spec["maxUnavailable"]
            )
        return None
    if isinstance(action, PatchSecret):
        secret = cluster.get(Kind.SECRET, action.name, action.namespace)
        sdata = secret.get("data") or {}
        keys = set(action.set) | set(action.remove)
        return PatchSecret(
            namespace=action.namespace,
            name=action.name,
            set={
                k: base64.b64decode(str(sdata[k])).decode(errors="replace")
                for k in keys
                if k in sdata
            },
            remove=[k for k in keys if k not in sdata],
        )
    if isinstance(action, PatchServiceSelector):
        svc = cluster.get(Kind.SERVICE, action.name, action.namespace)
        return PatchServiceSelector(
            namespace=action.namespace,
            name=action.name,
            selector=dict((svc.get("spec") or {}).get("selector") or {}),
        )
    if isinstance(action, PatchHpa):
        h = cluster.get(Kind.HORIZONTAL_POD_AUTOSCALER, action.name, action.namespace)
        spec = h.get("spec") or {}
        return PatchHpa(
            namespace=action.namespace,
            name=action.name,
            min_replicas=spec.get("minReplicas") if action.min_replicas is not None else None,
            max_replicas=spec.get("maxReplicas") if action.max_replicas is not None else None,
        )
    if isinstance(action, PatchResourceQuota):
        q = cluster.get(Kind.RESOURCE_QUOTA, action.name, action.namespace)
        hard = (q.get("spec") or {}).get("hard") or {}
        return PatchResourceQuota(
            namespace=action.namespace,
            name=action.name,
            hard={k: str(hard[k]) for k in action.hard if k in hard},
        )
    if isinstance(action, CordonNode):
        return CordonNode(node=action.node, uncordon=not action.uncordon)
    if isinstance(action, DrainNode):
        return CordonNode(node=action.node, uncordon=True)
    if isinstance(action, DeletePod | RecreatePvc):
        return None
    return None


def apply_with_retry(
    cluster: Cluster, action: Action, dry_run: bool, wait: Callable[[float], None]
) -> Any:
    """``cluster.apply`` retried with exponential back-off on retryable API errors (429, 5xx)."""
    delay = APPLY_BACKOFF_S
    for attempt in range(APPLY_ATTEMPTS):
        try:
            return cluster.apply(action, dry_run=dry_run)
        except RetryableError:
            if attempt == APPLY_ATTEMPTS - 1:
                raise
            wait(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class VerifyResult:
    """How a verification window ended."""

    verified: bool
    healthy_at_s: float | None
    ended_at_s: float
    problems: list[str]
    reason: str


def pressured_nodes(obs: Observation) -> set[str]:
    """Nodes whose kubelet reports memory, disk or PID pressure."""
    return {
        name_of(node)
        for node in obs.of(Kind.NODE)
        for cond in (node.get("status") or {}).get("conditions") or []
        if cond.get("type") in PRESSURE_CONDITIONS and cond.get("status") == "True"
    }


def last_evictions(obs: Observation, nodes: set[str]) -> list[float]:
    """When the kubelets of ``nodes`` last evicted a pod (seconds since the epoch), per event."""
    out = []
    for ev in obs.of(Kind.EVENT):
        if ev.get("reason") != "Evicted" or (ev.get("source") or {}).get("host") not in nodes:
            continue
        stamp = ev.get("lastTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp")
        if stamp:
            out.append(seconds_of(str(stamp)))
    return out


def problem_key(p: Problem) -> tuple[str, str, str, str]:
    """Identity of a problem, for telling new problems from old ones."""
    return (p.kind.value, p.object_kind.value, p.namespace, p.name)


def verify(
    cluster: Cluster,
    namespaces: set[str],
    baseline: set[tuple[str, str, str, str]],
    window_s: float,
    poll_s: float,
    stable_polls: int,
    settle_s: float,
    now_s: Callable[[], float],
    pressure_hold_s: float = PRESSURE_HOLD_S,
) -> VerifyResult:
    """Watch the incident's namespaces: verified when ``stable_polls`` observations in a row show no problem.

    Fails early when a structural problem appears that was not there before (something
    new broke) and is still there on the next observation.

    Node pressure that was there before the write is not the write's doing: the kubelet
    keeps a pressure condition and its ``NoSchedule`` taint for
    ``--eviction-pressure-transition-period`` (``pressure_hold_s``) after the pressure
    ends, evicting as long as it lasts, so pods are pending or evicted for that long
    even after a right fix. While such a node still reports pressure, workloads it keeps
    off count as no new breakage, and the window lasts until ``pressure_hold_s`` after
    the last eviction the kubelet reported (at most one ``pressure_hold_s`` beyond it).
    """
    start = now_s()
    pressured_before = pressured_nodes(cluster.observe())
    cluster.wait(settle_s)
    stable = 0
    healthy_at: float | None = None
    new_seen: set[tuple[str, str, str, str]] = set()
    problems: list[Problem] = []
    deadline = start + window_s
    while True:
        obs = cluster.observe()
        problems = [
            p for p in find_problems(obs) if p.namespace in namespaces or p.object_kind is Kind.NODE
        ]
        t = now_s()
        held = pressured_nodes(obs) & pressured_before
        if held and problems:  # wait out the kubelet's transition period
            last = max([start, *last_evictions(obs, held)])
            margin = settle_s + (stable_polls + 1) * poll_s
            deadline = max(
                deadline, min(last + pressure_hold_s, start + window_s + pressure_hold_s) + margin
            )
        if not problems:
            stable += 1
            healthy_at = t if healthy_at is None else healthy_at
            if stable >= stable_polls:
                return VerifyResult(True, healthy_at, t, [], f"healthy for {stable} observations")
        else:
            stable, healthy_at = 0, None
            new = {problem_key(p) for p in problems if p.kind in STRUCTURAL} - baseline
            if held:
                new = set()  # pods the pressured nodes keep off: not the write's doing
            if new & new_seen:
                broke = sorted(" ".join(k) for k in new & new_seen)
                return VerifyResult(
                    False, None, t, [str(p) for p in problems], f"new problems: {broke}"
                )
            new_seen = new
        if t >= deadline:
            return VerifyResult(
                False,
                None,
                t,
                [str(p) for p in problems],
                f"still unhealthy after {t - start:.0f}s",
            )
        cluster.wait(poll_s)


__all__ = ["PermanentError", "apply_with_retry", "inverse_action", "verify"]
