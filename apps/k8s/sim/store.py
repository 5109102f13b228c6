"""The simulator's object store: objects by kind, resourceVersions, a change log, and events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from apps.k8s.cluster import WatchEventType
from apps.k8s.kinds import KINDS, Kind
from apps.k8s.objects import KubeObject, deep_copy, meta, sim_time

MAX_CHANGE_LOG = 200_000  # entries kept for the change feed before older cursors expire
EVENT_TTL_S = 3600.0  # the API server's default event TTL (--event-ttl=1h)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds


@dataclass(frozen=True)
class LogEntry:
    """One change in the log."""

    rv: int
    type: WatchEventType
    kind: Kind
    key: Key
    final: KubeObject | None  # a copy of the object for DELETED entries


class ObjectStore:
    """Objects by kind and (namespace, name), with a global resourceVersion and a change log."""

    def __init__(self) -> None:
        self._objs: dict[Kind, dict[Key, KubeObject]] = {kind: {} for kind in KINDS}
        self.rv = 0
        self.log: list[LogEntry] = []
        self.log_start_rv = 0
        self.on_change: Callable[[Kind, KubeObject], None] | None = None

    def _bump(self, obj: KubeObject) -> int:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        return self.rv

    def _append(self, entry: LogEntry) -> None:
        self.log.append(entry)
        if len(self.log) > MAX_CHANGE_LOG:
            drop = len(self.log) - MAX_CHANGE_LOG // 2
            self.log_start_rv = self.log[drop - 1].rv
            del self.log[:drop]

    def add(self, kind: Kind, obj: KubeObject) -> KubeObject:
        """Store a new object (its key must be free)."""
        md = meta(obj)
        key = (str(md.get("namespace") or ""), str(md["name"]))
        self._objs[kind][key] = obj
        rv = self._bump(obj)
        self._append(LogEntry(rv, WatchEventType.ADDED, kind, key, None))
        if self.on_change is not None:
            self.on_change(kind, obj)
        return obj

    def touch(self, kind: Kind, obj: KubeObject) -> None:
        """Record that a stored object changed in place."""
        md = meta(obj)
        key = (str(md.get("namespace") or ""), str(md["name"]))
        rv = self._bump(obj)
        self._append(LogEntry(rv, WatchEventType.MODIFIED, kind, key, None))
        if self.on_change is not None:
            self.on_change(kind, obj)

    def remove(self, kind: Kind, namespace: str, name: str) -> KubeObject | None:
        """Delete an object; returns it (or None if absent)."""
        obj = self._objs[kind].pop((namespace, name), None)
        if obj is not None:
            rv = self._bump(obj)
            self._append(
                LogEntry(rv, WatchEventType.DELETED, kind, (namespace, name), deep_copy(obj))
            )
        return obj

    def get(self, kind: Kind, namespace: str, name: str) -> KubeObject | None:
        """The stored object (not a copy), or None."""
        return self._objs[kind].get((namespace, name))

    def values(self, kind: Kind) -> Iterator[KubeObject]:
        """Every stored object of a kind (not copies); safe against removal while iterating."""
        yield from list(self._objs[kind].values())

    def count(self, kind: Kind) -> int:
        """Number of objects of a kind."""
        return len(self._objs[kind])

    def in_namespace(self, kind: Kind, namespace: str | None) -> list[KubeObject]:
        """Stored objects of a kind in a namespace (all if None)."""
        if namespace is None:
            return list(self._objs[kind].values())
        return [o for (ns, _), o in self._objs[kind].items() if ns == namespace]


class EventRecorder:
    """Records core/v1 Events as the components of a cluster do, with the API's deduplication."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._seq = 0
        self._index: dict[tuple[str, str, str, str], Key] = {}
        self._last: dict[Key, tuple[float, tuple[str, str, str, str]]] = {}

    def record(
        self,
        now: float,
        involved: KubeObject,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "kubelet",
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Emit an event about ``involved``; a repeat increments ``count`` and ``lastTimestamp``."""
        md = meta(involved)
        uid = str(md.get("uid", ""))
        dedup = (uid, reason, message, component)
        ts = sim_time(now)
        existing = self._index.get(dedup)
        if existing is not None:
            ev = self._store.get(Kind.EVENT, *existing)
            if ev is not None:
                ev["count"] = int(ev.get("count", 1)) + 1
                ev["lastTimestamp"] = ts
                self._store.touch(Kind.EVENT, ev)
                self._last[existing] = (now, dedup)
                return
        self._seq += 1
        namespace = str(md.get("namespace") or "default")
        name = f"{md.get('name')}.{0x187A0000000000 + self._seq * 7919:x}"
        involved_ref: dict[str, Any] = {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": md.get("name"),
            "uid": uid,
            "resourceVersion": md.get("resourceVersion"),
        }
        if md.get("namespace"):
            involved_ref["namespace"] = md["namespace"]
        if field_path:
            involved_ref["fieldPath"] = field_path
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        event: KubeObject = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"ev-{self._seq:08d}",
                "creationTimestamp": ts,
            },
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": "Warning" if warning else "Normal",
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        self._store.add(Kind.EVENT, event)
        self._index[dedup] = (namespace, name)
        self._last[(namespace, name)] = (now, dedup)

    def gc(self, now: float) -> None:
        """Drop events whose last occurrence is older than the event TTL."""
        for key, (last, dedup) in list(self._last.items()):
            if now - last > EVENT_TTL_S:
                self._store.remove(Kind.EVENT, *key)
                del self._last[key]
                self._index.pop(dedup, None)
