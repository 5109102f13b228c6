"""The ``Cluster`` interface both backends implement: typed reads, typed writes, a change feed."""

from __future__ import annotations

import abc
import builtins
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from apps.k8s.actions import Action, ApiOp, Verb, plan_action
from apps.k8s.kinds import CLUSTER_KINDS, NAMESPACED_KINDS, Kind
from apps.k8s.objects import KubeObject, name_of, namespace_of

if TYPE_CHECKING:
    from apps.k8s.policy import WritePolicy


class WatchEventType(StrEnum):
    """Type of a change, as in the API's watch stream."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object (the object as it is after the change)."""

    type: WatchEventType
    kind: Kind
    object: KubeObject


@dataclass(frozen=True)
class ChangeBatch:
    """Changes since a cursor, and the cursor to pass next time.

    ``resync`` is True when the cursor was too old (HTTP 410 on a real cluster):
    ``events`` then holds every current object as ADDED and the caller should
    drop its cache and rebuild it from them.
    """

    events: list[WatchEvent]
    cursor: dict[str, str]
    resync: bool = False


@dataclass(frozen=True)
class ServiceMetrics:
    """Golden signals of one Service over the last scrape window."""

    namespace: str
    service: str
    request_rate_rps: float
    error_rate: float
    latency_p50_ms: float
    latency_p99_ms: float


@dataclass(frozen=True)
class ServiceCall:
    """Observed calls from one Service's pods to another Service (a mesh's edge metric)."""

    namespace: str
    service: str
    target_namespace: str
    target_service: str
    request_rate_rps: float


@dataclass
class Observation:
    """Everything one observation of a cluster read, at one time."""

    time: str
    objects: dict[Kind, list[KubeObject]]
    pod_metrics: list[KubeObject]
    service_metrics: list[ServiceMetrics]
    service_calls: list[ServiceCall] = field(default_factory=list)

    def of(self, kind: Kind, namespace: str | None = None) -> list[KubeObject]:
        """Objects of ``kind`` (in ``namespace`` if given)."""
        items = self.objects.get(kind, [])
        if namespace is None:
            return items
        return [o for o in items if namespace_of(o) == namespace]

    def find(self, kind: Kind, name: str, namespace: str = "") -> KubeObject | None:
        """One object by name, or None."""
        for obj in self.objects.get(kind, []):
            if name_of(obj) == name and namespace_of(obj) == namespace:
                return obj
        return None

    def counts(self) -> dict[str, int]:
        """Number of objects per kind."""
        return {k.value: len(v) for k, v in self.objects.items()}


@dataclass(frozen=True)
class ActionResult:
    """What a write did (or, for a dry run, would do)."""

    action: Action
    dry_run: bool
    ops: list[ApiOp]
    objects: list[KubeObject] = field(default_factory=list)
    message: str = ""


class Cluster(abc.ABC):
    """A Kubernetes cluster seen through typed reads, typed writes and a change feed.

    Objects are dicts shaped exactly like the API's JSON. Backends: the embedded
    :class:`~apps.k8s.sim.cluster.SimCluster` and the real
    :class:`~apps.k8s.real.RealCluster`.
    """

    default_dry_run: bool = False
    policy: WritePolicy | None = None  # the write allowlist; every backend checks it the same way
    unread_kinds: frozenset[Kind] = frozenset()  # kinds this healer may not read (e.g. Secrets)

    # reads ------------------------------------------------------------------------------
    @abc.abstractmethod
    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[KubeObject]:
        """Objects of ``kind``; ``namespace=None`` lists every namespace."""

    @abc.abstractmethod
    def get(self, kind: Kind, name: str, namespace: str = "") -> KubeObject:
        """One object; raises :class:`~apps.k8s.exceptions.ObjectNotFoundError`."""

    @abc.abstractmethod
    def pod_metrics(self, namespace: str | None = None) -> builtins.list[KubeObject]:
        """Per-pod CPU and memory usage, shaped as ``metrics.k8s.io/v1beta1`` PodMetrics."""

    @abc.abstractmethod
    def service_metrics(self, namespace: str | None = None) -> builtins.list[ServiceMetrics]:
        """Per-service request rate, error rate and latency."""

    def service_calls(self, namespace: str | None = None) -> builtins.list[ServiceCall]:
        """Service-to-service call edges (e.g. a service mesh's request metrics); none by default."""
        return []

    @abc.abstractmethod
    def now_iso(self) -> str:
        """The cluster's current time, RFC 3339."""

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of cluster time pass (wall-clock sleep; the simulator advances instead)."""
        time.sleep(seconds)

    # watching ---------------------------------------------------------------------------
    @abc.abstractmethod
    def changes(
        self, cursor: dict[str, str] | None = None, kinds: Sequence[Kind] | None = None
    ) -> ChangeBatch:
        """Changes since a cursor, for a monitor to follow.

        Args:
            cursor: The cursor of the previous batch; None lists every object as ADDED.
            kinds: Kinds to follow; None follows all of :data:`~apps.k8s.kinds.KINDS`.

        Returns:
            The changes (one event per changed object) and the cursor to pass next.
        """

    # writes -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _execute(self, op: ApiOp, dry_run: bool) -> KubeObject | None:
        """Send one write; return the object the server returned (None for none)."""

    def check_ops(self, ops: Iterable[ApiOp]) -> None:
        """Refuse writes outside the allowlist (raise ``ActionRefusedError``), before any is sent."""
        if self.policy is not None:
            self.policy.check(ops)

    def plan(self, action: Action) -> builtins.list[ApiOp]:
        """The API writes ``action`` would send, checked against the allowlist."""
        ops = plan_action(action, self)
        self.check_ops(ops)
        return ops

    def apply(self, action: Action, dry_run: bool | None = None) -> ActionResult:
        """Carry out a typed action.

        A dry run sends every request with server-side dry-run: nothing is persisted,
        and the returned objects are what the server would have stored.

        Args:
            action: The typed action (see :mod:`apps.k8s.actions`).
            dry_run: True for a dry run, False to persist, None for the backend's
                default (the simulator persists, a real cluster dry-runs).

        Returns:
            The planned requests, the objects the server returned and a message.

        Raises:
            ActionRefusedError: a request is outside the write allowlist (nothing sent).
            ObjectNotFoundError, InvalidObjectError, RevisionNotFoundError: permanent.
            ApiUnavailableError, ApiTimeoutError, ConflictError: retryable.
        """
        dry = self.default_dry_run if dry_run is None else dry_run
        ops = self.plan(action)
        objects = []
        deleted: set[tuple[Kind, str, str]] = set()
        for op in ops:
            key = (op.kind, op.namespace, op.name)
            if dry and op.verb is Verb.CREATE and op.subresource is None and key in deleted:
                # A dry-run delete persists nothing, so the create that follows it in the
                # same plan would meet the old object: it is validated by the delete alone.
                continue
            out = self._execute(op, dry)
            if op.verb is Verb.DELETE:
                deleted.add(key)
            if out is not None:
                objects.append(out)
        verb = "would apply" if dry else "applied"
        message = f"{verb} {action.describe()}: " + (
            "; ".join(op.describe() for op in ops) if ops else "nothing to change"
        )
        return ActionResult(action, dry, ops, objects, message)

    # observation ------------------------------------------------------------------------
    def observe(self, namespaces: Sequence[str] | None = None) -> Observation:
        """Read every kind, pod metrics and service metrics at one time.

        Args:
            namespaces: Namespaces to read namespaced kinds from; None reads all.

        Returns:
            The objects by kind (nodes and storage classes always), PodMetrics and
            service golden signals.
        """
        objects: dict[Kind, builtins.list[KubeObject]] = {}
        scopes: builtins.list[str | None] = list(namespaces) if namespaces else [None]
        for kind in NAMESPACED_KINDS:
            if kind in self.unread_kinds:
                objects[kind] = []
                continue
            objects[kind] = [obj for ns in scopes for obj in self.list(kind, ns)]
        for kind in CLUSTER_KINDS:
            objects[kind] = self.list(kind)
        pod_metrics = [m for ns in scopes for m in self.pod_metrics(ns)]
        service_metrics = [m for ns in scopes for m in self.service_metrics(ns)]
        calls = [c for ns in scopes for c in self.service_calls(ns)]
        return Observation(self.now_iso(), objects, pod_metrics, service_metrics, calls)
