"""Step 5: several voters decide whether a proposal is safe, through the pattern-5 router.

Voters: the four deterministic policy checkers of :mod:`apps.selfheal.policy`, the
memory of past outcomes (what happened when this kind of action met this kind of
cause), an evidence checker (does the action act on the ranked root cause), and any
litellm models named in the settings. Ordinary proposals go to the router's weighted
vote; critical ones (risk above ``risk_threshold``) need a Byzantine quorum of every
voter. A policy checker's rejection is a veto: a deterministic rule is never outvoted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.k8s.actions import action_to_dict
from apps.selfheal.policy import POLICY_CHECKS, PolicyContext
from apps.selfheal.records import Ballot, Hypothesis, Proposal, VoteRecord
from apps.selfheal.settings import SelfHealSettings
from patterns.consensus_router import (
    CallableReply,
    CallableVoter,
    ConsensusRouter,
    LabelSchema,
    Mode,
    Question,
    RouterSettings,
    VoterPool,
    parse_model_list,
)
from patterns.core.loopthread import AsyncRuntime

log = logging.getLogger(__name__)
VERDICT = LabelSchema(("approve", "reject"))
POLICY_VOTERS = tuple(POLICY_CHECKS)
MEMORY_VOTER = "memory-outcomes"
EVIDENCE_VOTER = "evidence"
VOTER_TIMEOUT_S = 5.0


@dataclass
class VoteContext:
    """What the callable voters read while one proposal is being voted on."""

    proposal: Proposal
    hypothesis: Hypothesis
    policy: PolicyContext
    memory_score: float | None  # -1..1 from past outcomes, None when memory knows nothing


@dataclass
class Voting:
    """A consensus router whose voters are policy checkers, memory, evidence and optional models."""

    runtime: AsyncRuntime
    settings: SelfHealSettings
    router: ConsensusRouter = field(init=False)
    context: VoteContext | None = None
    lost: set[str] = field(default_factory=set)  # a test hook: voters that fail
    reliability_file: Path | None = None  # where learned voter reliability is kept
    voters: list[str] = field(init=False)

    def __post_init__(self) -> None:
        entries: list[dict[str, Any]] = []
        callables: dict[str, Any] = {}
        for name in POLICY_VOTERS:
            entries.append(_entry(name, f"pyvoter/{name}", tier=0))
            callables[name] = CallableVoter(self._policy_voter(name), in_thread=False)
        entries.append(_entry(MEMORY_VOTER, f"pyvoter/{MEMORY_VOTER}", tier=0))
        callables[MEMORY_VOTER] = CallableVoter(self._memory_voter, in_thread=False)
        entries.append(_entry(EVIDENCE_VOTER, f"pyvoter/{EVIDENCE_VOTER}", tier=0))
        callables[EVIDENCE_VOTER] = CallableVoter(self._evidence_voter, in_thread=False)
        for model in self.settings.model_voters:
            entries.append(_entry(f"model:{model}", model, tier=1, timeout=60.0))
        pool = VoterPool(
            parse_model_list({"model_list": entries}),
            RouterSettings(num_retries=0, byzantine_f=1, voter_timeout_s=VOTER_TIMEOUT_S),
            callables,
        )
        self.router = ConsensusRouter(pool)
        self.voters = [e["model_name"] for e in entries]

    # voters -------------------------------------------------------------------------------
    def _ctx(self, name: str) -> VoteContext:
        if name in self.lost:
            raise RuntimeError(f"voter {name} is unavailable")
        if self.context is None:
            raise RuntimeError("no proposal is being voted on")
        return self.context

    def _policy_voter(self, name: str) -> Callable[[Question], CallableReply]:
        check = POLICY_CHECKS[name]

        def vote(q: Question) -> str:
            ctx = self._ctx(name)
            verdict = check(ctx.proposal.action, ctx.policy)
            return json.dumps(
                {
                    "answer": "approve" if verdict.ok else "reject",
                    "confidence": 0.9 if verdict.ok else 0.99,
                    "reason": verdict.reason,
                }
            )

        return vote  # type: ignore[return-value]

    def _memory_voter(self, q: Question) -> str | None:
        ctx = self._ctx(MEMORY_VOTER)
        score = ctx.memory_score
        if score is None or abs(score) < 0.05:
            return None  # memory knows nothing: abstain
        return json.dumps(
            {
                "answer": "approve" if score > 0 else "reject",
                "confidence": round(min(0.95, 0.55 + abs(score) / 2), 3),
                "reason": f"past outcomes of this action for this kind of cause: {score:+.2f}",
            }
        )

    def _evidence_voter(self, q: Question) -> str:
        ctx = self._ctx(EVIDENCE_VOTER)
        h, a = ctx.hypothesis, action_to_dict(ctx.proposal.action)
        on_target = a.get("name") == h.name or a.get("node") == h.name
        ok = on_target and h.confidence >= self.settings.min_confidence
        return json.dumps(
            {
                "answer": "approve" if ok else "reject",
                "confidence": round(max(0.55, min(0.95, h.confidence)), 3),
                "reason": f"acts on the ranked cause {h.ref} (confidence {h.confidence:.2f})"
                if ok
                else f"does not act on the ranked cause {h.ref} with enough confidence",
            }
        )

    # deciding -----------------------------------------------------------------------------
    def vote(self, index: int, ctx: VoteContext) -> VoteRecord:
        """Ask every voter about one proposal; return their ballots and the decision."""
        p = ctx.proposal
        critical = p.risk > self.settings.risk_threshold
        text = (
            f"A Kubernetes self-healing loop proposes `{p.action.describe()}` for the root cause "
            f"{ctx.hypothesis.ref} ({ctx.hypothesis.kind}): {p.rationale}. Evidence: "
            + "; ".join(ctx.hypothesis.evidence[:5])
            + f". Risk {p.risk:.2f}, {p.blast_radius_pods} pods affected, "
            + ("reversible" if p.reversible else "NOT reversible")
            + ". Is it safe and likely to fix the cause?"
        )
        question = Question(
            id=f"proposal-{index}",
            text=text,
            schema=VERDICT,
            critical=critical,
            payload={"action": action_to_dict(p.action)},
        )
        self.context = ctx
        try:
            decision = self.runtime.call(
                self.router.decide(
                    question,
                    mode=Mode.CRITICAL if critical else Mode.ENSEMBLE,
                    rule=None if critical else "weighted",
                )
            )
        finally:
            self.context = None
        ballots = []
        veto = []
        for v in decision.votes:
            reason = ""
            if v.raw:
                try:
                    reason = str(json.loads(v.raw).get("reason", ""))
                except (ValueError, AttributeError):
                    reason = v.raw[:200]
            reason = reason or (v.error or v.status.value)
            verdict = v.key or v.status.value
            ballots.append(
                Ballot(
                    voter=v.voter,
                    verdict=verdict,
                    confidence=float(v.confidence or 0.0),
                    reason=reason,
                )
            )
            if v.voter in POLICY_VOTERS and v.key == "reject":
                veto.append(v.voter)
        approved = decision.decided and decision.key == "approve" and not veto
        self.last_decision = decision
        return VoteRecord(
            proposal=index,
            rule=("quorum" if critical else "weighted")
            + (f" (vetoed by {', '.join(veto)})" if veto else ""),
            approved=approved,
            ballots=ballots,
            support=round(float(decision.confidence), 4),
        )

    def feedback(self, healed: bool) -> None:
        """Teach the router which voters were right about the last decision."""
        decision = getattr(self, "last_decision", None)
        if decision is not None:
            self.router.feedback(decision, "approve" if healed else "reject")
            if self.reliability_file is not None:
                self.save(self.reliability_file)

    def save(self, path: Path) -> None:
        """Write the voters' learned reliability (atomically), so the next run starts from it."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.router.learner.snapshot(), sort_keys=True))
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        """Read what :meth:`save` wrote; False when there is nothing, or it is unreadable (logged)."""
        self.reliability_file = path
        if not path.exists():
            return False
        try:
            self.router.learner.restore(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
            log.warning("ignoring unreadable voter reliability file %s: %s", path, err)
            return False
        return True


def _entry(name: str, model: str, tier: int, timeout: float = VOTER_TIMEOUT_S) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "timeout": timeout},
        "model_info": {"voter": {"tier": tier}},
    }
