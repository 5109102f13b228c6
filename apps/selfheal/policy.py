"""Deterministic policy checks on a proposed action: the voters that never guess.

Each check reads the action, the cluster (to plan the exact API writes) and the
settings, and returns a verdict with a reason. The executor runs the allowlist check
again right before it writes, so an action outside the allowlist is never applied,
whatever the voters said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.k8s.actions import (
    Action,
    DeletePod,
    DrainNode,
    RecreatePvc,
    ScaleDeployment,
    action_to_dict,
)
from apps.k8s.cluster import Cluster, Observation
from apps.k8s.exceptions import ActionRefusedError
from apps.k8s.kinds import Kind
from apps.k8s.objects import is_pod_ready, labels_of, name_of, namespace_of, selector_matches
from apps.k8s.policy import WritePolicy
from apps.k8s.settings import K8sSettings
from apps.selfheal.settings import SelfHealSettings
from patterns.core.exceptions import PermanentError


@dataclass(frozen=True)
class Check:
    """A policy verdict."""

    ok: bool
    reason: str


@dataclass(frozen=True)
class PolicyContext:
    """What a policy check may look at."""

    cluster: Cluster
    obs: Observation
    settings: SelfHealSettings
    k8s: K8sSettings
    risk: float
    blast_radius_pods: int


def check_allowlist(action: Action, ctx: PolicyContext) -> Check:
    """Action type allowed, namespace not protected, every planned write inside the k8s allowlist."""
    kind = action_to_dict(action)["type"]
    if kind not in ctx.settings.allowed_actions:
        return Check(False, f"action type {kind!r} is not in the healer's allowlist")
    ns = getattr(action, "namespace", "")
    if ns in ctx.settings.protected_namespaces:
        return Check(False, f"namespace {ns!r} is protected")
    try:
        ops = ctx.cluster.plan(action)
        WritePolicy.from_settings(ctx.k8s).check(ops)
    except ActionRefusedError as err:
        return Check(False, str(err))
    except PermanentError as err:
        return Check(False, f"cannot be planned: {err}")
    if not ops:
        return Check(False, "nothing to change (the action is a no-op on this cluster)")
    return Check(True, f"{len(ops)} write(s) inside the allowlist")


def check_blast_radius(action: Action, ctx: PolicyContext) -> Check:
    """Disrupts at most ``max_blast_radius_pods`` pods and is not riskier than ``max_risk``."""
    if ctx.blast_radius_pods > ctx.settings.max_blast_radius_pods:
        return Check(
            False,
            f"would disrupt {ctx.blast_radius_pods} pods (limit {ctx.settings.max_blast_radius_pods})",
        )
    if ctx.risk > ctx.settings.max_risk:
        return Check(False, f"risk {ctx.risk:.2f} above the limit {ctx.settings.max_risk:.2f}")
    return Check(True, f"{ctx.blast_radius_pods} pods affected, risk {ctx.risk:.2f}")


def check_disruption_budget(action: Action, ctx: PolicyContext) -> Check:
    """Never take away the last ready endpoints of a Service that has some (a PDB of minAvailable 1)."""
    obs = ctx.obs
    if isinstance(action, DrainNode):
        victims = [
            p for p in obs.of(Kind.POD) if (p.get("spec") or {}).get("nodeName") == action.node
        ]
    elif isinstance(action, DeletePod):
        victims = [
            p
            for p in obs.of(Kind.POD, action.namespace)
            if (action.name is None or name_of(p) == action.name)
            and (action.node is None or (p.get("spec") or {}).get("nodeName") == action.node)
            and (action.label_selector is None or _matches(action.label_selector, labels_of(p)))
        ]
    elif isinstance(action, ScaleDeployment) and action.replicas == 0:
        return Check(False, "scaling a workload to zero is an outage, not a remediation")
    else:
        return Check(True, "does not evict or delete pods")
    gone = {(namespace_of(p), name_of(p)) for p in victims if is_pod_ready(p)}
    for svc in obs.of(Kind.SERVICE):
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            continue
        ready = {
            (namespace_of(p), name_of(p))
            for p in obs.of(Kind.POD, namespace_of(svc))
            if is_pod_ready(p) and selector_matches(sel, labels_of(p))
        }
        if ready and ready <= gone:
            return Check(
                False,
                f"would remove every ready endpoint of Service {namespace_of(svc)}/{name_of(svc)}",
            )
    return Check(True, f"{len(gone)} ready pods disrupted; every Service keeps a ready endpoint")


def check_data_safety(action: Action, ctx: PolicyContext) -> Check:
    """Never delete a PersistentVolumeClaim that is bound to a volume (it holds data)."""
    if isinstance(action, RecreatePvc):
        try:
            pvc = ctx.cluster.get(Kind.PERSISTENT_VOLUME_CLAIM, action.name, action.namespace)
        except PermanentError as err:
            return Check(False, f"cannot read the claim: {err}")
        if (pvc.get("spec") or {}).get("volumeName") or (pvc.get("status") or {}).get(
            "phase"
        ) == "Bound":
            return Check(
                False, f"claim {action.namespace}/{action.name} is bound and may hold data"
            )
        return Check(True, "the claim was never bound: no data to lose")
    return Check(True, "deletes no claim")


def _matches(selector: str, labels: dict[str, str]) -> bool:
    from apps.k8s.objects import matches_requirements, parse_selector

    return matches_requirements(labels, parse_selector(selector))


POLICY_CHECKS: dict[str, Callable[[Action, PolicyContext], Check]] = {
    "policy-allowlist": check_allowlist,
    "policy-blast-radius": check_blast_radius,
    "policy-disruption-budget": check_disruption_budget,
    "policy-data-safety": check_data_safety,
}


def run_policies(action: Action, ctx: PolicyContext) -> dict[str, Check]:
    """Every policy check's verdict."""
    return {name: fn(action, ctx) for name, fn in POLICY_CHECKS.items()}
