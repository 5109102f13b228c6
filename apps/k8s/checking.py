"""Check a scenario three ways: its fault shows, a right fix clears it, doing nothing does not.

The same checks the catalog tests make, as functions a scenario author (or the cluster
benchmark) can run on any scenario file, and on a two-fault composition.
"""

from __future__ import annotations

from apps.k8s.compose import ComposedScenario
from apps.k8s.exceptions import ActionRefusedError
from apps.k8s.kinds import Kind
from apps.k8s.objects import label_selector_matches
from apps.k8s.scenario import MetricSymptom, Scenario
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import is_resolved, missing_symptoms


def check_scenario(sc: Scenario, seed: int | None = None) -> list[str]:
    """What is wrong with a scenario; empty when all three checks hold.

    1. every declared symptom shows at ``detect_at_s``;
    2. each acceptable action clears it within ``resolve_within_s``;
    3. doing nothing does not, unless the scenario says no action is right (then it
       clears by itself or stays outside a default write policy's reach).
    """
    gt = sc.ground_truth
    sim = SimCluster.from_scenario(sc, seed)
    sim.run_until(gt.detect_at_s)
    out = [f"symptom missing at detection: {s}" for s in missing_symptoms(sc, sim.observe())]
    for action in gt.acceptable:
        fork = sim.fork()
        fork.apply(action)
        fork.advance(gt.resolve_within_s)
        ok, reasons = is_resolved(sc, fork.observe([sc.namespace]))
        if not ok:
            out.append(f"{action.describe()} does not clear it: {reasons[:2]}")
    idle = sim.fork()
    refused = []
    for action in gt.wrong if gt.no_action else []:
        try:
            idle.fork().apply(action, dry_run=True)  # the simulator's permissive policy
        except ActionRefusedError:
            refused.append(action)
    idle.advance(gt.resolve_within_s)
    cleared, _ = is_resolved(sc, idle.observe([sc.namespace]))
    if gt.no_action:
        if not cleared and refused != gt.wrong:
            out.append("no-action scenario neither clears by itself nor is outside the policy")
    elif cleared:
        out.append("it clears with no action")
    return out


def check_composed(c: ComposedScenario, seed: int | None = None) -> list[str]:
    """The three checks on a composition: both faults show, both fixes clear both, nothing does not."""
    sc = c.scenario
    sim = SimCluster.from_scenario(sc, seed)
    sim.run_until(sc.ground_truth.detect_at_s)
    obs = sim.observe()
    out = [
        f"{p.name}: symptom missing at detection: {s}"
        for p in c.parts
        for s in missing_symptoms(p, obs)
    ]
    fixed = sim.fork()
    for part in c.parts:
        fixed.apply(part.ground_truth.acceptable[0])
    fixed.advance(sc.ground_truth.resolve_within_s)
    after = fixed.observe()
    for part in c.parts:
        ok, reasons = is_resolved(part, after)
        if not ok:
            out.append(f"{part.name}: not cleared by its fix: {reasons[:2]}")
    idle = sim.fork()
    idle.advance(sc.ground_truth.resolve_within_s)
    untouched = idle.observe()
    out += [f"{p.name}: clears with no action" for p in c.parts if is_resolved(p, untouched)[0]]
    return out


def is_cascade(sc: Scenario) -> bool:
    """The errors show somewhere the root cause is not: a metric symptom on a Service that
    is not the root cause, does not select the root-cause workload and is not scaled by
    the root-cause autoscaler."""
    rc = sc.ground_truth.root_cause
    for s in sc.ground_truth.symptoms:
        if not isinstance(s, MetricSymptom):
            continue
        ns = s.namespace
        if rc.kind is Kind.SERVICE and (rc.namespace, rc.name) == (ns, s.service):
            continue
        svc = next(
            (
                m
                for m in sc.manifests
                if m["kind"] == "Service"
                and m["metadata"]["name"] == s.service
                and (m["metadata"].get("namespace") or "default") == ns
            ),
            None,
        )
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}
        selected = {
            m["metadata"]["name"]
            for m in sc.manifests
            if m["kind"] == "Deployment"
            and (m["metadata"].get("namespace") or "default") == ns
            and label_selector_matches(
                {"matchLabels": selector},
                ((m["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {},
            )
        }
        scalers = {
            m["metadata"]["name"]
            for m in sc.manifests
            if m["kind"] == "HorizontalPodAutoscaler"
            and (m["spec"].get("scaleTargetRef") or {}).get("name") in selected
        }
        direct = (rc.kind is Kind.DEPLOYMENT and rc.name in selected) or (
            rc.kind is Kind.HORIZONTAL_POD_AUTOSCALER and rc.name in scalers
        )
        if not direct:
            return True
    return False
