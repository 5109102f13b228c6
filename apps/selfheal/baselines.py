"""A rules-only playbook healer (Robusta style: a fixed alert → action table), for comparison.

It acts on the object that alerts, with the action its table names, without root
cause analysis, voting or verification. The benchmark runs it on the same scenarios
as the full loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.k8s.actions import (
    Action,
    DrainNode,
    PatchHpa,
    PatchResources,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
)
from apps.k8s.cluster import Cluster
from apps.k8s.kinds import Kind
from apps.k8s.quantity import format_memory, memory_bytes
from apps.k8s.symptoms import Problem, ProblemKind, find_problems
from apps.selfheal.changes import seconds_of
from apps.selfheal.topology import Topology
from patterns.core.exceptions import PermanentError, RetryableError

COOLDOWN_S = 300.0  # the playbook fires once per object and action in this long


@dataclass
class RulesHealer:
    """Maps each problem to a fixed action on the alerting object's workload."""

    cluster: Cluster
    fired: dict[str, float] = field(default_factory=dict)
    applied: list[Action] = field(default_factory=list)

    def tick(self) -> list[Action]:
        """Observe once, fire the playbook on every problem; returns what it applied."""
        obs = self.cluster.observe()
        topo = Topology.build(obs)
        now = seconds_of(obs.time)
        done = []
        for p in find_problems(obs):
            action = self._playbook(p, topo)
            if action is None:
                continue
            key = action.describe()
            if self.fired.get(key, -1e18) + COOLDOWN_S > now:
                continue
            self.fired[key] = now
            try:
                self.cluster.apply(action, dry_run=False)
            except (PermanentError, RetryableError):
                continue
            self.applied.append(action)
            done.append(action)
        return done

    def _playbook(self, p: Problem, topo: Topology) -> Action | None:
        deploy = None
        if p.object_kind is Kind.POD:
            owner = topo.owner_of_pod.get((p.namespace, p.name))
            deploy = owner[2] if owner else None
        elif p.object_kind is Kind.DEPLOYMENT:
            deploy = p.name
        elif p.object_kind is Kind.SERVICE:
            deps = [
                d
                for d in topo.edges.get((Kind.SERVICE, p.namespace, p.name), ())
                if d[0] is Kind.DEPLOYMENT
            ]
            deploy = deps[0][2] if deps else None
        if p.kind is ProblemKind.NODE_NOT_READY:
            return DrainNode(node=p.name)
        if p.kind is ProblemKind.HPA_AT_MAX:
            hpa = topo.objects.get((Kind.HORIZONTAL_POD_AUTOSCALER, p.namespace, p.name)) or {}
            cur = int((hpa.get("spec") or {}).get("maxReplicas", 1))
            return PatchHpa(namespace=p.namespace, name=p.name, max_replicas=min(cur * 2, 1000))
        if deploy is None:
            return None
        if p.kind is ProblemKind.CONTAINER_WAITING:
            if "ImagePull" in p.detail or "ErrImage" in p.detail:
                return RolloutUndo(namespace=p.namespace, name=deploy)
            return RestartDeployment(namespace=p.namespace, name=deploy)
        if p.kind is ProblemKind.RECENT_RESTART and "OOMKilled" in p.detail:
            d = topo.deployments.get((Kind.DEPLOYMENT, p.namespace, deploy)) or {}
            for c in (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers"
            ) or []:
                lim = ((c.get("resources") or {}).get("limits") or {}).get("memory")
                if lim:
                    return PatchResources(
                        namespace=p.namespace,
                        name=deploy,
                        container=c["name"],
                        limits={"memory": format_memory(memory_bytes(lim) * 2)},
                    )
            return None
        if p.kind is ProblemKind.HIGH_LATENCY:
            d = topo.deployments.get((Kind.DEPLOYMENT, p.namespace, deploy)) or {}
            n = int((d.get("spec") or {}).get("replicas", 1))
            return ScaleDeployment(namespace=p.namespace, name=deploy, replicas=min(2 * n, 1000))
        if p.kind in (
            ProblemKind.POD_NOT_READY,
            ProblemKind.NO_ENDPOINTS,
            ProblemKind.HIGH_ERROR_RATE,
            ProblemKind.POD_PENDING,
        ):
            return RestartDeployment(namespace=p.namespace, name=deploy)
        return None
