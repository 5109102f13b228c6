"""Evaluation harness: every voter, every voting rule and the cascade on a labeled JSONL set."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patterns.consensus_router.consensus import ALL_RULES, QUORUM_RULE, ConsensusRouter
from patterns.consensus_router.exceptions import SchemaError
from patterns.consensus_router.model_list import VoterSpec
from patterns.consensus_router.pool import VoterPool
from patterns.consensus_router.records import Decision, Mode, Question, Vote, VoteStatus
from patterns.consensus_router.reliability import ReliabilityLearner
from patterns.consensus_router.schema import schema_from_json

CASCADE_ARM = "cascade"
CRITICAL_ARM = "critical"


class ReplaySource:
    """The pool's voters answering from votes already recorded for the current question.

    Lets the evaluation run the cascade over the votes the full ensemble got, without
    asking deterministic voters (temperature 0) the same question twice.
    """

    def __init__(self, pool: VoterPool) -> None:
        self.pool = pool
        self.settings = pool.settings
        self.recorded: dict[str, Vote] = {}

    @property
    def voters(self) -> tuple[VoterSpec, ...]:
        return self.pool.voters

    def spec(self, name: str) -> VoterSpec:
        return self.pool.spec(name)

    def tiers(self, names: Sequence[str] | None = None) -> list[tuple[str, ...]]:
        return self.pool.tiers(names)

    async def ask_many(
        self, names: Sequence[str], question: Question, deadline: float | None = None
    ) -> tuple[Vote, ...]:
        return tuple(self.recorded[n] for n in names)


@dataclass(frozen=True, slots=True)
class LabeledItem:
    """A question with its gold answer (canonical key)."""

    question: Question
    gold: str


def parse_labeled(rows: Iterable[dict[str, Any]]) -> list[LabeledItem]:
    """Labeled items from parsed JSONL rows.

    Raises:
        SchemaError: a row lacks a field, has a bad schema, or a gold answer outside it.
    """
    items = []
    for i, row in enumerate(rows):
        try:
            schema = schema_from_json(row["schema"])
            question = Question(
                id=str(row.get("id", i)),
                text=str(row["question"]),
                schema=schema,
                critical=bool(row.get("critical", False)),
                payload=dict(row.get("payload") or {}),
            )
            gold = schema.encode(row["gold"])
        except (KeyError, TypeError, ValueError, SchemaError) as err:
            raise SchemaError(f"labeled row {i}: {type(err).__name__}: {err}") from err
        items.append(LabeledItem(question, gold))
    return items


def load_labeled(path: str | Path) -> list[LabeledItem]:
    """Labeled items from a JSONL file (blank lines skipped).

    Raises:
        SchemaError: a line is not JSON or not a valid labeled row.
    """
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise SchemaError(f"{path}:{n}: not JSON: {err}") from err
    return parse_labeled(rows)


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(slots=True)
class ArmStats:
    """Running figures of one arm: a single voter, a rule over the ensemble, or the cascade."""

    name: str
    kind: str
    questions: int = 0
    correct: int = 0
    wrong: int = 0
    no_answer: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    escalated: int = 0
    latencies_s: list[float] = field(default_factory=list)
    abstentions: dict[str, int] = field(default_factory=dict)

    def add(
        self, key: str | None, gold: str, cost_usd: float, latency_s: float, calls: int
    ) -> None:
        """Record one question's answer (None: abstained or no decision)."""
        self.questions += 1
        if key is None:
            self.no_answer += 1
        elif key == gold:
            self.correct += 1
        else:
            self.wrong += 1
        self.cost_usd += cost_usd
        self.latencies_s.append(latency_s)
        self.calls += calls

    @property
    def accuracy(self) -> float:
        """Correct answers over all questions (no answer counts as wrong)."""
        return self.correct / self.questions if self.questions else 0.0

    @property
    def error(self) -> float:
        """1 - accuracy."""
        return 1.0 - self.accuracy

    def row(self) -> dict[str, Any]:
        """The arm as one table row."""
        n = max(1, self.questions)
        decided = self.correct + self.wrong
        return {
            "arm": self.name,
            "kind": self.kind,
            "questions": self.questions,
            "accuracy": round(self.accuracy, 4),
            "error": round(self.error, 4),
            "selective_accuracy": round(self.correct / decided, 4) if decided else None,
            "no_answer": self.no_answer,
            **{f"abstain_{k}": v for k, v in sorted(self.abstentions.items())},
            "cost_usd": self.cost_usd,
            "cost_usd_per_q": self.cost_usd / n,
            "calls_per_q": round(self.calls / n, 3),
            "escalation_rate": round(self.escalated / n, 4) if self.kind == "cascade" else None,
            "latency_ms_p50": round(_quantile(self.latencies_s, 0.5) * 1000, 2),
            "latency_ms_p95": round(_quantile(self.latencies_s, 0.95) * 1000, 2),
        }


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """All arms side by side, with the headline comparisons.

    Attributes:
        dataset: name of the labeled set.
        questions: questions evaluated (critical ones included).
        critical: critical questions among them.
        rows: one row per arm (voters, rules, cascade, critical).
        overhead_ms: per question, ensemble decision wall time minus its slowest vote.
        default_rule: the rule "always asking the full ensemble" decides with.
    """

    dataset: str
    questions: int
    critical: int
    rows: tuple[dict[str, Any], ...]
    overhead_ms: tuple[float, ...]
    default_rule: str

    def arm(self, name: str) -> dict[str, Any]:
        """The row of arm ``name``.

        Raises:
            KeyError: no such arm.
        """
        for row in self.rows:
            if row["arm"] == name:
                return row
        raise KeyError(name)

    def _kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] == kind]

    @property
    def best_single(self) -> dict[str, Any]:
        """The single voter with the lowest error."""
        return min(self._kind("voter"), key=lambda r: r["error"])

    @property
    def best_vote(self) -> dict[str, Any]:
        """The voting rule (over the full ensemble) with the lowest error."""
        return min(self._kind("rule"), key=lambda r: r["error"])

    def headline(self) -> dict[str, float]:
        """The comparisons the benchmark reports (cost ratio and drop on non-critical questions)."""
        single = self.best_single["error"]
        vote = self.best_vote["error"]
        out = {
            "best_single_error": single,
            "best_vote_error": vote,
            # Both zero: the vote is exactly as good as the best voter (ratio 1).
            "vote_error_ratio": vote / single if single > 0 else (1.0 if vote == 0 else math.inf),
            "overhead_ms": _quantile(self.overhead_ms, 0.5),
            "overhead_ms_p95": _quantile(self.overhead_ms, 0.95),
        }
        try:
            cascade = self.arm(CASCADE_ARM)
            full = self.arm(f"{self.default_rule}/noncritical")
        except KeyError:
            return out
        best_full = max(
            (r for r in self.rows if r["arm"].endswith("/noncritical")), key=lambda r: r["accuracy"]
        )
        cost = cascade["cost_usd"]
        out["cascade_cost_ratio"] = full["cost_usd"] / cost if cost > 0 else math.inf
        out["cascade_accuracy_drop_pts"] = 100.0 * (full["accuracy"] - cascade["accuracy"])
        out["cascade_accuracy_drop_vs_best_rule_pts"] = 100.0 * (
            best_full["accuracy"] - cascade["accuracy"]
        )
        out["cascade_escalation_rate"] = float(cascade["escalation_rate"] or 0.0)
        return out

    def markdown(self) -> str:
        """The side-by-side table as Markdown."""
        cols = [
            "arm",
            "kind",
            "accuracy",
            "no_answer",
            "cost_usd_per_q",
            "calls_per_q",
            "latency_ms_p50",
            "latency_ms_p95",
        ]
        lines = [
            f"## {self.dataset}: {self.questions} questions ({self.critical} critical)",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for row in self.rows:
            cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        head = self.headline()
        lines += ["", ", ".join(f"{k}={v:.4g}" for k, v in head.items())]
        return "\n".join(lines) + "\n"


async def evaluate(
    pool: VoterPool,
    items: Sequence[LabeledItem],
    dataset: str = "dataset",
    rules: Sequence[str] = ALL_RULES,
    cascade: bool = True,
    learn: bool = True,
    replay_cascade: bool = False,
) -> EvaluationReport:
    """Run every voter, rule and the cascade on ``items``.

    A labeled row is one JSON object per line::

        {"id": "s001", "question": "...", "schema": {"type": "label", "labels": ["a", "b"]},
         "gold": "a", "critical": false, "payload": {...}}

    Questions are answered one after the other, prequentially: each decision is made
    with the reliabilities learned from the questions before it, then the gold label
    is fed back. The full ensemble is asked once per question and every rule tallies
    those same votes; the cascade is run for real, with its own learner fed only the
    votes it asked for. A question without a decision counts as an error.

    Args:
        pool: the voters.
        items: labeled questions, answered in order.
        dataset: a name for the report.
        rules: rules to tally over the full ensemble (``quorum`` is skipped when the
            pool has fewer than ``3f+1`` voters).
        cascade: also run the cascade (CRITICAL mode for critical questions).
        learn: feed gold labels back to the reliability learners after each question.
        replay_cascade: run the cascade over the ensemble's recorded votes instead of
            asking again (for deterministic, slow voters); its latency is then the sum
            of each stage's slowest recorded vote.

    Returns:
        The report.
    """
    settings = pool.settings
    names = [v.name for v in pool.voters]
    ensemble = ConsensusRouter(pool, ReliabilityLearner.from_settings(settings))
    replay = ReplaySource(pool)
    cascaded = ConsensusRouter(
        replay if replay_cascade else pool, ReliabilityLearner.from_settings(settings)
    )
    use_rules = [r for r in rules if r != QUORUM_RULE or len(names) >= 3 * settings.byzantine_f + 1]
    voters = {n: ArmStats(n, "voter") for n in names}
    rule_arms = {r: ArmStats(r, "rule") for r in use_rules}
    noncritical = {r: ArmStats(f"{r}/noncritical", "rule-noncritical") for r in use_rules}
    cascade_arm = ArmStats(CASCADE_ARM, "cascade")
    critical_arm = ArmStats(CRITICAL_ARM, "critical")
    overhead_ms: list[float] = []
    for item in items:
        q, gold = item.question, item.gold
        full: Decision = await ensemble.decide(q, mode=Mode.ENSEMBLE)
        overhead_ms.append(full.overhead_s * 1000)
        for vote in full.votes:
            arm = voters[vote.voter]
            arm.add(vote.key, gold, vote.cost_usd, vote.latency_s, 1)
            if vote.status is not VoteStatus.ANSWERED:
                arm.abstentions[vote.status.value] = arm.abstentions.get(vote.status.value, 0) + 1
        for rule in use_rules:
            tally = ensemble.tally(q, full.votes, rule)
            targets = [rule_arms[rule]] + ([] if q.critical else [noncritical[rule]])
            for arm in targets:
                arm.add(tally.key, gold, full.cost_usd, full.wall_s, len(full.votes))
        if cascade:
            replay.recorded = {v.voter: v for v in full.votes}
            decision = await cascaded.decide(q)
            arm = critical_arm if q.critical else cascade_arm
            latency = (
                sum(
                    max(v.latency_s for v in decision.votes if v.voter in s.voters)
                    for s in decision.stages
                )
                if replay_cascade
                else decision.wall_s
            )
            arm.add(decision.key, gold, decision.cost_usd, latency, len(decision.votes))
            arm.escalated += int(decision.escalated)
            if learn:
                cascaded.feedback(decision, gold)
        if learn:
            ensemble.feedback(full, gold)
    arms: list[ArmStats] = [*voters.values(), *rule_arms.values(), *noncritical.values()]
    if cascade:
        arms.append(cascade_arm)
        if critical_arm.questions:
            arms.append(critical_arm)
    return EvaluationReport(
        dataset=dataset,
        questions=len(items),
        critical=sum(i.question.critical for i in items),
        rows=tuple(a.row() for a in arms),
        overhead_ms=tuple(overhead_ms),
        default_rule=settings.default_rule,
    )


def summarize(reports: Iterable[EvaluationReport]) -> str:
    """Several reports as one Markdown document."""
    return "\n".join(r.markdown() for r in reports)


__all__ = [
    "ArmStats",
    "EvaluationReport",
    "LabeledItem",
    "evaluate",
    "load_labeled",
    "parse_labeled",
    "summarize",
]
