"""The self-healing loop: monitor → detect → root cause → propose → vote → validate → execute → learn.

:class:`Healer` gets a :class:`~apps.k8s.cluster.Cluster` and nothing else. It never
sees a scenario, its name or its ground truth; everything it knows comes from
objects, events, metrics and the change feed, like an operator's tools.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.k8s.actions import Action, action_to_dict
from apps.k8s.cluster import Cluster, Observation
from apps.k8s.kinds import Kind
from apps.k8s.settings import K8sSettings, get_k8s_settings
from apps.k8s.symptoms import find_problems
from apps.selfheal.board import IncidentBoard
from apps.selfheal.changes import ChangeTracker, seconds_of
from apps.selfheal.detect import Detector, incident_id, signature
from apps.selfheal.execute import apply_with_retry, inverse_action, problem_key, verify
from apps.selfheal.learn import Experience, action_tag
from apps.selfheal.monitor import MonitorReport, Monitors
from apps.selfheal.policy import PolicyContext, check_allowlist, run_policies
from apps.selfheal.propose import Proposer
from apps.selfheal.records import (
    Execution,
    Hypothesis,
    Incident,
    Outcome,
    Proposal,
    Signal,
    Trajectory,
    Validation,
    VoteRecord,
)
from apps.selfheal.rootcause import rank_root_causes
from apps.selfheal.runtime import AsyncRuntime
from apps.selfheal.settings import HealMode, SelfHealSettings, get_selfheal_settings
from apps.selfheal.topology import Topology
from apps.selfheal.validate import Recheck, Validator
from apps.selfheal.vote import VoteContext, Voting
from patterns.core.exceptions import PermanentError, RetryableError, SwarmError
from patterns.net.faults import FaultPlan

log = logging.getLogger(__name__)
RECOGNISED_RANK = 0.55  # a recalled strategy ranked this high lets an incident open on first sight
MEMORY_WEIGHT = 0.6  # weight of the bank's prior when ordering proposals
REPORT_COOLDOWN_S = 300.0  # a reported (not acted on) incident is not reported again this soon


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
        self.k8s = k8s or get_k8s_settings()
        self.faults = faults or HealerFaults()
        self.tracker = ChangeTracker()
        self.detector = Detector(self.settings.baseline_window, self.settings.z_threshold)
        self.runtime = AsyncRuntime()
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
        self.cooldown: dict[str, float] = {}
        self.trajectories: list[Trajectory] = []
        self.last_report: MonitorReport | None = None
        self.iterations = 0

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

    # ------------------------------------------------------------------------------- loop
    def tick(self) -> Trajectory | None:
        """One iteration: monitor, detect and, when an incident opens, handle it to the end."""
        self.iterations += 1
        if self.experience.pending:
            self.experience.retry_pending()
        self.tracker.poll(self.cluster)
        obs = self.cluster.observe(self.k8s.read_namespaces)
        report = self.monitors.run(obs)
        self.last_report = report
        now = seconds_of(obs.time)
        signals = self.detector.signals(obs, now)
        current = [s for s in signals if s.source != "event"]
        if not current:
            return None
        sig = signature(current, signals)
        if self.cooldown.get(sig, 0.0) > now:
            return None
        recognised, titles = self.experience.recognise(sig)
        polls = 1 if recognised >= RECOGNISED_RANK else self.settings.confirm_polls
        persisted = self.detector.persisted(signals, polls)
        if not persisted:
            return None
        namespaces = Counter(s.namespace for s in persisted if s.namespace)
        ns = namespaces.most_common(1)[0][0] if namespaces else ""
        incident = Incident(
            id=incident_id(ns, now, sig),
            detected_at=obs.time,
            namespace=ns,
            signals=persisted,
            signature=sig,
            recalled=titles,
            recall_confidence=round(recognised, 4),
        )
        traj = self.handle(incident, obs, report, self.detector.onset(persisted))
        if traj.outcome in (Outcome.REPORTED.value, Outcome.DRY_RUN.value, Outcome.FAILED.value):
            self.cooldown[sig] = now + REPORT_COOLDOWN_S
        self.detector.forget()
        return traj

    def run(
        self,
        until_s: float,
        max_incidents: int | None = None,
        on_incident: Callable[[Trajectory], None] | None = None,
    ) -> list[Trajectory]:
        """Tick every ``poll_interval_s`` of cluster time until ``until_s`` (cluster seconds)."""
        out: list[Trajectory] = []
        while self.now_s() < until_s:
            traj = self.tick()
            if traj is not None:
                out.append(traj)
                if on_incident is not None:
                    on_incident(traj)
                if max_incidents is not None and len(out) >= max_incidents:
                    break
            self.cluster.wait(self.settings.poll_interval_s)
        return out

    # ---------------------------------------------------------------------------- incident
    def handle(
        self, incident: Incident, obs: Observation, report: MonitorReport, onset: float
    ) -> Trajectory:
        """Steps 3 to 8 for one incident."""
        detected = seconds_of(obs.time)
        topo = Topology.build(obs)
        hyps, _ = rank_root_causes(topo, self.tracker, incident, onset)
        notes: list[str] = []
        proposals: list[Proposal] = []
        votes: list[VoteRecord] = []
        validations: list[Validation] = []
        executions: list[Execution] = []
        outcome = Outcome.REPORTED
        resolved_at: float | None = None
        used_items: list[str] = []
        if not hyps or hyps[0].confidence < self.settings.min_confidence:
            notes.append(
                "no root cause with enough confidence: reported, no action"
                if hyps
                else "no root cause found: reported, no action"
            )
        else:
            proposer = Proposer(topo, self.tracker, self.settings)
            proposals = proposer.propose(hyps)
            recalled, priors = self.experience.recall(incident.signature)
            used_items = [r.item.id for r in recalled]

            def memory_of(p: Proposal) -> float | None:
                tag = action_tag(action_to_dict(p.action)["type"], hyps[p.hypothesis].kind)
                return priors.get(tag)

            proposals.sort(
                key=lambda p: (
                    p.hypothesis,
                    -(p.prior + MEMORY_WEIGHT * (memory_of(p) or 0.0) - 0.2 * p.risk),
                )
            )
            if not proposals:
                notes.append(
                    f"no remediation template fits {hyps[0].kind} on {hyps[0].ref}: reported"
                )
            baseline = {problem_key(p) for p in find_problems(obs)}
            scope = {h.namespace for h in hyps if h.namespace} | {
                s.namespace for s in incident.signals if s.namespace
            }
            attempts = 0
            for i, p in enumerate(proposals):
                if attempts >= self.settings.max_attempts:
                    notes.append(f"stopped after {attempts} attempts: escalate to a person")
                    break
                h = hyps[p.hypothesis]
                ctx = PolicyContext(
                    self.cluster, obs, self.settings, self.k8s, p.risk, p.blast_radius_pods
                )
                vote = self.voting.vote(i, VoteContext(p, h, ctx, memory_of(p)))
                votes.append(vote)
                if not vote.approved:
                    continue
                try:
                    val = self.validator.validate(
                        incident.id,
                        {**action_to_dict(p.action), "risk": p.risk, "blast": p.blast_radius_pods},
                    )
                except RetryableError as err:
                    notes.append(f"validation did not finish: {err}")
                    break
                validations.append(val)
                if not val.committed:
                    notes.append(f"not validated: {val.reason}")
                    continue
                ex = self._execute(p.action, scope, baseline)
                executions.append(ex)
                if ex.dry_run_only:
                    outcome = Outcome.DRY_RUN
                    break
                if not ex.applied:
                    notes.append(ex.message)
                    continue
                attempts += 1
                self.voting.feedback(ex.verified)
                if ex.verified:
                    outcome = Outcome.HEALED
                    resolved_at = ex.finished_at
                    break
                outcome = Outcome.FAILED
                obs = self.cluster.observe(self.k8s.read_namespaces)
            self.validator.release(incident.id)
        traj = Trajectory(
            incident=incident,
            monitors=report.summary,
            hypotheses=hyps,
            proposals=proposals,
            votes=votes,
            validations=validations,
            executions=executions,
            outcome=outcome.value,
            detected_at_s=detected,
            resolved_at_s=resolved_at,
            attempts=sum(1 for e in executions if e.applied),
            notes=[
                *notes,
                f"monitors: {report.coverage}/{report.monitors} reported"
                + (f" (failed: {', '.join(report.failed)})" if report.failed else ""),
            ],
        )
        learned: list[str] = []
        try:
            learned = self.experience.store_trajectory(traj)
            self.experience.feedback(used_items, outcome is Outcome.HEALED)
        except (SwarmError, OSError) as err:
            notes.append(f"memory unavailable, trajectory kept in the journal and retried: {err}")
        traj = Trajectory(
            **{**{f: getattr(traj, f) for f in traj.__struct_fields__}, "learned": learned}
        )
        self._publish(traj)
        self.trajectories.append(traj)
        return traj

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
        try:
            dry = apply_with_retry(self.cluster, action, True, self.cluster.wait)
        except (PermanentError, RetryableError) as err:
            return Execution(
                action=action,
                dry_run_message=str(err),
                applied=False,
                dry_run_only=False,
                verified=False,
                rolled_back=False,
                started_at=start,
                finished_at=self.now_s(),
                message=f"dry run failed: {err}",
            )
        if self.dry_run_only:
            return Execution(
                action=action,
                dry_run_message=dry.message,
                applied=False,
                dry_run_only=True,
                verified=False,
                rolled_back=False,
                started_at=start,
                finished_at=self.now_s(),
                message="dry-run mode: validated and dry-run only",
            )
        obs = self.cluster.observe(self.k8s.read_namespaces)
        gate = check_allowlist(
            action, PolicyContext(self.cluster, obs, self.settings, self.k8s, 0.0, 0)
        )
        if not gate.ok:  # the last line of defence: never apply outside the allowlist
            return Execution(
                action=action,
                dry_run_message=dry.message,
                applied=False,
                dry_run_only=False,
                verified=False,
                rolled_back=False,
                started_at=start,
                finished_at=self.now_s(),
                message=f"refused at the gate: {gate.reason}",
            )
        undo = inverse_action(action, self.cluster)
        keys = self._touched(action)
        try:
            apply_with_retry(self.cluster, action, False, self.cluster.wait)
        except (PermanentError, RetryableError) as err:
            return Execution(
                action=action,
                dry_run_message=dry.message,
                applied=False,
                dry_run_only=False,
                verified=False,
                rolled_back=False,
                started_at=start,
                finished_at=self.now_s(),
                message=f"apply failed: {err}",
            )
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


__all__ = ["Healer", "HealerFaults", "Hypothesis", "Signal"]
