"""The reliability learner: priors, Beta updates, confidence bins, forgetting, persistence."""

from __future__ import annotations

import pytest

from patterns.consensus_router import ReliabilityLearner, RouterSettings, Vote, VoteStatus
from tests.consensus_router.helpers import vote


def test_priors_follow_bins_and_default_mean() -> None:
    learner = ReliabilityLearner(prior_mean=0.7, prior_strength=2.0, bins=(0.5, 0.9))
    assert learner.accuracy("a") == pytest.approx(0.7)
    assert learner.accuracy("a", 0.2) == pytest.approx(0.25)  # bin [0, 0.5)
    assert learner.accuracy("a", 0.6) == pytest.approx(0.7)  # bin [0.5, 0.9)
    assert learner.accuracy("a", 0.95) == pytest.approx(0.95)  # bin [0.9, 1]


def test_beta_updates_are_hand_computed() -> None:
    learner = ReliabilityLearner(prior_mean=0.5, prior_strength=2.0, bins=())
    for correct in (True, True, True, False):
        learner.observe("a", None, correct)
    counts = learner.counts("a")
    assert (counts.alpha, counts.beta) == (pytest.approx(4.0), pytest.approx(2.0))
    assert learner.accuracy("a") == pytest.approx(4 / 6)
    assert learner.accuracy("b") == pytest.approx(0.5)  # other voters untouched


def test_bins_are_learned_separately() -> None:
    learner = ReliabilityLearner(prior_mean=0.7, prior_strength=2.0, bins=(0.9,))
    for _ in range(8):
        learner.observe("clf", 0.95, False)  # overconfident when it says 0.95
    assert learner.accuracy("clf", 0.97) == pytest.approx(0.95 * 2 / 10)
    assert learner.accuracy("clf", 0.5) == pytest.approx(0.45)  # bin [0, 0.9) keeps its prior


def test_forgetting_decays_past_evidence() -> None:
    learner = ReliabilityLearner(prior_mean=0.5, prior_strength=2.0, bins=(), forgetting=0.5)
    learner.observe("a", None, True)  # alpha = 1 + 0.5*0 + 1 = 2, beta = 1
    learner.observe("a", None, True)  # alpha = 1 + 0.5*1 + 1 = 2.5, beta = 1
    learner.observe("a", None, False)  # alpha = 1 + 0.5*1.5 = 1.75, beta = 1 + 0 + 1 = 2
    counts = learner.counts("a")
    assert counts.alpha == pytest.approx(1.75) and counts.beta == pytest.approx(2.0)


def test_observe_votes_skips_abstentions_and_round_trips() -> None:
    learner = ReliabilityLearner.from_settings(RouterSettings(confidence_bins=(0.5,)))
    votes = [vote("a", "yes"), vote("b", "no", 0.8), Vote("c", VoteStatus.TIMED_OUT)]
    assert learner.observe_votes(votes, "yes") == 2
    assert learner.accuracy("a") == pytest.approx(2.4 / 3)  # Beta(1.4, 0.6) + a hit
    assert learner.accuracy("b", 0.8) == pytest.approx(1.5 / 3)  # Beta(1.5, 0.5) + a miss
    assert learner.accuracy("c") == pytest.approx(0.7)
    copy = ReliabilityLearner.from_settings(RouterSettings(confidence_bins=(0.5,)))
    copy.restore(learner.snapshot())
    assert copy.snapshot() == learner.snapshot()
    assert copy.accuracy("b", 0.8) == learner.accuracy("b", 0.8)
    assert copy.accuracy("c") == pytest.approx(0.7)
