"""The self-healing loop: monitor → detect → root cause → propose → vote → validate → execute → learn.

:class:`Healer` gets a :class:`~apps.k8s.cluster.Cluster` and nothing else. It never
sees a scenario, its name or its ground truth; everything it knows comes from
objects, events, metrics and the change feed, like an operator's tools.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apps.k8s.actions import Action, action_to_dict
from apps.k8s.cluster import Cluster, Observation
from apps.k8s.kinds import Kind
from apps.k8s.policy import ANY_NAMESPACE
from apps.k8s.settings import K8sSettings, get_k8s_settings
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import find_problems
from apps.selfheal.alerts import AlertHint
from apps.selfheal.board import IncidentBoard
from apps.selfheal.changes import ChangeTracker, seconds_of
from apps.selfheal.detect import METRIC_KINDS, Detector, incident_id, signature
from apps.selfheal.exceptions import HealerStateError
from apps.selfheal.execute import apply_with_retry, inverse_action, problem_key, verify
from apps.selfheal.learn import Experience, action_tag
from apps.selfheal.modelprop import ModelProposer
from apps.selfheal.monitor import MonitorReport, Monitors
from apps.selfheal.policy import PolicyContext, check_allowlist, run_policies
from apps.selfheal.propose import Proposer
from apps.selfheal.records import (
    Execution,
    Hypothesis,
    Incident,
    Outcome,
    Proposal,
    Trajectory,
    Validation,
    VoteRecord,
)
from apps.selfheal.rootcause import rank_root_causes
from apps.selfheal.settings import HealMode, SelfHealSettings, get_selfheal_settings
from apps.selfheal.topology import CallMemory, Topology
from apps.selfheal.validate import Recheck, Validator
from apps.selfheal.vote import VoteContext, Voting
from patterns.core.exceptions import PermanentError, RetryableError, SwarmError
from patterns.core.loopthread import AsyncRuntime
from patterns.net.faults import FaultPlan

log = logging.getLogger(__name__)
RECOGNISED_RANK = 0.55  # a recalled strategy ranked this high lets an incident open on first sight
MEMORY_WEIGHT = 0.6  # weight of the bank's prior when ordering proposals
REPORT_COOLDOWN_S = 300.0  # a reported (not acted on) incident is not reported again this soon


def default_k8s_settings(cluster: Cluster) -> K8sSettings:
    """The ``k8s`` settings from the environment; on the simulated cluster every namespace is writable
    unless ``SWARMKIT_K8S__WRITE_NAMESPACES`` says otherwise (a real cluster keeps the explicit list).
    """
    cfg = get_k8s_settings()
    if isinstance(cluster, SimCluster) and "write_namespaces" not in cfg.model_fields_set:
        cfg = cfg.model_copy(update={"write_namespaces": [ANY_NAMESPACE]})
    return cfg


class StepRunner(Protocol):
    """Runs one step of the loop (the flow wraps each in a Prefect task)."""

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any) -> Any: ...


def _direct(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@dataclass
class Case:
    """The working state of one incident while steps 3 to 8 run."""

    incident: Incident
    obs: Observation
    report: MonitorReport
    baseline: set[tuple[str, str, str, str]]
    topo: Topology | None = None
    hypotheses: list[Hypothesis] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    votes: list[VoteRecord] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    priors: dict[str, float] = field(default_factory=dict)
    used_items: list[str] = field(default_factory=list)
    outcome: Outcome = Outcome.REPORTED
    resolved_at: float | None = None

    def memory_of(self, p: Proposal) -> float | None:
        """What memory says of this action against this kind of cause (-1..1), if anything."""
        tag = action_tag(action_to_dict(p.action)["type"], self.hypotheses[p.hypothesis].kind)
        return self.priors.get(tag)

    def scope(self) -> set[str]:
        """Namespaces the incident touches (its hypotheses' and its signals')."""
        return {h.namespace for h in self.hypotheses if h.namespace} | {
            s.namespace for s in self.incident.signals if s.namespace
        }

    def verify_scope(self, index: int, protected: Collection[str]) -> set[str]:
        """Namespaces the verification of proposal ``index`` watches: the incident's, less the
        protected ones other than the proposal's own. The healer may not write there, so a
        problem it finds there (an add-on crash-looping beside the incident) is not the
        proposal's to fix, and must not make a right fix look wrong and be rolled back."""
        own = getattr(self.proposals[index].action, "namespace", "")
        return {ns for ns in self.scope() if ns == own or ns not in protected}

    def trajectory(self, notes: list[str], learned: list[str] | None = None) -> Trajectory:
        """The trajectory as it stands."""
        return Trajectory(
            incident=self.incident,
            monitors=self.report.summary,
            hypotheses=self.hypotheses,
            proposals=self.proposals,
            votes=self.votes,
            validations=self.validations,
            executions=self.executions,
            outcome=self.outcome.value,
            detected_at_s=seconds_of(self.incident.detected_at),
            resolved_at_s=self.resolved_at,
            attempts=sum(1 for e in self.executions if e.applied),
            learned=learned or [],
            notes=notes,
        )


@dataclass
class HealerFaults:
    """Faults injected into the loop itself, for tests of how it degrades."""

    replica_plan: FaultPlan | None = None
    replica_views: dict[int, Recheck] = field(default_factory=dict)
    monitor_crash: Callable[[str], None] | None = None
    lost_voters: set[str] = field(default_factory=set)


class Healer:
    """One self-healing loop bound to one cluster.

    Args:
        cluster: The cluster to heal (simulated or real).
        settings: The loop's settings (``SWARMKIT_SELFHEAL__*``).
        k8s: The Kubernetes layer's settings (write allowlist).
        memory_dir: Where trajectories and the bank live (overrides the settings).
        seed: Seed of the in-process replicas and gossip simulators.
        faults: Faults in the loop's own parts (tests).
    """

    def __init__(
        self,
        cluster: Cluster,
        settings: SelfHealSettings | None = None,
        k8s: K8sSettings | None = None,
        *,
        memory_dir: Path | None = None,
        seed: int = 0,
        faults: HealerFaults | None = None,
        healer_id: str = "healer-0",
    ) -> None:
        self.cluster = cluster
        self.settings = settings or get_selfheal_settings()
        self.k8s = k8s or default_k8s_settings(cluster)
        self.faults = faults or HealerFaults()
        self.tracker = ChangeTracker()
        self.calls = CallMemory()
        self.detector = Detector(self.settings.baseline_window, self.settings.z_threshold)
        self.runtime = AsyncRuntime("selfheal-loop")
        self.monitors = Monitors(self.runtime, self.settings.monitors_tree_fanout)
        self.monitors.fault = self.faults.monitor_crash
        self.voting = Voting(self.runtime, self.settings)
        self.voting.lost = set(self.faults.lost_voters)
        self.validator = Validator(
            self._recheck,
            replicas=self.settings.replicas,
            seed=seed,
            healer_id=healer_id,
            plan=self.faults.replica_plan,
            overrides=self.faults.replica_views,
        )
        self.board: IncidentBoard | None = None
        self.seed = seed
        self.experience = Experience(memory_dir or self.settings.memory_dir)
        self.voting.load(self.experience.directory / "voter-reliability.json")
        self.cooldown: dict[str, float] = {}
        self.trajectories: list[Trajectory] = []
        self.last_report: MonitorReport | None = None
        self.iterations = 0
        self.hints: set[str] = set()
        self.model_proposer: ModelProposer | None = (
            ModelProposer.from_models(self.runtime, self.settings.model_proposers)
            if self.settings.model_proposers
            else None
        )

    def hint(self, alert: AlertHint) -> None:
        """Take an alert as confirmation: problems in its namespaces open an incident at first sight."""
        self.hints |= set(alert.namespaces)

    # ------------------------------------------------------------------------------- state
    def save_state(self, path: Path) -> None:
        """Write what the loop remembers between runs (change history, debounce, baselines, cooldowns).

        A scheduled deployment runs one iteration per flow run; this keeps the state
        across runs. The file is written atomically.
        """
        state = {
            "tracker": self.tracker.to_state(),
            "detector": self.detector.to_state(),
            "cooldown": self.cooldown,
            "hints": sorted(self.hints),
            "calls": self.calls.to_state(),
        }
        tmp = path.with_suffix(".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(state, sort_keys=True))
        tmp.replace(path)

    def load_state(self, path: Path) -> bool:
        """Read the state :meth:`save_state` wrote; False when there is none.

        Raises:
            HealerStateError: the file exists but cannot be read (it is left as it is).
        """
        if not path.exists():
            return False
        try:
            state = json.loads(path.read_text())
            self.tracker.load_state(state["tracker"])
            self.detector.load_state(state["detector"])
            self.cooldown = {str(k): float(v) for k, v in state["cooldown"].items()}
            self.hints = set(state.get("hints", []))
            self.calls.load_state(state.get("calls", []))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise HealerStateError(
                f"{path}: unreadable loop state ({err}); move it away to start afresh"
            ) from err
        return True

    # ------------------------------------------------------------------------------- state
    @property
    def dry_run_only(self) -> bool:
        """Whether writes are dry runs only (the default on a real cluster)."""
        if self.settings.mode is None:
            return self.cluster.default_dry_run
        return self.settings.mode is HealMode.DRY_RUN

    def now_s(self) -> float:
        """The cluster's clock, seconds since the epoch."""
        return seconds_of(self.cluster.now_iso())

    def close(self) -> None:
        """Release the background loop and the memory store."""
        try:
            self.experience.close()
        finally:
            self.runtime.close()

    # ------------------------------------------------------------------------------- steps
    def monitor(self) -> tuple[Observation, MonitorReport]:
        """Step 1: read the change feed and the cluster; spawn monitors and merge their summaries."""
        if self.experience.pending:
            self.experience.retry_pending()
        self.tracker.poll(self.cluster)
        obs = self.cluster.observe(self.k8s.read_namespaces)
        self.calls.observe(obs.service_calls, seconds_of(obs.time))
        report = self.monitors.run(obs)
        self.last_report = report
        return obs, report

    def detect(self, obs: Observation) -> Incident | None:
        """Step 2: signals that persisted (at once when memory recognises them) open an incident."""
        now = seconds_of(obs.time)
        signals = self.detector.signals(obs, now)
        current = [s for s in signals if s.source != "event"]
        if not current:
            return None
        sig = signature(current, signals)
        if self.cooldown.get(sig, 0.0) > now:
            return None
        recognised, titles = self.experience.recognise(sig)
        if all(s.kind in METRIC_KINDS for s in current):
            recognised = 0.0  # metric excursions are often blips: they always need confirming
        alerted = any(s.namespace in self.hints for s in current)
        polls = 1 if recognised >= RECOGNISED_RANK or alerted else self.settings.confirm_polls
        persisted = self.detector.persisted(signals, polls)
        if not persisted:
            return None
        namespaces = Counter(s.namespace for s in persisted if s.namespace)
        ns = namespaces.most_common(1)[0][0] if namespaces else ""
        return Incident(
            id=incident_id(ns, now, sig),
            detected_at=obs.time,
            namespace=ns,
            signals=persisted,
            signature=sig,
            recalled=titles,
            recall_confidence=round(recognised, 4),
            onset_s=self.detector.onset(persisted),
        )

    def root_cause(self, case: Case) -> list[Hypothesis]:
        """Step 3: rank 1-3 root-cause hypotheses with their evidence."""
        case.topo = Topology.build(case.obs, self.calls.edges())
        case.hypotheses, _ = rank_root_causes(
            case.topo, self.tracker, case.incident, case.incident.onset_s
        )
        hyps = case.hypotheses
        if not hyps or hyps[0].confidence < self.settings.min_confidence:
            case.notes.append(
                "no root cause with enough confidence: reported, no action"
                if hyps
                else "no root cause found: reported, no action"
            )
        return hyps

    def propose(self, case: Case) -> list[Proposal]:
        """Step 4: typed actions from templates, ordered by prior, memory and risk."""
        hyps = case.hypotheses
        if not hyps or hyps[0].confidence < self.settings.min_confidence or case.topo is None:
            return []
        proposer = Proposer(case.topo, self.tracker, self.settings)
        proposals = proposer.propose(hyps)
        if self.model_proposer is not None:
            actions, notes = self.model_proposer.propose(case.incident, hyps[0])
            case.notes += notes
            known = {p.action for p in proposals}
            proposals += [proposer.from_model(a) for a in actions if a not in known]
        recalled, case.priors = self.experience.recall(case.incident.signature)
        case.used_items = [r.item.id for r in recalled]
        proposals.sort(
            key=lambda p: (
                p.hypothesis,
                -(p.prior + MEMORY_WEIGHT * (case.memory_of(p) or 0.0) - 0.2 * p.risk),
            )
        )
        if not proposals:
            case.notes.append(
                f"no remediation template fits {hyps[0].kind} on {hyps[0].ref}: reported"
            )
        case.proposals = proposals
        return proposals

    def vote(self, case: Case, index: int) -> VoteRecord:
        """Step 5: the voters decide on proposal ``index``."""
        p = case.proposals[index]
        ctx = PolicyContext(
            self.cluster, case.obs, self.settings, self.k8s, p.risk, p.blast_radius_pods
        )
        record = self.voting.vote(
            index, VoteContext(p, case.hypotheses[p.hypothesis], ctx, case.memory_of(p))
        )
        case.votes.append(record)
        return record

    def validate(self, case: Case, index: int) -> Validation:
        """Step 6: commit proposal ``index`` through PBFT among the healer replicas."""
        p = case.proposals[index]
        body = {**action_to_dict(p.action), "risk": p.risk, "blast": p.blast_radius_pods}
        val = self.validator.validate(case.incident.id, body)
        case.validations.append(val)
        if not val.committed:
            case.notes.append(f"not validated: {val.reason}")
        return val

    def execute(self, case: Case, index: int) -> Execution:
        """Step 7: dry run, apply, verify, roll back on failure."""
        scope = case.verify_scope(index, self.settings.protected_namespaces)
        ex = self._execute(case.proposals[index].action, scope, case.baseline)
        case.executions.append(ex)
        if ex.dry_run_only:
            case.outcome = Outcome.DRY_RUN
        elif not ex.applied:
            case.notes.append(ex.message)
        else:
            self.voting.feedback(ex.verified)
            if ex.verified:
                case.outcome = Outcome.HEALED
                case.resolved_at = ex.finished_at
            else:
                case.outcome = Outcome.FAILED
                case.obs = self.cluster.observe(self.k8s.read_namespaces)
        return ex

    def learn(self, case: Case) -> Trajectory:
        """Step 8: store the trajectory, distill it in the bank, gossip the outcome."""
        self.validator.release(case.incident.id)
        report = case.report
        notes = [
            *case.notes,
            f"monitors: {report.coverage}/{report.monitors} reported"
            + (f" (failed: {', '.join(report.failed)})" if report.failed else ""),
        ]
        traj = case.trajectory(notes)
        learned: list[str] = []
        try:
            learned = self.experience.store_trajectory(traj)
            self.experience.feedback(case.used_items, case.outcome is Outcome.HEALED)
        except (SwarmError, OSError) as err:
            notes.append(f"memory unavailable, trajectory kept in the journal and retried: {err}")
        traj = case.trajectory(notes, learned)
        self._publish(traj)
        self.trajectories.append(traj)
        self.hints -= case.scope()
        if traj.outcome != Outcome.HEALED.value:
            self.cooldown[case.incident.signature] = seconds_of(case.obs.time) + REPORT_COOLDOWN_S
        self.detector.forget()
        return traj

    # ------------------------------------------------------------------------------- loop
    def tick(self, steps: StepRunner | None = None) -> Trajectory | None:
        """One iteration: monitor, detect and, when an incident opens, handle it to the end.

        Args:
            steps: Runs each step (``run(name, fn, *args)``); the flow passes one that
                makes each step a Prefect task. None calls the steps directly.
        """
        run = steps or _direct
        self.iterations += 1
        obs, report = run("monitor", self.monitor)
        incident = run("detect", self.detect, obs)
        if incident is None:
            return None
        case = Case(
            incident=incident,
            obs=obs,
            report=report,
            baseline={problem_key(p) for p in find_problems(obs)},
        )
        run("root_cause", self.root_cause, case)
        run("propose", self.propose, case)
        attempts = 0
        for i in range(len(case.proposals)):
            if attempts >= self.settings.max_attempts:
                case.notes.append(f"stopped after {attempts} attempts: escalate to a person")
                break
            if not run("vote", self.vote, case, i).approved:
                continue
            try:
                validation = run("validate", self.validate, case, i)
            except RetryableError as err:
                case.notes.append(f"validation did not finish: {err}")
                break
            if not validation.committed:
                continue
            ex = run("execute", self.execute, case, i)
            attempts += ex.applied
            if case.outcome in (Outcome.HEALED, Outcome.DRY_RUN):
                break
        trajectory: Trajectory = run("learn", self.learn, case)
        return trajectory

    def run(
        self,
        until_s: float,
        max_incidents: int | None = None,
        on_incident: Callable[[Trajectory], None] | None = None,
        steps: StepRunner | None = None,
    ) -> list[Trajectory]:
        """Tick every ``poll_interval_s`` of cluster time until ``until_s`` (cluster seconds)."""
        out: list[Trajectory] = []
        while self.now_s() < until_s:
            traj = self.tick(steps)
            if traj is not None:
                out.append(traj)
                if on_incident is not None:
                    on_incident(traj)
                if max_incidents is not None and len(out) >= max_incidents:
                    break
            self.cluster.wait(self.settings.poll_interval_s)
        return out

    def _publish(self, traj: Trajectory) -> None:
        if self.board is None:
            peers = self.settings.gossip_peers or max(
                self.last_report.monitors if self.last_report else 2, 2
            )
            self.board = IncidentBoard(peers, seed=self.seed)
        top = traj.hypotheses[0] if traj.hypotheses else None
        final = traj.executions[-1] if traj.executions else None
        self.board.publish(
            traj.incident.id,
            {
                "outcome": traj.outcome,
                "cause": top.ref if top else None,
                "action": final.action.describe() if final else None,
                "certificate": traj.validations[-1].digest if traj.validations else None,
                "detected_at": traj.incident.detected_at,
            },
        )

    def _execute(
        self, action: Action, scope: set[str], baseline: set[tuple[str, str, str, str]]
    ) -> Execution:
        start = self.now_s()

        def not_applied(
            message: str, dry_run_message: str, dry_run_only: bool = False
        ) -> Execution:
            return Execution(
                action=action,
                dry_run_message=dry_run_message,
                applied=False,
                dry_run_only=dry_run_only,
                verified=False,
                rolled_back=False,
                started_at=start,
                finished_at=self.now_s(),
                message=message,
            )

        try:
            dry = apply_with_retry(self.cluster, action, True, self.cluster.wait)
        except (PermanentError, RetryableError) as err:
            return not_applied(f"dry run failed: {err}", str(err))
        if self.dry_run_only:
            return not_applied("dry-run mode: validated and dry-run only", dry.message, True)
        obs = self.cluster.observe(self.k8s.read_namespaces)
        gate = check_allowlist(
            action, PolicyContext(self.cluster, obs, self.settings, self.k8s, 0.0, 0)
        )
        if not gate.ok:  # the last line of defence: never apply outside the allowlist
            return not_applied(f"refused at the gate: {gate.reason}", dry.message)
        undo = inverse_action(action, self.cluster)
        keys = self._touched(action)
        try:
            apply_with_retry(self.cluster, action, False, self.cluster.wait)
        except (PermanentError, RetryableError) as err:
            return not_applied(f"apply failed: {err}", dry.message)
        self.tracker.mark_own(keys)
        s = self.settings
        result = verify(
            self.cluster,
            scope,
            baseline,
            s.verify_window_s,
            s.poll_interval_s,
            s.verify_stable_polls,
            s.settle_s,
            self.now_s,
            s.node_pressure_hold_s,
        )
        rolled_back = False
        message = result.reason
        if not result.verified and undo is not None:
            try:
                apply_with_retry(self.cluster, undo, False, self.cluster.wait)
                self.tracker.mark_own(keys)
                rolled_back = True
                message += f"; rolled back with {undo.describe()}"
            except (PermanentError, RetryableError) as err:
                message += f"; rollback failed: {err}"
        return Execution(
            action=action,
            dry_run_message=dry.message,
            applied=True,
            dry_run_only=False,
            verified=result.verified,
            rolled_back=rolled_back,
            started_at=start,
            finished_at=result.healthy_at_s
            if result.verified and result.healthy_at_s
            else result.ended_at_s,
            message=message,
            problems_after=result.problems[:10],
        )

    @staticmethod
    def _touched(action: Action) -> set[tuple[Kind, str, str]]:
        d = action_to_dict(action)
        kind = {
            "patch_configmap": Kind.CONFIG_MAP,
            "patch_secret": Kind.SECRET,
            "patch_pdb": Kind.POD_DISRUPTION_BUDGET,
            "suspend_job": Kind.JOB,
            "scale_job": Kind.JOB,
            "patch_service_selector": Kind.SERVICE,
            "patch_hpa": Kind.HORIZONTAL_POD_AUTOSCALER,
            "patch_resource_quota": Kind.RESOURCE_QUOTA,
            "recreate_pvc": Kind.PERSISTENT_VOLUME_CLAIM,
            "cordon_node": Kind.NODE,
            "drain_node": Kind.NODE,
        }.get(d["type"], Kind.DEPLOYMENT)
        if kind is Kind.NODE:
            return {(kind, "", d["node"])}
        return {(kind, d.get("namespace", ""), d.get("name") or "")}

    def _recheck(self, op: dict[str, Any]) -> bool:
        """A replica's own check of an action against its own read of the cluster."""
        body = dict(op.get("action") or {})
        risk = float(body.pop("risk", 0.0))
        blast = int(body.pop("blast", 0))
        from apps.k8s.actions import parse_action

        action = parse_action(body)
        obs = self.cluster.observe(self.k8s.read_namespaces)
        ctx = PolicyContext(self.cluster, obs, self.settings, self.k8s, risk, blast)
        return all(c.ok for c in run_policies(action, ctx).values())
