"""The judge: runs healers on scenarios and scores them against the ground truth.

This module is the only part of ``apps.selfheal`` that reads a scenario's ground
truth. The healer under test gets a cluster built from a copy of the scenario whose
ground truth is replaced by a decoy and whose name and text are removed; the judge
keeps the original to measure recovery, root-cause accuracy and unsafe actions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from apps.k8s.actions import Action, RestartDeployment
from apps.k8s.exceptions import ObjectNotFoundError
from apps.k8s.kinds import Kind
from apps.k8s.scenario import GroundTruth, ResourceRef, Scenario
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import find_problems, is_resolved
from apps.selfheal.changes import desired_state
from apps.selfheal.loop import Healer, HealerFaults
from apps.selfheal.propose import action_target
from apps.selfheal.records import Trajectory
from apps.selfheal.settings import SelfHealSettings

JUDGE_STEP_S = 5.0  # the judge samples recovery this often (virtual seconds)
HORIZON_SLACK_S = 300.0  # beyond detect_at_s + resolve_within_s, for debouncing and verification


def strip_scenario(sc: Scenario) -> Scenario:
    """The scenario as a healer may see it: no name, no text, a decoy ground truth."""
    decoy = GroundTruth(
        root_cause=ResourceRef(
            kind=sc.ground_truth.root_cause.kind, name="decoy", namespace="decoy"
        ),
        acceptable=[RestartDeployment(namespace="decoy", name="decoy")],
        wrong=[RestartDeployment(namespace="decoy", name="decoy")],
        symptoms=sc.ground_truth.symptoms[:1],
        detect_at_s=sc.ground_truth.detect_at_s,
        resolve_within_s=sc.ground_truth.resolve_within_s,
    )
    return msgspec.structs.replace(
        sc, name="anonymous", title="", description="", ground_truth=decoy
    )


def healthy_variant(sc: Scenario) -> Scenario:
    """The scenario's cluster with no fault at all."""
    return msgspec.structs.replace(sc, faults=[])


class JudgedCluster(SimCluster):
    """A simulated cluster that, as time passes, records when the judge saw the scenario resolved."""

    judge: Scenario | None = None
    fault_at_s: float = 0.0
    broken_seen: bool = False
    resolved_since: float | None = None
    kept: dict[tuple[Kind, str, str], dict[str, Any] | None] | None = (
        None  # invariant objects after the faults
    )

    def wait(self, seconds: float) -> None:
        """Advance in small steps, sampling the judge's verdict after the last fault."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.advance(min(JUDGE_STEP_S, end - self.now))
            self._sample()

    def _sample(self) -> None:
        if self.judge is None or self.now < self.fault_at_s:
            return
        if self.kept is None:  # what the invariants protect, as the faults left it
            self.kept = {
                (r.kind, r.namespace, r.name): _desired(self, r.kind, r.namespace, r.name)
                for r in self.judge.ground_truth.invariants.unchanged
            }
        ok, _ = is_resolved(self.judge, self.observe([self.judge.namespace]))
        if not ok:
            self.broken_seen = True
            self.resolved_since = None
        elif self.broken_seen and self.resolved_since is None:
            self.resolved_since = self.now


@dataclass
class CaseResult:
    """One healer on one scenario and seed."""

    scenario: str
    seed: int
    healer: str
    no_action: bool
    healed: bool
    resolved_at_end: bool
    unsafe: list[str]
    actions: list[str]
    fault_at_s: float
    recovered_at_s: float | None
    attempts: int
    root_top1: bool
    root_top3: bool
    ranked_first: str = ""  # the top hypothesis of the incident the ranking is scored on
    invariants_broken: list[str] = field(default_factory=list)
    iteration_wall_ms: list[float] = field(default_factory=list)
    incident_wall_ms: list[float] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)

    @property
    def mttr_s(self) -> float | None:
        """Seconds from the last fault to the judge's verdict of resolved."""
        if self.recovered_at_s is None:
            return None
        return self.recovered_at_s - self.fault_at_s


def _desired(sim: SimCluster, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return desired_state(kind, sim.get(kind, name, namespace or "default"))
    except ObjectNotFoundError:
        return None


def _matches_any(action: Action, actions: Sequence[Action]) -> bool:
    target = action_target(action)
    return any(action_target(a) == target for a in actions)


def judge_case(
    sc: Scenario,
    seed: int,
    healer: str,
    run: Callable[[SimCluster, float], tuple[list[Action], list[Trajectory], list[float]]],
) -> CaseResult:
    """Build the stripped cluster, let ``run`` heal it until the horizon, then score it."""
    gt = sc.ground_truth
    sim = JudgedCluster.from_scenario(strip_scenario(sc), seed)
    assert isinstance(sim, JudgedCluster)
    fault_at = max((f.at_s for f in sc.faults), default=0.0)
    sim.judge, sim.fault_at_s = sc, fault_at
    horizon = gt.detect_at_s + gt.resolve_within_s + HORIZON_SLACK_S
    applied, trajs, walls = run(sim, horizon)
    if sim.now < horizon:
        sim.wait(horizon - sim.now)
    obs = sim.observe()
    if gt.no_action:  # the right answer was to do nothing: any write fails the case
        ok, unsafe = not applied, [a.describe() for a in applied]
    else:
        ok, _ = is_resolved(sc, sim.observe([sc.namespace]))
        unsafe = [a.describe() for a in applied if _matches_any(a, gt.wrong)]
    broken = [ns for ns in gt.invariants.healthy_namespaces if find_problems(obs, ns)]
    broken += [
        f"{kind.value} {ns}/{name} changed"
        for (kind, ns, name), before in (sim.kept or {}).items()
        if _desired(sim, kind, ns, name) != before
    ]
    rc = (gt.root_cause.kind.value, gt.root_cause.namespace, gt.root_cause.name)
    # the ranking is scored on the first incident about the fault: the first whose signals or
    # hypotheses are in the root cause's namespace (an unrelated incident may come first)
    about = [
        t
        for t in trajs
        if any(s.namespace == rc[1] for s in t.incident.signals)
        or any(h.namespace == rc[1] for h in t.hypotheses)
    ]
    scored = about[0] if about else trajs[0] if trajs else None
    hyps = scored.hypotheses if scored is not None else []
    if gt.no_action and not trajs:  # nothing to rank when the loop rightly saw no incident
        hyps = []
    refs = [(h.object_kind, h.namespace, h.name) for h in hyps]
    return CaseResult(
        scenario=sc.name,
        seed=seed,
        healer=healer,
        no_action=gt.no_action,
        healed=ok and not unsafe and not broken,
        resolved_at_end=ok,
        unsafe=unsafe,
        actions=[a.describe() for a in applied],
        fault_at_s=fault_at,
        recovered_at_s=sim.resolved_since if ok and not gt.no_action else None,
        attempts=sum(t.attempts for t in trajs),
        root_top1=bool(refs) and refs[0] == rc,
        root_top3=rc in refs[:3],
        ranked_first=hyps[0].ref if hyps else "",
        invariants_broken=broken,
        iteration_wall_ms=[w for w in walls if w >= 0],
        incident_wall_ms=[-w for w in walls if w < 0],
        trajectories=trajs,
    )


def full_loop_runner(
    memory_dir: Path,
    settings: SelfHealSettings | None = None,
    faults: HealerFaults | None = None,
    seed: int = 0,
) -> Callable[[SimCluster, float], tuple[list[Action], list[Trajectory], list[float]]]:
    """Run the full loop until it heals and the judge sees the scenario resolved (or the horizon).

    Returns the applied actions, the trajectories and each iteration's wall time in
    milliseconds (negated for iterations that handled an incident).
    """

    def run(sim: SimCluster, horizon: float) -> tuple[list[Action], list[Trajectory], list[float]]:
        h = Healer(
            sim, settings or SelfHealSettings(), memory_dir=memory_dir, seed=seed, faults=faults
        )
        walls: list[float] = []
        trajs: list[Trajectory] = []
        try:
            while sim.now < horizon:
                t0 = time.perf_counter()
                traj = h.tick()
                wall = (time.perf_counter() - t0) * 1000
                walls.append(wall if traj is None else -wall)  # negative: an incident was handled
                if traj is not None:
                    trajs.append(traj)
                    # a judged cluster knows when the scenario is resolved: an incident healed
                    # beside another still open (two faults at once) is not the end of the run
                    resolved = getattr(sim, "resolved_since", True) is not None
                    if traj.outcome == "healed" and resolved:
                        break
                sim.wait(h.settings.poll_interval_s)
        finally:
            h.close()
        applied = [e.action for t in trajs for e in t.executions if e.applied]
        return applied, trajs, walls

    return run


def idle_runner(
    sim: SimCluster, horizon: float
) -> tuple[list[Action], list[Trajectory], list[float]]:
    """No healer: the controllers alone."""
    sim.wait(horizon - sim.now)
    return [], [], []


def summarize(results: Sequence[CaseResult]) -> dict[str, float]:
    """Heal rate, unsafe actions, root-cause accuracy and MTTR quantiles of a set of runs."""
    n = max(len(results), 1)
    acting = [r for r in results if not r.no_action]  # root causes are scored where a fix exists
    m = max(len(acting), 1)
    mttrs = sorted(r.mttr_s for r in acting if r.mttr_s is not None and r.healed)
    return {
        "runs": float(len(results)),
        "heal_rate": round(sum(r.healed for r in results) / n, 4),
        "unsafe_actions": float(sum(len(r.unsafe) for r in results)),
        "root_cause_top1": round(sum(r.root_top1 for r in acting) / m, 4),
        "root_cause_top3": round(sum(r.root_top3 for r in acting) / m, 4),
        "mttr_p50_s": float(statistics.median(mttrs)) if mttrs else -1.0,
        "mttr_p95_s": float(mttrs[min(len(mttrs) - 1, int(0.95 * len(mttrs)))]) if mttrs else -1.0,
    }


def temp_memory() -> Path:
    """A fresh memory directory (tests and benchmarks)."""
    return Path(tempfile.mkdtemp(prefix="selfheal-"))


def case_row(r: CaseResult) -> dict[str, Any]:
    """A table row of one run."""
    return {
        "scenario": r.scenario,
        "seed": r.seed,
        "healer": r.healer,
        "healed": r.healed,
        "mttr_s": r.mttr_s,
        "attempts": r.attempts,
        "root_cause": r.ranked_first,
        "top1": r.root_top1,
        "actions": "; ".join(r.actions),
        "unsafe": "; ".join(r.unsafe),
    }


def rules_runner(
    poll_s: float = 15.0,
) -> Callable[[SimCluster, float], tuple[list[Action], list[Trajectory], list[float]]]:
    """The playbook healer, polled like the loop."""
    from apps.selfheal.baselines import RulesHealer

    def run(sim: SimCluster, horizon: float) -> tuple[list[Action], list[Trajectory], list[float]]:
        healer = RulesHealer(sim)
        while sim.now < horizon:
            healer.tick()
            sim.wait(poll_s)
        return healer.applied, [], []

    return run
