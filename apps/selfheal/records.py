"""Typed records of one pass through the loop; together they are the stored trajectory."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from apps.k8s.actions import Action, redact_record


class _Rec(msgspec.Struct, frozen=True, kw_only=True):
    pass


class HealthSummary(_Rec, frozen=True, kw_only=True):
    """What one monitor (or a merged subtree of monitors) saw."""

    scope: str
    monitors: int = 1
    pods: int = 0
    pods_not_ready: int = 0
    pods_pending: int = 0
    pods_waiting_bad: int = 0
    restarts_recent: int = 0
    oom_kills: int = 0
    cpu_over_limit_ratio_max: float = 0.0
    memory_over_limit_ratio_max: float = 0.0
    error_rate_max: float = 0.0
    latency_p99_max_ms: float = 0.0
    nodes: int = 0
    nodes_not_ready: int = 0
    problems: int = 0


class Signal(_Rec, frozen=True, kw_only=True):
    """One anomaly: a rule's problem or a metric's robust z-score, on one object."""

    source: str  # "rule", "event", "stat"
    kind: str  # a ProblemKind, an event reason or "<metric>Anomaly"
    object_kind: str
    namespace: str
    name: str
    detail: str
    score: float = 1.0


class Incident(_Rec, frozen=True, kw_only=True):
    """Step 2: problems that persisted, grouped by namespace, with what memory recalls."""

    id: str
    detected_at: str
    namespace: str
    signals: list[Signal]
    signature: str
    recalled: list[str] = []
    recall_confidence: float = 0.0
    onset_s: float = 0.0


class Hypothesis(_Rec, frozen=True, kw_only=True):
    """Step 3: a candidate root cause with its kind, score and evidence."""

    kind: str  # HypothesisKind value
    object_kind: str
    namespace: str
    name: str
    score: float
    confidence: float
    evidence: list[str]
    changed_at: float | None = None

    @property
    def ref(self) -> str:
        """``Kind namespace/name``."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.object_kind} {where}"


class Proposal(_Rec, frozen=True, kw_only=True):
    """Step 4: one typed action for one hypothesis, with its risk and where it came from."""

    action: Action
    hypothesis: int
    source: str  # "template", "memory", "model"
    rationale: str
    risk: float
    blast_radius_pods: int
    reversible: bool
    prior: float = 0.5


class VoteVerdict(StrEnum):
    """A voter's answer about one proposal."""

    APPROVE = "approve"
    REJECT = "reject"


class Ballot(_Rec, frozen=True, kw_only=True):
    """One voter's answer."""

    voter: str
    verdict: str
    confidence: float
    reason: str


class VoteRecord(_Rec, frozen=True, kw_only=True):
    """Step 5: the votes on one proposal and the decision of the voting rule."""

    proposal: int
    rule: str
    approved: bool
    ballots: list[Ballot]
    support: float


class Validation(_Rec, frozen=True, kw_only=True):
    """Step 6: the PBFT commit of the action (or why it was refused)."""

    committed: bool
    digest: str
    sequence: int
    view: int
    replicas: int
    signers: list[int]
    accepts: int
    rejects: int
    lease_holder: str
    reason: str = ""


class Execution(_Rec, frozen=True, kw_only=True):
    """Step 7: dry run, apply, verification and rollback of one action."""

    action: Action
    dry_run_message: str
    applied: bool
    dry_run_only: bool
    verified: bool
    rolled_back: bool
    started_at: float
    finished_at: float
    message: str
    problems_after: list[str] = []


class Outcome(StrEnum):
    """How an incident ended."""

    HEALED = "healed"
    REPORTED = "reported"  # low confidence or nothing safe to do: a person is told
    FAILED = "failed"  # every attempt was tried and rolled back
    DRY_RUN = "dry-run"  # the action was validated and dry-run only


class Trajectory(_Rec, frozen=True, kw_only=True):
    """Everything the loop saw and did for one incident (step 8 stores it)."""

    incident: Incident
    monitors: HealthSummary
    hypotheses: list[Hypothesis]
    proposals: list[Proposal]
    votes: list[VoteRecord]
    validations: list[Validation]
    executions: list[Execution]
    outcome: str
    detected_at_s: float
    resolved_at_s: float | None
    attempts: int
    learned: list[str] = []
    notes: list[str] = []

    @property
    def time_to_recover_s(self) -> float | None:
        """Seconds from detection to a verified fix."""
        if self.resolved_at_s is None:
            return None
        return self.resolved_at_s - self.detected_at_s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with Secret values redacted (a stored record never holds them)."""
        out: dict[str, Any] = redact_record(msgspec.to_builtins(self))
        return out
