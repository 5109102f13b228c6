"""The Kubernetes kinds the healer reads and writes, with their API paths."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """A Kubernetes kind, named as in ``kind:``."""

    POD = "Pod"
    DEPLOYMENT = "Deployment"
    REPLICA_SET = "ReplicaSet"
    SERVICE = "Service"
    ENDPOINTS = "Endpoints"
    NODE = "Node"
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"
    PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim"
    RESOURCE_QUOTA = "ResourceQuota"
    HORIZONTAL_POD_AUTOSCALER = "HorizontalPodAutoscaler"
    EVENT = "Event"
    STORAGE_CLASS = "StorageClass"
    POD_DISRUPTION_BUDGET = "PodDisruptionBudget"
    JOB = "Job"


@dataclass(frozen=True)
class KindInfo:
    """Where a kind lives in the API."""

    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``apiVersion`` of objects of this kind (``apps/v1``, ``v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """URL prefix of the group version (``/api/v1``, ``/apis/apps/v1``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of a collection, an object or its subresource."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


KINDS: dict[Kind, KindInfo] = {
    Kind.POD: KindInfo("", "v1", "pods", True),
    Kind.DEPLOYMENT: KindInfo("apps", "v1", "deployments", True),
    Kind.REPLICA_SET: KindInfo("apps", "v1", "replicasets", True),
    Kind.SERVICE: KindInfo("", "v1", "services", True),
    Kind.ENDPOINTS: KindInfo("", "v1", "endpoints", True),
    Kind.NODE: KindInfo("", "v1", "nodes", False),
    Kind.CONFIG_MAP: KindInfo("", "v1", "configmaps", True),
    Kind.SECRET: KindInfo("", "v1", "secrets", True),
    Kind.PERSISTENT_VOLUME_CLAIM: KindInfo("", "v1", "persistentvolumeclaims", True),
    Kind.RESOURCE_QUOTA: KindInfo("", "v1", "resourcequotas", True),
    Kind.HORIZONTAL_POD_AUTOSCALER: KindInfo("autoscaling", "v2", "horizontalpodautoscalers", True),
    Kind.EVENT: KindInfo("", "v1", "events", True),
    Kind.STORAGE_CLASS: KindInfo("storage.k8s.io", "v1", "storageclasses", False),
    Kind.POD_DISRUPTION_BUDGET: KindInfo("policy", "v1", "poddisruptionbudgets", True),
    Kind.JOB: KindInfo("batch", "v1", "jobs", True),
}

NAMESPACED_KINDS: tuple[Kind, ...] = tuple(k for k, i in KINDS.items() if i.namespaced)
CLUSTER_KINDS: tuple[Kind, ...] = tuple(k for k, i in KINDS.items() if not i.namespaced)

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"


def kind_info(kind: Kind | str) -> KindInfo:
    """The :class:`KindInfo` of a kind given as enum or name (``"Deployment"``)."""
    return KINDS[Kind(kind)]


def kind_by_plural(plural: str) -> Kind:
    """The kind whose plural resource name is ``plural`` (``deployments``)."""
    for kind, info in KINDS.items():
        if info.plural == plural:
            return kind
    raise KeyError(plural)
