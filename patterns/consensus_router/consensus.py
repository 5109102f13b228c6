"""The consensus router: cost-aware cascade, full ensemble, and Byzantine-quorum decisions."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from patterns.consensus_router.exceptions import QuorumConfigError
from patterns.consensus_router.model_list import VoterSpec
from patterns.consensus_router.records import (
    Decision,
    Mode,
    Outcome,
    Question,
    StageRecord,
    Tally,
    Vote,
)
from patterns.consensus_router.reliability import ReliabilityLearner
from patterns.consensus_router.reputation import AgreementMonitor
from patterns.consensus_router.settings import RouterSettings, RuleName
from patterns.consensus_router.voting import (
    agreement,
    byzantine_quorum,
    majority,
    plurality,
    weighted,
)


class VoterSource(Protocol):
    """What the consensus router asks: a :class:`~patterns.consensus_router.pool.VoterPool`,
    or a replay of recorded votes in the evaluation harness."""

    settings: RouterSettings

    @property
    def voters(self) -> tuple[VoterSpec, ...]:
        """Every voter."""
        ...

    def spec(self, name: str) -> VoterSpec:
        """The voter ``name`` (raises UnknownVoterError)."""
        ...

    def tiers(self, names: Sequence[str] | None = None) -> list[tuple[str, ...]]:
        """Voters grouped into cascade stages, cheapest first."""
        ...

    async def ask_many(
        self, names: Sequence[str], question: Question, deadline: float | None = None
    ) -> tuple[Vote, ...]:
        """Votes of ``names`` on ``question``, in order."""
        ...


QUORUM_RULE = "quorum"
ALL_RULES: tuple[str, ...] = ("plurality", "majority", "weighted", QUORUM_RULE)


class ConsensusRouter:
    """Decides questions by votes of the pool's voters.

    * ``CASCADE`` (non-critical questions): ask the cheapest tier first; stop when
      the reliability-weighted posterior of the leading answer reaches
      ``cascade_confidence`` and the answered votes agree (``cascade_min_agreement``);
      otherwise escalate to the next tier. The last tier's tally uses the default rule.
    * ``ENSEMBLE``: every voter at once, the default rule.
    * ``CRITICAL`` (``question.critical``): every voter at once, Byzantine quorum with
      ``byzantine_f``; without quorum there is no decision.

    Ties, missing majorities or quorums, and too little confidence give
    ``NO_DECISION`` with every vote, never a guess.

    With a ``monitor`` (:class:`~patterns.consensus_router.reputation.AgreementMonitor`),
    every decision is fed to it and a voter it quarantines (one whose agreement with the
    decisions fell improbably below what it showed on labelled questions) is no longer
    asked, in any mode; a CRITICAL question then needs ``3f+1`` voters besides it.
    """

    def __init__(
        self,
        pool: VoterSource,
        learner: ReliabilityLearner | None = None,
        monitor: AgreementMonitor | None = None,
    ) -> None:
        """Args:
        pool: the voters.
        learner: voter reliabilities; a fresh one from the pool's settings by default.
        monitor: quarantine of voters that stop agreeing with the decisions (off by default).
        """
        self.pool = pool
        self.settings = pool.settings
        self.learner = learner or ReliabilityLearner.from_settings(self.settings)
        self.monitor = monitor

    def tally(self, question: Question, votes: Sequence[Vote], rule: str) -> Tally:
        """Apply ``rule`` (plurality, majority, weighted, quorum) to ``votes``.

        Raises:
            QuorumConfigError: ``quorum`` with fewer than ``3f+1`` votes.
            ValueError: an unknown rule.
        """
        if rule == "plurality":
            return plurality(votes)
        if rule == "majority":
            return majority(votes)
        if rule == "weighted":
            distinct = len({v.key for v in votes if v.answered})
            return weighted(
                votes,
                self.learner.vote_accuracy,
                question.schema.answer_space(distinct),
                self.settings.min_decision_confidence,
                question.schema.candidates(),
            )
        if rule == QUORUM_RULE:
            return byzantine_quorum(votes, self.settings.byzantine_f)
        raise ValueError(f"unknown voting rule {rule!r}; known: {ALL_RULES}")

    async def decide(
        self,
        question: Question,
        mode: Mode | None = None,
        voters: Sequence[str] | None = None,
        rule: RuleName | None = None,
    ) -> Decision:
        """Decide ``question``.

        Args:
            question: the question; ``critical`` selects CRITICAL mode by default.
            mode: override the mode (CASCADE for non-critical questions by default).
            voters: restrict to these voters (default: the whole pool).
            rule: the final rule of CASCADE and ENSEMBLE (default: ``settings.default_rule``).

        Returns:
            The decision with its votes, stages, cost, wall time and overhead.

        Raises:
            QuorumConfigError: CRITICAL mode with fewer than ``3f+1`` voters.
        """
        names = list(voters) if voters is not None else [v.name for v in self.pool.voters]
        for name in names:
            self.pool.spec(name)
        if self.monitor is not None:
            out = self.monitor.quarantined()
            names = [n for n in names if n not in out]
        chosen = mode or (Mode.CRITICAL if question.critical else Mode.CASCADE)
        final_rule = rule or self.settings.default_rule
        if chosen is Mode.CRITICAL:
            if len(names) < 3 * self.settings.byzantine_f + 1:
                raise QuorumConfigError(len(names), self.settings.byzantine_f)
            stages = [tuple(names)]
            final_rule_name: str = QUORUM_RULE
        elif chosen is Mode.ENSEMBLE:
            stages = [tuple(names)]
            final_rule_name = final_rule
        else:
            stages = self.pool.tiers(names)
            final_rule_name = final_rule
        return await self._run(question, chosen, stages, final_rule_name)

    async def _run(
        self, question: Question, mode: Mode, stages: list[tuple[str, ...]], final_rule: str
    ) -> Decision:
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.decision_timeout_s
        votes: list[Vote] = []
        records: list[StageRecord] = []
        tally: Tally | None = None
        reason_prefix = ""
        for index, names in enumerate(stages):
            if time.monotonic() >= deadline:
                reason_prefix = "decision deadline reached; "
                break
            stage_started = time.perf_counter()
            stage_votes = await self.pool.ask_many(names, question, deadline)
            wall = time.perf_counter() - stage_started
            votes.extend(stage_votes)
            last = index == len(stages) - 1
            if last:
                tally = self.tally(question, votes, final_rule)
            else:
                tally = self._gate(question, votes, index)
            last_reply = max((v.replied_at for v in stage_votes), default=stage_started)
            slowest = min(wall, max(0.0, last_reply - stage_started))
            records.append(StageRecord(index, names, tally, wall, slowest))
            if last or tally.decided:
                break
        wall_s = time.perf_counter() - started
        overhead = max(0.0, wall_s - sum(r.slowest_vote_s for r in records))
        cost = sum(v.cost_usd for v in votes)
        if tally is None or (not tally.decided and reason_prefix):
            tally = Tally(
                final_rule,
                Outcome.NO_DECISION,
                None,
                0.0,
                {} if tally is None else tally.support,
                sum(v.answered for v in votes),
                sum(not v.answered for v in votes),
                "no stage ran" if tally is None else tally.reason,
            )
        value = next((v.value for v in votes if v.answered and v.key == tally.key), tally.key)
        if self.monitor is not None and tally.decided:
            self.monitor.observe(votes, tally.key)
        return Decision(
            question_id=question.id,
            mode=mode,
            outcome=tally.outcome,
            key=tally.key,
            value=value if tally.decided else None,
            confidence=tally.confidence,
            rule=tally.rule,
            reason=reason_prefix + tally.reason,
            votes=tuple(votes),
            stages=tuple(records),
            cost_usd=cost,
            wall_s=wall_s,
            overhead_s=overhead,
        )

    def _gate(self, question: Question, votes: Sequence[Vote], index: int) -> Tally:
        """A non-final cascade stage: DECIDED only when confident and in agreement."""
        distinct = len({v.key for v in votes if v.answered})
        tally = weighted(
            votes,
            self.learner.vote_accuracy,
            question.schema.answer_space(distinct),
            0.0,
            question.schema.candidates(),
        )
        if not tally.decided:
            return tally
        agree = agreement(votes, tally.key)
        if tally.confidence < self.settings.cascade_confidence:
            reason = (
                f"stage {index}: posterior {tally.confidence:.3f} below "
                f"{self.settings.cascade_confidence}; escalate"
            )
        elif agree < self.settings.cascade_min_agreement:
            reason = f"stage {index}: agreement {agree:.2f} below {self.settings.cascade_min_agreement}; escalate"
        else:
            return Tally(
                "cascade",
                Outcome.DECIDED,
                tally.key,
                tally.confidence,
                tally.support,
                tally.answered,
                tally.abstained,
                f"stage {index}: posterior {tally.confidence:.3f}, agreement {agree:.2f}",
            )
        return Tally(
            "cascade",
            Outcome.NO_DECISION,
            None,
            0.0,
            tally.support,
            tally.answered,
            tally.abstained,
            reason,
        )

    def feedback(self, votes: Iterable[Vote] | Decision, gold_key: str) -> int:
        """Teach the reliability learner which votes were right.

        Returns:
            The number of votes recorded (abstentions teach nothing).
        """
        items = votes.votes if isinstance(votes, Decision) else votes
        return self.learner.observe_votes(items, gold_key)
