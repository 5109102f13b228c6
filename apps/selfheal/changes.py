"""Change tracking from the watch feed: who changed what, when, and what it was before.

A rollout keeps its history in ReplicaSets, but a ConfigMap, a Service selector, an
HPA or a quota keeps none. Like the change trackers SREs put beside their alerts, the
loop follows the cluster's change feed from its first pass and remembers each spec's
previous versions, so a remediation can put back what was there before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apps.k8s.cluster import Cluster, WatchEventType
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, deep_copy, name_of, namespace_of, parse_time

TRACKED_KINDS: tuple[Kind, ...] = (
    Kind.DEPLOYMENT,
    Kind.CONFIG_MAP,
    Kind.SECRET,
    Kind.SERVICE,
    Kind.HORIZONTAL_POD_AUTOSCALER,
    Kind.RESOURCE_QUOTA,
    Kind.PERSISTENT_VOLUME_CLAIM,
    Kind.NODE,
    Kind.JOB,
    Kind.POD_DISRUPTION_BUDGET,
)
MAX_HISTORY = 2000  # changes kept (the oldest are forgotten first)
MAX_SECRET_VALUES = 64  # values remembered per Secret (in memory only, never saved)
_EPOCH = parse_time("1970-01-01T00:00:00Z")


def seconds_of(iso: str) -> float:
    """An RFC 3339 time as seconds since the epoch."""
    return (parse_time(iso) - _EPOCH).total_seconds()


def secret_digest(value: str) -> str:
    """What the tracker keeps of a Secret value: a digest, never the value."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def desired_state(kind: Kind, obj: KubeObject) -> dict[str, Any]:
    """The part of an object a person changes (spec, data), without what controllers write.

    A Secret's values are kept as digests, so its history says which keys changed
    without holding the values (the tracker keeps those in memory only).
    """
    if kind is Kind.SECRET:
        data = obj.get("data") or {}
        return {
            "type": obj.get("type"),
            "data": {k: secret_digest(str(v)) for k, v in data.items()},
        }
    if kind is Kind.CONFIG_MAP:
        return {"data": obj.get("data") or {}, "binaryData": obj.get("binaryData") or {}}
    spec = obj.get("spec") or {}
    if kind is Kind.DEPLOYMENT:
        return {"replicas": spec.get("replicas", 1), "template": spec.get("template") or {}}
    if kind is Kind.SERVICE:
        return {"selector": spec.get("selector"), "ports": spec.get("ports")}
    if kind is Kind.NODE:
        return {"unschedulable": bool(spec.get("unschedulable")), "taints": spec.get("taints")}
    return dict(spec)


def diff_fields(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and after is None:
        after = {}
    if isinstance(after, dict) and before is None:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += diff_fields(before.get(key), after.get(key), sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += diff_fields(b, a, f"{path}.{i}")
        return out
    return [] if before == after else [path or "."]


def template_of_replica_set(rs: KubeObject) -> dict[str, Any]:
    """A ReplicaSet's pod template as its Deployment had it (without ``pod-template-hash``)."""
    template = dict((rs.get("spec") or {}).get("template") or {})
    md = dict(template.get("metadata") or {})
    md["labels"] = {k: v for k, v in (md.get("labels") or {}).items() if k != "pod-template-hash"}
    template["metadata"] = md
    return template


@dataclass(frozen=True)
class Change:
    """One change of an object's desired state seen on the feed."""

    at_s: float
    kind: Kind
    namespace: str
    name: str
    fields: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    own: bool = False

    @property
    def created(self) -> bool:
        """The object appeared."""
        return self.before is None

    @property
    def deleted(self) -> bool:
        """The object went away."""
        return self.after is None

    def describe(self) -> str:
        """One line for evidence."""
        what = "created" if self.created else "deleted" if self.deleted else ", ".join(self.fields)
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind.value} {where} changed at t={self.at_s:.0f}s: {what}"


@dataclass
class ChangeTracker:
    """Follows :meth:`Cluster.changes` and keeps a history of desired states per object."""

    kinds: tuple[Kind, ...] = TRACKED_KINDS
    cursor: dict[str, str] | None = None
    current: dict[tuple[Kind, str, str], dict[str, Any]] = field(default_factory=dict)
    history: list[Change] = field(default_factory=list)
    started_at_s: float | None = None
    own_writes: set[tuple[Kind, str, str]] = field(default_factory=set)
    # (namespace, name) -> digest -> base64 value; in memory only (never in to_state)
    secret_values: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def secret_value(self, namespace: str, name: str, digest: str) -> str | None:
        """The base64 value a Secret once held under ``digest`` (None: not seen by this process)."""
        return self.secret_values.get((namespace, name), {}).get(digest)

    def _remember_secret(self, obj: KubeObject) -> None:
        seen = self.secret_values.setdefault((namespace_of(obj), name_of(obj)), {})
        for value in (obj.get("data") or {}).values():
            seen[secret_digest(str(value))] = str(value)
        while len(seen) > MAX_SECRET_VALUES:
            seen.pop(next(iter(seen)))

    def poll(self, cluster: Cluster) -> list[Change]:
        """Read the change feed once; return the new changes (none on the first poll)."""
        now = seconds_of(cluster.now_iso())
        batch = cluster.changes(self.cursor, self.kinds)
        first = self.cursor is None or batch.resync
        self.cursor = batch.cursor
        if self.started_at_s is None:
            self.started_at_s = now
        new: list[Change] = []
        seen: set[tuple[Kind, str, str]] = set()
        for ev in batch.events:
            key = (ev.kind, namespace_of(ev.object), name_of(ev.object))
            seen.add(key)
            if ev.kind is Kind.SECRET and ev.type is not WatchEventType.DELETED:
                self._remember_secret(ev.object)
            state = None if ev.type is WatchEventType.DELETED else desired_state(ev.kind, ev.object)
            before = self.current.get(key)
            if state is None:
                self.current.pop(key, None)
            else:
                self.current[key] = deep_copy(state)
            if first and before is None:
                continue
            if before == state:
                continue
            fields = diff_fields(before or {}, state or {}) if before and state else []
            new.append(
                Change(now, key[0], key[1], key[2], fields, before, state, key in self.own_writes)
            )
        if first and batch.resync:
            for key in set(self.current) - seen:
                self.current.pop(key, None)
        self.own_writes.clear()
        self.history += new
        del self.history[:-MAX_HISTORY]
        return new

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state (the last ``MAX_HISTORY`` changes)."""
        return {
            "cursor": self.cursor,
            "current": [[k[0].value, k[1], k[2], v] for k, v in self.current.items()],
            "history": [{**c.__dict__, "kind": c.kind.value} for c in self.history[-MAX_HISTORY:]],
            "started_at_s": self.started_at_s,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`to_state`'s output."""
        self.cursor = state["cursor"]
        self.current = {(Kind(k), ns, n): v for k, ns, n, v in state["current"]}
        self.history = [Change(**{**c, "kind": Kind(c["kind"])}) for c in state["history"]]
        self.started_at_s = state["started_at_s"]

    def mark_own(self, keys: Iterable[tuple[Kind, str, str]]) -> None:
        """Tag the next change of these objects as the healer's own write."""
        self.own_writes.update(keys)

    def changes_of(self, kind: Kind, namespace: str, name: str) -> list[Change]:
        """Changes of one object, oldest first."""
        return [
            c
            for c in self.history
            if c.kind is kind and c.namespace == namespace and c.name == name
        ]

    def last_foreign_change(self, kind: Kind, namespace: str, name: str) -> Change | None:
        """The latest change of an object not made by the healer."""
        for c in reversed(self.changes_of(kind, namespace, name)):
            if not c.own:
                return c
        return None

    def state_before(
        self, kind: Kind, namespace: str, name: str, at_s: float
    ) -> dict[str, Any] | None:
        """The desired state an object had just before ``at_s`` (None if unknown)."""
        changes = [c for c in self.changes_of(kind, namespace, name) if c.at_s >= at_s]
        if changes:
            return changes[0].before
        return self.current.get((kind, namespace, name))

    def recent(self, since_s: float) -> list[Change]:
        """Changes by others since ``since_s``, oldest first."""
        return [c for c in self.history if c.at_s >= since_s and not c.own]
