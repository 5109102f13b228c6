"""Questions, votes, tallies and decisions: the records the consensus router passes around."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from patterns.consensus_router.schema import AnswerSchema

RAW_REPLY_CHARS = 500  # a vote keeps at most this much of the reply text


class VoteStatus(StrEnum):
    """What came back from one voter call."""

    ANSWERED = "answered"  # the reply parsed against the answer schema
    ABSTAINED = "abstained"  # an empty reply: the voter declined to answer
    MALFORMED = "malformed"  # a reply that does not parse: an abstention
    TIMED_OUT = "timed_out"  # cut at the voter's deadline: an abstention
    FAILED = "failed"  # an error after the router's retries and fallbacks: an abstention


class Outcome(StrEnum):
    """Whether a rule or a decision acts."""

    DECIDED = "decided"
    NO_DECISION = "no_decision"


class Mode(StrEnum):
    """How a decision asked its voters."""

    CASCADE = "cascade"  # cheapest first, escalating on low confidence or disagreement
    ENSEMBLE = "ensemble"  # every voter at once, the default rule
    CRITICAL = "critical"  # every voter at once, Byzantine quorum


@dataclass(frozen=True, slots=True)
class Question:
    """One question put to the voters.

    Attributes:
        id: identifier, unique within a run.
        text: the question as a model reads it.
        schema: what a reply must parse into.
        critical: critical questions go to the full ensemble under a Byzantine quorum.
        payload: structured input for Python-callable voters (features, ids); never sent
            to a model unless the prompt template names it.
    """

    id: str
    text: str
    schema: AnswerSchema
    critical: bool = False
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Vote:
    """One voter's reply to one question, with what it cost.

    Attributes:
        voter: the voter (a model_name of the model list).
        status: answered, or why it abstained.
        key: canonical answer (what votes compare), None for an abstention.
        value: the parsed answer (a label or a validated object), None for an abstention.
        confidence: the voter's self-reported confidence in [0, 1], if any.
        raw: the start of the reply text, if a reply came.
        latency_s: wall time of the call as the consensus router saw it, seconds.
        cost_usd: litellm's cost of the call (per-token prices from the model list).
        prompt_tokens: prompt tokens litellm reported.
        completion_tokens: completion tokens litellm reported.
        served_by: the model group that answered (differs after a router fallback).
        error: the error type and message of a failed call.
        replied_at: ``time.perf_counter()`` when the reply, or its absence, was in.
    """

    voter: str
    status: VoteStatus
    key: str | None = None
    value: object = None
    confidence: float | None = None
    raw: str | None = None
    latency_s: float = 0.0
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    served_by: str | None = None
    error: str | None = None
    replied_at: float = 0.0

    @property
    def answered(self) -> bool:
        """True when the reply parsed."""
        return self.status is VoteStatus.ANSWERED

    def to_row(self) -> dict[str, Any]:
        """A flat row for tables and artifacts."""
        return {
            "voter": self.voter,
            "status": self.status.value,
            "answer": self.key,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "latency_ms": round(self.latency_s * 1000, 2),
            "cost_usd": self.cost_usd,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "served_by": self.served_by,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Tally:
    """A voting rule's verdict over a set of votes.

    Attributes:
        rule: name of the rule.
        outcome: DECIDED, or NO_DECISION with ``reason``.
        key: the winning canonical answer, None without a decision.
        confidence: the rule's confidence in ``key`` (vote share, or posterior).
        support: votes or weights per answer.
        answered: votes that parsed.
        abstained: votes that did not (malformed, timed out, failed).
        reason: why there is no decision, or how the decision was reached.
    """

    rule: str
    outcome: Outcome
    key: str | None
    confidence: float
    support: Mapping[str, float]
    answered: int
    abstained: int
    reason: str

    @property
    def decided(self) -> bool:
        """True when the rule acts."""
        return self.outcome is Outcome.DECIDED


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One round of a decision: the voters asked together and the tally after it.

    ``slowest_vote_s`` runs from the stage's start until its last vote was in.
    """

    index: int
    voters: tuple[str, ...]
    tally: Tally
    wall_s: float
    slowest_vote_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The consensus router's answer to a question, with every vote behind it.

    Attributes:
        question_id: the question answered.
        mode: cascade, ensemble or critical.
        outcome: DECIDED, or NO_DECISION (a tie, no quorum, too little confidence).
        key: canonical answer, None without a decision.
        value: the parsed answer (a label or an object), None without a decision.
        confidence: the deciding rule's confidence.
        rule: the deciding rule.
        reason: how the decision was reached, or why there is none.
        votes: every vote cast, across stages.
        stages: the rounds of voters asked.
        cost_usd: litellm's cost of all calls.
        wall_s: wall time of the decision, seconds.
        overhead_s: ``wall_s`` minus each stage's wait for its slowest vote: the time the
            consensus router adds beyond its voters.
    """

    question_id: str
    mode: Mode
    outcome: Outcome
    key: str | None
    value: object
    confidence: float
    rule: str
    reason: str
    votes: tuple[Vote, ...]
    stages: tuple[StageRecord, ...]
    cost_usd: float
    wall_s: float
    overhead_s: float

    @property
    def decided(self) -> bool:
        """True when the router acts on ``key``."""
        return self.outcome is Outcome.DECIDED

    @property
    def escalated(self) -> bool:
        """True when more than one stage was asked."""
        return len(self.stages) > 1

    def summary(self) -> dict[str, Any]:
        """A flat summary for logs, tables and artifacts (no reply texts)."""
        return {
            "question": self.question_id,
            "mode": self.mode.value,
            "outcome": self.outcome.value,
            "answer": self.key,
            "confidence": round(self.confidence, 4),
            "rule": self.rule,
            "reason": self.reason,
            "voters_asked": len(self.votes),
            "stages": len(self.stages),
            "abstentions": sum(not v.answered for v in self.votes),
            "cost_usd": self.cost_usd,
            "wall_ms": round(self.wall_s * 1000, 2),
            "overhead_ms": round(self.overhead_s * 1000, 3),
        }
