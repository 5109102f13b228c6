"""Online reliability of voters: a Beta posterior per (voter, self-reported confidence bin)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from patterns.consensus_router.records import Vote
from patterns.consensus_router.settings import RouterSettings

NO_CONFIDENCE_BIN = -1  # the bin of votes that report no confidence


@dataclass(slots=True)
class BetaCounts:
    """Beta(alpha, beta) over the probability that a vote is right."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """Posterior mean accuracy."""
        return self.alpha / (self.alpha + self.beta)


class ReliabilityLearner:
    """Accuracy of each voter learned online from feedback (right or wrong against gold).

    A vote's reliability is the posterior mean of a Beta distribution kept per voter
    and per bin of the confidence the voter reported with the vote, so a voter that
    reports calibrated probabilities (a classifier's ``predict_proba``, an LLM's token
    probability) is trusted per question and one that does not is trusted per voter.
    The prior of a bin is centred on the bin's midpoint (on ``prior_mean`` for votes
    without a confidence) with ``prior_strength`` pseudo-observations: a voter starts
    out believed, and feedback corrects it. With ``forgetting`` < 1, past evidence
    decays geometrically per update so the estimate follows a drifting voter.
    """

    def __init__(
        self,
        prior_mean: float = 0.7,
        prior_strength: float = 2.0,
        bins: tuple[float, ...] = (0.5, 0.7, 0.85, 0.95, 0.99),
        forgetting: float = 1.0,
    ) -> None:
        """Args:
        prior_mean: prior accuracy of votes that report no confidence.
        prior_strength: pseudo-observations of each prior.
        bins: increasing edges in (0, 1) of the confidence bins.
        forgetting: factor in (0, 1] applied to past evidence at each update.
        """
        self.prior_mean = prior_mean
        self.prior_strength = prior_strength
        self.bins = bins
        self.forgetting = forgetting
        edges = (0.0, *bins, 1.0)
        self._bin_means = [(lo + hi) / 2 for lo, hi in itertools.pairwise(edges)]
        self._counts: dict[tuple[str, int], BetaCounts] = {}

    @classmethod
    def from_settings(cls, settings: RouterSettings) -> ReliabilityLearner:
        """A learner with the priors, bins and forgetting of ``settings``."""
        return cls(
            prior_mean=settings.reliability_prior_mean,
            prior_strength=settings.reliability_prior_strength,
            bins=settings.confidence_bins,
            forgetting=settings.reliability_forgetting,
        )

    def bin_of(self, confidence: float | None) -> int:
        """The bin of a self-reported confidence (``NO_CONFIDENCE_BIN`` for None)."""
        if confidence is None:
            return NO_CONFIDENCE_BIN
        return bisect.bisect_right(self.bins, confidence)

    def _prior(self, bin_index: int) -> BetaCounts:
        mean = self.prior_mean if bin_index == NO_CONFIDENCE_BIN else self._bin_means[bin_index]
        return BetaCounts(mean * self.prior_strength, (1.0 - mean) * self.prior_strength)

    def _get(self, voter: str, bin_index: int) -> BetaCounts:
        counts = self._counts.get((voter, bin_index))
        return counts if counts is not None else self._prior(bin_index)

    def accuracy(self, voter: str, confidence: float | None = None) -> float:
        """Posterior mean probability that ``voter`` is right when it reports ``confidence``."""
        return self._get(voter, self.bin_of(confidence)).mean

    def vote_accuracy(self, vote: Vote) -> float:
        """:meth:`accuracy` of one vote."""
        return self.accuracy(vote.voter, vote.confidence)

    def counts(self, voter: str, confidence: float | None = None) -> BetaCounts:
        """The Beta parameters behind :meth:`accuracy` (a copy)."""
        counts = self._get(voter, self.bin_of(confidence))
        return BetaCounts(counts.alpha, counts.beta)

    def observe(self, voter: str, confidence: float | None, correct: bool) -> None:
        """Record one vote of ``voter`` (with its ``confidence``) as right or wrong."""
        bin_index = self.bin_of(confidence)
        prior = self._prior(bin_index)
        old = self._get(voter, bin_index)
        keep = self.forgetting
        self._counts[(voter, bin_index)] = BetaCounts(
            prior.alpha + keep * (old.alpha - prior.alpha) + (1.0 if correct else 0.0),
            prior.beta + keep * (old.beta - prior.beta) + (0.0 if correct else 1.0),
        )

    def observe_votes(self, votes: Iterable[Vote], gold_key: str) -> int:
        """Record every answered vote against the gold answer; abstentions teach nothing.

        Returns:
            The number of votes recorded.
        """
        seen = 0
        for vote in votes:
            if vote.answered:
                self.observe(vote.voter, vote.confidence, vote.key == gold_key)
                seen += 1
        return seen

    def snapshot(self) -> dict[str, dict[str, list[float]]]:
        """Learned counts as plain data: ``{voter: {bin: [alpha, beta]}}`` (bin -1: none)."""
        out: dict[str, dict[str, list[float]]] = {}
        for (voter, bin_index), c in sorted(self._counts.items()):
            out.setdefault(voter, {})[str(bin_index)] = [c.alpha, c.beta]
        return out

    def restore(self, snapshot: Mapping[str, Mapping[str, list[float]]]) -> None:
        """Load counts written by :meth:`snapshot` (same bins), replacing what is known."""
        self._counts = {
            (voter, int(b)): BetaCounts(float(ab[0]), float(ab[1]))
            for voter, bins in snapshot.items()
            for b, ab in bins.items()
        }
