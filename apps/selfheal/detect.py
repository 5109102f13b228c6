"""Step 2: detect incidents from rules, events and statistics, debounced across observations."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.k8s.cluster import Observation
from apps.k8s.kinds import Kind
from apps.k8s.objects import condition, meta, name_of, namespace_of, parse_time
from apps.k8s.symptoms import (
    BAD_WAITING_REASONS,
    ERROR_RATE_MAX,
    GRACE_S,
    RESTART_WINDOW_S,
    Problem,
    find_problems,
    init_completed,
)
from apps.selfheal.records import Signal
from apps.selfheal.topology import Topology

INCIDENT_EVENT_REASONS = frozenset(
    {
        "FailedScheduling",
        "FailedMount",
        "FailedCreate",
        "BackOff",
        "Failed",
        "Evicted",
        "ProvisioningFailed",
        "OOMKilling",
        "FailedGetResourceMetric",
        "NodeNotReady",
    }
)
_OLD = dt.timedelta(days=3650)
EVENT_RECENT_S = 120.0  # events last seen this recently are signals
MIN_BASELINE = 8  # samples a baseline needs before its z-scores count
MAD_FLOOR = {"error_rate": 0.005, "latency_p99_ms": 10.0}  # robust z-scores need a scale floor


STARTING_PROBE = (
    "connect: connection refused"  # a probe that fails because the app is still starting
)
METRIC_KINDS = frozenset(
    {"HighErrorRate", "HighLatency", "error_rateAnomaly", "latency_p99_msAnomaly"}
)
ROLLOUT_KINDS = frozenset(
    {"DeploymentUnavailable", "RolloutIncomplete", "PodNotReady", "PodPending"}
)


def steady_rollouts(obs: Observation, topo: Topology | None = None) -> set[tuple[str, str]]:
    """Deployments rolling out (or scaling up) within their progress deadline with nothing failing.

    A rollout in progress is not an incident (kubectl rollout status would say "Waiting for
    deployment ... to finish"): the Progressing condition is True and inside
    ``progressDeadlineSeconds``, no pod of the workload waits in an error state, restarted
    recently, failed to schedule or mount, and its probes fail only as a starting app's do
    (connection refused), not with an HTTP status.
    """
    topo = topo or Topology.build(obs)
    now = parse_time(obs.time)
    warnings: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ev in obs.of(Kind.EVENT):
        inv = ev.get("involvedObject") or {}
        last = ev.get("lastTimestamp") or ev.get("eventTime")
        if ev.get("type") != "Warning" or inv.get("kind") != "Pod" or not last:
            continue
        if (now - parse_time(str(last))).total_seconds() <= EVENT_RECENT_S:
            warnings[(str(inv.get("namespace")), str(inv.get("name")))].append(ev)
    serving_badly = {
        (m.namespace, m.service)
        for m in obs.service_metrics
        if m.request_rate_rps > 0 and m.error_rate > ERROR_RATE_MAX
    }
    endpoints = {
        (namespace_of(e), name_of(e))
        for e in obs.of(Kind.ENDPOINTS)
        if any(sub.get("addresses") for sub in e.get("subsets") or [])
    }
    out = set()
    for (_, ns, name), d in topo.deployments.items():
        dref = (Kind.DEPLOYMENT, ns, name)
        services = [(s[1], s[2]) for s in topo.services_of(dref)]
        if any(svc in serving_badly or svc not in endpoints for svc in services):
            continue  # a rollout that takes the service down is not going well, whatever its pods say
        spec, status = d.get("spec") or {}, d.get("status") or {}
        want = int(spec.get("replicas", 1))
        if (
            int(status.get("updatedReplicas", 0)) >= want
            and int(status.get("availableReplicas", 0)) >= want
        ):
            continue
        progressing = condition(d, "Progressing") or {}
        failure = condition(d, "ReplicaFailure") or {}
        if progressing.get("status") != "True" or failure.get("status") == "True":
            continue
        since = progressing.get("lastUpdateTime") or progressing.get("lastTransitionTime")
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if since and (now - parse_time(str(since))).total_seconds() > deadline:
            continue
        if not any(
            _pod_failing(p, now, warnings) for p in topo.pods_of[(Kind.DEPLOYMENT, ns, name)]
        ):
            out.add((ns, name))
    return out


def _pod_failing(
    pod: dict[str, Any], now: dt.datetime, warnings: dict[tuple[str, str], list[dict[str, Any]]]
) -> bool:
    status = pod.get("status") or {}
    for cs in list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    ):
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") in BAD_WAITING_REASONS:
            return True
        term = (cs.get("lastState") or {}).get("terminated") or {}
        if init_completed(cs):
            continue
        if (
            term.get("finishedAt")
            and (now - parse_time(term["finishedAt"])).total_seconds() <= RESTART_WINDOW_S
        ):
            return True
    sched = condition(pod, "PodScheduled") or {}
    if sched.get("status") == "False":
        return True
    for ev in warnings.get((namespace_of(pod), name_of(pod)), []):
        if ev.get("reason") != "Unhealthy" or STARTING_PROBE not in str(ev.get("message")):
            return True
    return False


def problem_signal(p: Problem) -> Signal:
    """A rule's problem as a signal."""
    return Signal(
        source="rule",
        kind=p.kind.value,
        object_kind=p.object_kind.value,
        namespace=p.namespace,
        name=p.name,
        detail=p.detail,
    )


_DETAIL_TOKENS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "OOMKilled",
    "Error",
    "Insufficient cpu",
    "Insufficient memory",
    "unbound immediate PersistentVolumeClaims",
    "exceeded quota",
    "untolerated taint",
    "unschedulable",
)


def signature(signals: list[Signal], context: list[Signal] | None = None) -> str:
    """A name-free description of an incident for memory: problem kinds, salient reasons, events.

    Args:
        signals: The incident's signals.
        context: Other current signals (warning events) that describe it further.
    """
    parts = set()
    for s in signals:
        parts.add(f"{s.kind}:{s.object_kind}")
        parts |= {f"{s.kind}:{t.replace(' ', '-')}" for t in _DETAIL_TOKENS if t in s.detail}
    for s in context or []:
        if s.source == "event":
            parts.add(f"event:{s.kind}:{s.object_kind}")
    return " ".join(sorted(parts))


@dataclass
class Baseline:
    """A metric's rolling window; robust z-score = (x - median) / (1.4826 · MAD)."""

    size: int
    values: deque[float] = field(default_factory=deque)

    def z(self, x: float, floor: float) -> float:
        if len(self.values) < MIN_BASELINE:
            return 0.0
        arr = np.fromiter(self.values, dtype=float)
        med = float(np.median(arr))
        mad = float(np.median(np.abs(arr - med))) * 1.4826
        return (x - med) / max(mad, floor)

    def push(self, x: float) -> None:
        self.values.append(x)
        while len(self.values) > self.size:
            self.values.popleft()


@dataclass
class Detector:
    """Keeps what the last observations showed; reports signals that persisted."""

    baseline_window: int = 20
    z_threshold: float = 6.0
    seen: dict[tuple[str, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    first_seen: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    baselines: dict[tuple[str, str, str], Baseline] = field(default_factory=dict)

    def signals(self, obs: Observation, now_s: float) -> list[Signal]:
        """Every current signal: rule problems, recent warning events, metric anomalies."""
        now = parse_time(obs.time)
        born = {
            (k.value, namespace_of(o), name_of(o)): parse_time(str(meta(o)["creationTimestamp"]))
            for k in (Kind.DEPLOYMENT, Kind.SERVICE, Kind.HORIZONTAL_POD_AUTOSCALER)
            for o in obs.of(k)
            if meta(o).get("creationTimestamp")
        }
        out = [
            problem_signal(p)
            for p in find_problems(obs)
            if (
                now - born.get((p.object_kind.value, p.namespace, p.name), now - _OLD)
            ).total_seconds()
            >= GRACE_S  # a new workload or Service gets the grace a new pod gets
        ]
        for ev in obs.of(Kind.EVENT):
            if ev.get("type") != "Warning" or ev.get("reason") not in INCIDENT_EVENT_REASONS:
                continue
            last = ev.get("lastTimestamp") or ev.get("eventTime")
            if not last or (now - parse_time(str(last))).total_seconds() > EVENT_RECENT_S:
                continue
            inv = ev.get("involvedObject") or {}
            out.append(
                Signal(
                    source="event",
                    kind=str(ev["reason"]),
                    object_kind=str(inv.get("kind")),
                    namespace=str(inv.get("namespace") or ""),
                    name=str(inv.get("name")),
                    detail=str(ev.get("message"))[:300],
                    score=0.5,
                )
            )
        if any(s.kind in ROLLOUT_KINDS for s in out):
            topo = Topology.build(obs)
            steady = steady_rollouts(obs, topo)
            if steady:
                out = [s for s in out if not _in_steady_rollout(s, steady, topo)]
        flagged = {(s.namespace, s.name) for s in out if s.object_kind == Kind.SERVICE.value}
        for m in obs.service_metrics:
            for metric in ("error_rate", "latency_p99_ms"):
                base = self.baselines.setdefault(
                    (m.namespace, m.service, metric), Baseline(self.baseline_window)
                )
                value = float(getattr(m, metric))
                z = base.z(value, MAD_FLOOR[metric])
                if z > self.z_threshold and (m.namespace, m.service) not in flagged:
                    out.append(
                        Signal(
                            source="stat",
                            kind=f"{metric}Anomaly",
                            object_kind=Kind.SERVICE.value,
                            namespace=m.namespace,
                            name=m.service,
                            detail=f"{metric}={value:.4g}, robust z={z:.1f} over {len(base.values)} samples",
                            score=min(1.0, z / (2 * self.z_threshold)),
                        )
                    )
                elif z <= self.z_threshold:
                    base.push(value)  # anomalies do not pollute the baseline
        current = set()
        for s in out:
            key = (s.kind, s.object_kind, s.namespace, s.name)
            current.add(key)
            self.seen[key] += 1
            self.first_seen.setdefault(key, now_s)
        for key in list(self.seen):
            if key not in current:
                del self.seen[key]
                self.first_seen.pop(key, None)
        return out

    def persisted(self, signals: list[Signal], polls: int) -> list[Signal]:
        """Signals seen in at least ``polls`` consecutive observations (events never alone)."""
        return [
            s
            for s in signals
            if s.source != "event"
            and self.seen[(s.kind, s.object_kind, s.namespace, s.name)] >= polls
        ]

    def onset(self, signals: list[Signal]) -> float:
        """When the earliest of these signals was first seen."""
        times = [
            self.first_seen.get((s.kind, s.object_kind, s.namespace, s.name), float("inf"))
            for s in signals
        ]
        return min(times, default=float("inf"))

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state: debounce counts, first sightings and baselines."""
        return {
            "seen": [[*k, v] for k, v in self.seen.items()],
            "first_seen": [[*k, v] for k, v in self.first_seen.items()],
            "baselines": [[*k, list(b.values)] for k, b in self.baselines.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`to_state`'s output."""
        self.seen = defaultdict(int, {tuple(r[:4]): int(r[4]) for r in state["seen"]})
        self.first_seen = {tuple(r[:4]): float(r[4]) for r in state["first_seen"]}
        self.baselines = {
            tuple(r[:3]): Baseline(self.baseline_window, deque(r[3], maxlen=None))
            for r in state["baselines"]
        }

    def forget(self) -> None:
        """Start counting afresh (after a remediation)."""
        self.seen.clear()
        self.first_seen.clear()


def _in_steady_rollout(s: Signal, steady: set[tuple[str, str]], topo: Topology) -> bool:
    if s.kind not in ROLLOUT_KINDS:
        return False
    if s.object_kind == Kind.DEPLOYMENT.value:
        return (s.namespace, s.name) in steady
    owner = topo.owner_of_pod.get((s.namespace, s.name))
    return owner is not None and (owner[1], owner[2]) in steady


def incident_id(namespace: str, at_s: float, sig: str) -> str:
    """A unique id for an incident: what and when, plus random bits (clusters and runs differ)."""
    digest = hashlib.sha256(f"{namespace}|{at_s:.0f}|{sig}|{uuid.uuid4()}".encode()).hexdigest()[
        :12
    ]
    return f"inc-{digest}"
