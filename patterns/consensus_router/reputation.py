"""Quarantine of voters whose agreement with the decisions falls below what they showed.

A Byzantine voter that was reliable while it was being measured and lies afterwards
keeps its learned reliability: every weighted rule goes on trusting it. Gold labels are
not available at decision time, but the decisions are: an honest voter agrees with the
router's decisions about as often as it did on the labelled split, a lying one far less.
:class:`AgreementMonitor` keeps, per voter, how often its answer matched the decision
over the questions decided so far, and quarantines a voter once that count is
improbably low under its expected agreement (one-sided binomial tail below ``alpha``),
so the router decides without it from then on.

It needs no labels and no second opinion, and costs nothing per call; what it cannot do
is catch a voter that lies rarely (it then also does little harm) or on the first
questions before the evidence accumulates (``min_questions``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from patterns.consensus_router.records import Vote

DEFAULT_ALPHA = 1e-3
DEFAULT_MIN_QUESTIONS = 5


def binomial_lower_tail(successes: int, trials: int, p: float) -> float:
    """P(X <= ``successes``) for X ~ Binomial(``trials``, ``p``), summed in log space.

    Raises:
        ValueError: counts out of range or ``p`` outside [0, 1].
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0) or not 0.0 <= p <= 1.0:
        raise ValueError(
            f"need 0 <= successes <= trials and 0 <= p <= 1: {successes}, {trials}, {p}"
        )
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if successes >= trials else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(trials + 1)
        - math.lgamma(k + 1)
        - math.lgamma(trials - k + 1)
        + k * log_p
        + (trials - k) * log_q
        for k in range(successes + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(slots=True)
class AgreementCounts:
    """Questions a voter answered since monitoring began, and how many matched the decision."""

    answered: int = 0
    agreed: int = 0


class AgreementMonitor:
    """Per-voter agreement with the decisions, against the agreement expected of it.

    ``expected`` maps a voter to the share of labelled (training) questions on which
    its answer matched the decision rule's answer; a voter without an expectation is
    monitored against ``default_expected``. Feed every decided question to
    :meth:`observe`; :meth:`quarantined` names the voters to leave out of the next
    decision. A quarantined voter stays out (a lie once established is not forgotten),
    and the others' counts start again: the decisions they disagreed with were taken
    with the liar's vote in them.
    """

    def __init__(
        self,
        expected: Mapping[str, float],
        alpha: float = DEFAULT_ALPHA,
        min_questions: int = DEFAULT_MIN_QUESTIONS,
        default_expected: float = 0.5,
    ) -> None:
        """Args:
        expected: voter -> expected share of agreement with the decisions, in [0, 1].
        alpha: a voter is quarantined when its agreement count is this improbable.
        min_questions: answered questions a voter needs before it can be quarantined.
        default_expected: expectation of a voter missing from ``expected``.

        Raises:
            ValueError: an expectation outside [0, 1], or alpha outside (0, 1).
        """
        bad = {k: v for k, v in expected.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"expected agreement must be in [0, 1]: {bad}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.expected = dict(expected)
        self.alpha = alpha
        self.min_questions = max(1, min_questions)
        self.default_expected = default_expected
        self.counts: dict[str, AgreementCounts] = {}
        self._quarantined: dict[str, int] = {}  # voter -> questions observed when caught
        self.observed = 0

    def observe(self, votes: Iterable[Vote], decided: str | None) -> list[str]:
        """Count each answered vote's agreement with ``decided`` (nothing when no
        decision); return the voters newly quarantined by this question."""
        if decided is None:
            return []
        self.observed += 1
        caught = []
        for vote in votes:
            if not vote.answered or vote.voter in self._quarantined:
                continue
            counts = self.counts.setdefault(vote.voter, AgreementCounts())
            counts.answered += 1
            counts.agreed += int(vote.key == decided)
            if counts.answered < self.min_questions:
                continue
            p = self.expected.get(vote.voter, self.default_expected)
            if binomial_lower_tail(counts.agreed, counts.answered, p) < self.alpha:
                self._quarantined[vote.voter] = self.observed
                caught.append(vote.voter)
        if caught:
            # The decisions so far were taken with the caught voters: disagreeing with
            # them is no evidence against the others, whose counts start again.
            self.counts = {v: c for v, c in self.counts.items() if v in self._quarantined}
        return caught

    def quarantined(self) -> frozenset[str]:
        """The voters to leave out of the next decision."""
        return frozenset(self._quarantined)

    def caught_after(self, voter: str) -> int | None:
        """How many decided questions had been observed when ``voter`` was quarantined."""
        return self._quarantined.get(voter)

    def active(self, votes: Iterable[Vote]) -> list[Vote]:
        """``votes`` without those of quarantined voters."""
        return [v for v in votes if v.voter not in self._quarantined]


__all__ = ["AgreementCounts", "AgreementMonitor", "binomial_lower_tail"]
