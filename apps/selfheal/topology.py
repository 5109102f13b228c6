"""Step 3's dependency graph: Services, workloads and what they depend on, read from objects.

Edges point from a thing to what it depends on: Service → Deployment (selector),
Service → Service (observed calls, remembered for a while), Deployment → Service (addresses its
manifest names), Deployment → ConfigMap / Secret / PersistentVolumeClaim
(references in the pod template), Deployment → Node (where its pods run),
Deployment → HorizontalPodAutoscaler (its replica bounds), Deployment → ResourceQuota
(its namespace's quota), PersistentVolumeClaim → StorageClass.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apps.k8s.cluster import Observation, ServiceCall
from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    KubeObject,
    label_selector_matches,
    labels_of,
    meta,
    name_of,
    namespace_of,
    selector_matches,
)

Ref = tuple[Kind, str, str]  # kind, namespace, name


CallKey = tuple[str, str, str, str]  # caller namespace, caller, callee namespace, callee
CALL_MEMORY_S = 1800.0  # a call edge seen within this long stays on the service map


def call_key(call: ServiceCall) -> CallKey:
    """The edge of one observed call."""
    return (call.namespace, call.service, call.target_namespace, call.target_service)


@dataclass
class CallMemory:
    """The service map as a mesh keeps it: call edges seen in the last ``CALL_MEMORY_S``."""

    last_seen: dict[CallKey, float] = field(default_factory=dict)

    def observe(self, calls: Iterable[ServiceCall], now_s: float) -> None:
        """Record the calls of one observation; forget edges not seen for ``CALL_MEMORY_S``."""
        for call in calls:
            if call.request_rate_rps > 0:
                self.last_seen[call_key(call)] = now_s
        for key in [k for k, t in self.last_seen.items() if now_s - t > CALL_MEMORY_S]:
            del self.last_seen[key]

    def edges(self) -> list[CallKey]:
        """Every remembered edge."""
        return sorted(self.last_seen)

    def to_state(self) -> list[list[Any]]:
        """JSON-ready state."""
        return [[*k, t] for k, t in sorted(self.last_seen.items())]

    def load_state(self, state: list[list[Any]]) -> None:
        """Restore :meth:`to_state`'s output."""
        self.last_seen = {(str(a), str(b), str(c), str(d)): float(t) for a, b, c, d, t in state}


def ref_str(ref: Ref) -> str:
    """``Kind ns/name`` (``Kind name`` for cluster-scoped kinds)."""
    kind, ns, name = ref
    return f"{kind.value} {ns}/{name}" if ns else f"{kind.value} {name}"


def template_refs(template: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """ConfigMaps, Secrets and PVCs a pod template references (env, envFrom, volumes)."""
    spec = template.get("spec") or {}
    cms: set[str] = set()
    secrets: set[str] = set()
    pvcs: set[str] = set()
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        for env in c.get("env") or []:
            src = env.get("valueFrom") or {}
            if "configMapKeyRef" in src:
                cms.add(str(src["configMapKeyRef"].get("name")))
            if "secretKeyRef" in src:
                secrets.add(str(src["secretKeyRef"].get("name")))
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                cms.add(str(ef["configMapRef"].get("name")))
            if "secretRef" in ef:
                secrets.add(str(ef["secretRef"].get("name")))
    for vol in spec.get("volumes") or []:
        if "configMap" in vol:
            cms.add(str(vol["configMap"].get("name")))
        if "secret" in vol:
            secrets.add(str(vol["secret"].get("secretName")))
        if "persistentVolumeClaim" in vol:
            pvcs.add(str(vol["persistentVolumeClaim"].get("claimName")))
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "configMap" in src:
                cms.add(str(src["configMap"].get("name")))
            if "secret" in src:
                secrets.add(str(src["secret"].get("name")))
    return cms, secrets, pvcs


# A host in a URL or ``host:port``/``nc host port`` form; qualified Service names need neither.
_QUALIFIED_RE = re.compile(
    r"(?<![\w.-])([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    r"(?:\.svc(?:\.cluster\.local)?)?(?![\w-]|\.[a-z0-9])"
)
_BARE_HOST_RE = re.compile(
    r"(?:://|@|\bnc\s+(?:-\w+\s+)*)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?=[:/\s]|$)|"
    r"(?<![\w.:/-])([a-z0-9]([-a-z0-9]*[a-z0-9])?):\d{1,5}\b"
)


def declared_services(
    template: dict[str, Any], namespace: str, services: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Services a pod template names as addresses: in env values, commands and args.

    ``name.namespace`` (``.svc``, ``.svc.cluster.local``) anywhere, a bare ``name`` as a
    URL host, ``name:port`` or the host of ``nc`` (the usual wait-for init container).
    Only names of existing Services count (``services``: ``(namespace, name)`` pairs).
    """
    spec = template.get("spec") or {}
    texts: list[str] = []
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        texts += [str(e.get("value")) for e in c.get("env") or [] if e.get("value")]
        texts += [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    out: set[tuple[str, str]] = set()
    for text in texts:
        low = text.lower()
        for m in _QUALIFIED_RE.finditer(low):
            if (m.group(3), m.group(1)) in services:
                out.add((m.group(3), m.group(1)))
        for m in _BARE_HOST_RE.finditer(low):
            name = m.group(1) or m.group(3)
            if name and (namespace, name) in services:
                out.add((namespace, name))
    return out


@dataclass
class Topology:
    """Objects of an observation indexed for diagnosis, and the dependency edges between them."""

    obs: Observation
    edges: dict[Ref, set[Ref]] = field(default_factory=lambda: defaultdict(set))
    pods_of: dict[Ref, list[KubeObject]] = field(default_factory=lambda: defaultdict(list))
    owner_of_pod: dict[tuple[str, str], Ref] = field(default_factory=dict)
    deployments: dict[Ref, KubeObject] = field(default_factory=dict)
    services: dict[Ref, KubeObject] = field(default_factory=dict)
    objects: dict[Ref, KubeObject] = field(default_factory=dict)

    @classmethod
    def build(cls, obs: Observation, known_calls: Iterable[CallKey] = ()) -> Topology:
        """Index the observation and derive every edge.

        ``known_calls`` adds Service → Service edges seen recently but not now (a caller
        that lost its endpoints makes no calls, yet still depends on its callee).
        """
        topo = cls(obs)
        for kind, items in obs.objects.items():
            if kind in (Kind.EVENT, Kind.POD, Kind.REPLICA_SET, Kind.ENDPOINTS):
                continue
            for obj in items:
                topo.objects[(kind, namespace_of(obj), name_of(obj))] = obj
        rs_owner: dict[str, Ref] = {}
        for d in obs.of(Kind.DEPLOYMENT):
            ref = (Kind.DEPLOYMENT, namespace_of(d), name_of(d))
            topo.deployments[ref] = d
            for rs in obs.of(Kind.REPLICA_SET, ref[1]):
                for o in meta(rs).get("ownerReferences") or []:
                    if o.get("uid") == meta(d).get("uid"):
                        rs_owner[str(meta(rs).get("uid"))] = ref
        for job in obs.of(Kind.JOB):
            rs_owner[str(meta(job).get("uid"))] = (Kind.JOB, namespace_of(job), name_of(job))
        for pod in obs.of(Kind.POD):
            owner = None
            for o in meta(pod).get("ownerReferences") or []:
                owner = rs_owner.get(str(o.get("uid")))
            if owner is None:
                for ref, d in topo.deployments.items():
                    if ref[1] == namespace_of(pod) and label_selector_matches(
                        (d.get("spec") or {}).get("selector"), labels_of(pod)
                    ):
                        owner = ref
                        break
            if owner is not None:
                topo.pods_of[owner].append(pod)
                topo.owner_of_pod[(namespace_of(pod), name_of(pod))] = owner
        quotas = defaultdict(list)
        for q in obs.of(Kind.RESOURCE_QUOTA):
            quotas[namespace_of(q)].append((Kind.RESOURCE_QUOTA, namespace_of(q), name_of(q)))
        for job in obs.of(Kind.JOB):
            topo.edges[(Kind.JOB, namespace_of(job), name_of(job))] |= set(
                quotas.get(namespace_of(job), [])
            )
        hpas: dict[Ref, Ref] = {}
        for h in obs.of(Kind.HORIZONTAL_POD_AUTOSCALER):
            target = (h.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("kind") == "Deployment":
                hpas[(Kind.DEPLOYMENT, namespace_of(h), str(target.get("name")))] = (
                    Kind.HORIZONTAL_POD_AUTOSCALER,
                    namespace_of(h),
                    name_of(h),
                )
        for ref, d in topo.deployments.items():
            ns = ref[1]
            template = (d.get("spec") or {}).get("template") or {}
            cms, secrets, pvcs = template_refs(template)
            topo.edges[ref] |= {(Kind.CONFIG_MAP, ns, n) for n in cms}
            topo.edges[ref] |= {(Kind.SECRET, ns, n) for n in secrets}
            topo.edges[ref] |= {(Kind.PERSISTENT_VOLUME_CLAIM, ns, n) for n in pvcs}
            topo.edges[ref] |= set(quotas.get(ns, []))
            if ref in hpas:
                topo.edges[ref].add(hpas[ref])
            for pod in topo.pods_of[ref]:
                node = (pod.get("spec") or {}).get("nodeName")
                if node:
                    topo.edges[ref].add((Kind.NODE, "", str(node)))
        for pvc in obs.of(Kind.PERSISTENT_VOLUME_CLAIM):
            sc = (pvc.get("spec") or {}).get("storageClassName")
            if sc:
                topo.edges[(Kind.PERSISTENT_VOLUME_CLAIM, namespace_of(pvc), name_of(pvc))].add(
                    (Kind.STORAGE_CLASS, "", str(sc))
                )
        for svc in obs.of(Kind.SERVICE):
            ref = (Kind.SERVICE, namespace_of(svc), name_of(svc))
            topo.services[ref] = svc
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue
            for dref, d in topo.deployments.items():
                labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
                    "labels"
                ) or {}
                if dref[1] == ref[1] and selector_matches(selector, labels):
                    topo.edges[ref].add(dref)
        service_names = {(ref[1], ref[2]) for ref in topo.services}
        for ref, d in topo.deployments.items():  # dependencies its manifest names
            template = (d.get("spec") or {}).get("template") or {}
            for ns, name in declared_services(template, ref[1], service_names):
                if ref not in topo.edges.get((Kind.SERVICE, ns, name), ()):
                    topo.edges[ref].add((Kind.SERVICE, ns, name))
        calls = {call_key(c) for c in obs.service_calls} | set(known_calls)
        for caller_ns, caller, callee_ns, callee in calls:
            topo.edges[(Kind.SERVICE, caller_ns, caller)].add((Kind.SERVICE, callee_ns, callee))
        return topo

    def nodes(self) -> list[Ref]:
        """Every object that has an edge or is indexed, sorted."""
        out = set(self.objects) | set(self.edges)
        for deps in self.edges.values():
            out |= deps
        return sorted(out, key=lambda r: (r[0].value, r[1], r[2]))

    def dependents(self, ref: Ref) -> Iterator[Ref]:
        """Objects that depend on ``ref``."""
        for src, deps in self.edges.items():
            if ref in deps:
                yield src

    def services_of(self, dref: Ref) -> list[Ref]:
        """Services whose selector picks the Deployment's pods."""
        return [s for s in self.services if dref in self.edges.get(s, ())]


def personalized_pagerank(
    nodes: list[Ref],
    edges: dict[Ref, set[Ref]],
    anomaly: dict[Ref, float],
    alpha: float = 0.85,
    back_weight: float = 0.1,
    iterations: int = 100,
) -> dict[Ref, float]:
    """A MicroRCA-style random walk: from a node, step to what it depends on, weighted by anomaly.

    The walk restarts at anomalous nodes (personalization = anomaly scores). From a
    node it moves to its dependencies in proportion to their anomaly, a little back
    to its dependents, and stays put in proportion to its own anomaly when nothing it
    depends on is more anomalous; mass therefore gathers at the most anomalous node
    that nothing anomalous explains (Wu et al., MicroRCA, NOMS 2020; CloudRanger).

    Returns:
        The stationary probability of every node.
    """
    import numpy as np

    index = {r: i for i, r in enumerate(nodes)}
    n = len(nodes)
    if n == 0:
        return {}
    a = np.array([anomaly.get(r, 0.0) for r in nodes], dtype=float)
    w = np.zeros((n, n))
    out_max = np.zeros(n)
    for src, deps in edges.items():
        if src not in index:
            continue
        i = index[src]
        for dst in deps:
            if dst not in index:
                continue
            j = index[dst]
            w[i, j] += a[j]
            w[j, i] += back_weight * a[i]
            out_max[i] = max(out_max[i], a[j])
    for i in range(n):
        w[i, i] += max(a[i] - out_max[i], 0.0) + 1e-6
    p = w / w.sum(axis=1, keepdims=True)
    pers = a + 1e-9
    pers = pers / pers.sum()
    pi = np.full(n, 1.0 / n)
    for _ in range(iterations):
        nxt = alpha * pi @ p + (1 - alpha) * pers
        if np.abs(nxt - pi).sum() < 1e-10:
            pi = nxt
            break
        pi = nxt
    return {r: float(pi[index[r]]) for r in nodes}
