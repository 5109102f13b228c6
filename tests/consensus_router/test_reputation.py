"""Quarantine by agreement: a voter that turns liar is caught from the decisions alone."""

from __future__ import annotations

import math
import random

import pytest

from patterns.consensus_router import AgreementMonitor
from patterns.consensus_router.reputation import binomial_lower_tail
from tests.consensus_router.helpers import vote


def test_binomial_lower_tail_matches_the_direct_sum() -> None:
    direct = sum(math.comb(10, k) * 0.7**k * 0.3 ** (10 - k) for k in range(4))
    assert binomial_lower_tail(3, 10, 0.7) == pytest.approx(direct)
    assert binomial_lower_tail(10, 10, 0.7) == pytest.approx(1.0)
    assert binomial_lower_tail(0, 5, 0.0) == 1.0 and binomial_lower_tail(4, 5, 1.0) == 0.0
    with pytest.raises(ValueError, match="successes"):
        binomial_lower_tail(6, 5, 0.5)


def test_a_voter_that_stops_agreeing_is_quarantined_and_honest_ones_are_not() -> None:
    rng = random.Random(7)
    expected = {"liar": 0.95, "a": 0.8, "b": 0.8, "c": 0.8}
    monitor = AgreementMonitor(expected, alpha=1e-3, min_questions=5)
    caught_at = None
    for step in range(200):
        gold = rng.choice(["yes", "no"])
        wrong = "no" if gold == "yes" else "yes"
        votes = [vote("liar", wrong)] + [
            vote(n, gold if rng.random() < 0.8 else wrong) for n in ("a", "b", "c")
        ]
        active = monitor.active(votes)
        caught = monitor.observe(active, gold)  # decisions right: the honest majority's
        if caught and caught_at is None:
            caught_at = step
            assert caught == ["liar"]
    assert monitor.quarantined() == frozenset({"liar"})
    assert (
        caught_at is not None and caught_at < 10 and monitor.caught_after("liar") == caught_at + 1
    )
    # A quarantined voter's later votes are left out of the decisions.
    assert [v.voter for v in monitor.active([vote("liar", "yes"), vote("a", "yes")])] == ["a"]


def test_no_decision_teaches_nothing_and_bad_settings_are_named() -> None:
    monitor = AgreementMonitor({"a": 0.9}, min_questions=1)
    for _ in range(20):
        assert monitor.observe([vote("a", "no")], None) == []
    assert monitor.quarantined() == frozenset() and monitor.observed == 0
    with pytest.raises(ValueError, match="expected agreement"):
        AgreementMonitor({"a": 1.5})
    with pytest.raises(ValueError, match="alpha"):
        AgreementMonitor({"a": 0.5}, alpha=0.0)
