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
from apps.k8s.objects import meta, name_of, namespace_of, parse_time
from apps.k8s.symptoms import GRACE_S, Problem, find_problems
from apps.selfheal.records import Signal

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


def incident_id(namespace: str, at_s: float, sig: str) -> str:
    """A unique id for an incident: what and when, plus random bits (clusters and runs differ)."""
    digest = hashlib.sha256(f"{namespace}|{at_s:.0f}|{sig}|{uuid.uuid4()}".encode()).hexdigest()[
        :12
    ]
    return f"inc-{digest}"
