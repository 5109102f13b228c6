"""Voting rules against hand-computed cases, quorum edge cases, and a brute-force posterior."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.consensus_router import (
    QuorumConfigError,
    Vote,
    VoteStatus,
    byzantine_quorum,
    majority,
    plurality,
    weighted,
)
from patterns.consensus_router.voting import posterior
from tests.consensus_router.helpers import vote


def accuracies(table: dict[str, float]) -> object:
    return lambda v: table[v.voter]


def test_plurality_hand_computed() -> None:
    t = plurality([vote("a", "x"), vote("b", "x"), vote("c", "y"), vote("d", None)])
    assert t.decided and t.key == "x" and t.confidence == pytest.approx(2 / 3)
    assert t.answered == 3 and t.abstained == 1 and t.support == {"x": 2.0, "y": 1.0}


def test_plurality_tie_and_no_votes_are_no_decision() -> None:
    tie = plurality([vote("a", "x"), vote("b", "y"), vote("c", None)])
    assert not tie.decided and tie.key is None and "tie" in tie.reason
    assert tie.support == {"x": 1.0, "y": 1.0}
    empty = plurality([vote("a", None)])
    assert not empty.decided and empty.abstained == 1


def test_majority_needs_more_than_half_of_answered_votes() -> None:
    assert not majority([vote("a", "x"), vote("b", "x"), vote("c", "y"), vote("d", "z")]).decided
    t = majority([vote("a", "x"), vote("b", "x"), vote("c", "y"), vote("d", None)])
    assert t.decided and t.key == "x" and t.confidence == pytest.approx(2 / 3)
    assert not majority([vote("a", "x"), vote("b", "y")]).decided


def test_weighted_hand_computed_posterior() -> None:
    # p=0.9 says yes; two p=0.6 say no. K=2: odds 9 against 1.5 * 1.5 = 2.25 -> 9 / 11.25.
    votes = [vote("strong", "yes"), vote("weak1", "no"), vote("weak2", "no")]
    acc = accuracies({"strong": 0.9, "weak1": 0.6, "weak2": 0.6})
    t = weighted(votes, acc, 2)  # type: ignore[arg-type]
    assert t.decided and t.key == "yes" and t.confidence == pytest.approx(0.8)
    assert t.support["no"] == pytest.approx(0.2)
    # Three weak ones outvote it: 9 against 1.5^3 = 3.375 -> still yes; four do not.
    acc4 = accuracies({"strong": 0.9, **{f"w{i}": 0.6 for i in range(6)}})
    six = [vote("strong", "yes")] + [vote(f"w{i}", "no") for i in range(6)]
    t6 = weighted(six, acc4, 2)  # type: ignore[arg-type]
    assert t6.key == "no" and t6.confidence == pytest.approx(1.5**6 / (1.5**6 + 9))


def test_weighted_single_vote_posterior_is_its_accuracy() -> None:
    t = weighted([vote("a", "x")], accuracies({"a": 0.6}), 3)  # type: ignore[arg-type]
    assert t.key == "x" and t.confidence == pytest.approx(0.6)


def test_weighted_worse_than_chance_vote_is_evidence_for_the_other_label() -> None:
    t = weighted([vote("liar", "yes")], accuracies({"liar": 0.2}), 2, 0.0, ("yes", "no"))  # type: ignore[arg-type]
    assert t.key == "no" and t.confidence == pytest.approx(0.8)


def test_weighted_tie_and_low_confidence_are_no_decision() -> None:
    acc = accuracies({"a": 0.8, "b": 0.8, "c": 0.55})
    tie = weighted([vote("a", "x"), vote("b", "y")], acc, 2)  # type: ignore[arg-type]
    assert not tie.decided and "tie" in tie.reason
    low = weighted([vote("c", "x")], acc, 2, min_confidence=0.6)  # type: ignore[arg-type]
    assert not low.decided and low.support["x"] == pytest.approx(0.55)


def test_quorum_exactly_2f_plus_1_of_3f_plus_1_decides() -> None:
    votes = [vote("a", "x"), vote("b", "x"), vote("c", "x"), vote("d", "y")]
    t = byzantine_quorum(votes, f=1)
    assert t.decided and t.key == "x" and "3 of 4" in t.reason


def test_quorum_2f_is_no_decision_and_abstentions_count_against() -> None:
    two = byzantine_quorum([vote("a", "x"), vote("b", "x"), vote("c", "y"), vote("d", "z")], f=1)
    assert not two.decided and "2 of 3 needed" in two.reason
    timed_out = Vote("d", VoteStatus.TIMED_OUT)
    silent = byzantine_quorum([vote("a", "x"), vote("b", "x"), vote("c", None), timed_out], f=1)
    assert not silent.decided and silent.abstained == 2
    tie = byzantine_quorum([vote("a", "x"), vote("b", "x"), vote("c", "y"), vote("d", "y")], f=1)
    assert not tie.decided


def test_quorum_with_more_than_3f_plus_1_voters_and_too_few() -> None:
    # n=5, f=1: quorum ceil((5+1+1)/2) = 4.
    five = [vote(str(i), "x") for i in range(3)] + [vote("3", "y"), vote("4", "y")]
    assert not byzantine_quorum(five, f=1).decided
    five[3] = vote("3", "x")
    assert byzantine_quorum(five, f=1).decided
    # n=7, f=2: quorum 5.
    seven = [vote(str(i), "x") for i in range(5)] + [vote("5", None), vote("6", "y")]
    assert byzantine_quorum(seven, f=2).decided
    with pytest.raises(QuorumConfigError):
        byzantine_quorum([vote("a", "x")] * 3, f=1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.floats(0.05, 0.95)),
        min_size=1,
        max_size=7,
    )
)
def test_posterior_matches_brute_force_bayes(raw: list[tuple[str | None, float]]) -> None:
    labels = ("a", "b", "c")
    votes = [vote(f"v{i}", key) for i, (key, _) in enumerate(raw)]
    acc = {f"v{i}": p for i, (_, p) in enumerate(raw)}
    post = posterior(votes, lambda v: acc[v.voter], 3, labels)
    if all(key is None for key, _ in raw):
        assert post == {}
        return
    likelihood = {
        label: math.prod(p if key == label else (1 - p) / 2 for key, p in raw if key is not None)
        for label in labels
    }
    total = sum(likelihood.values())
    for label in labels:
        assert post[label] == pytest.approx(likelihood[label] / total, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=4, max_size=10))
def test_quorum_decisions_hold_a_quorum_and_are_unique(keys: list[str | None]) -> None:
    f = (len(keys) - 1) // 3
    t = byzantine_quorum([vote(str(i), k) for i, k in enumerate(keys)], f)
    counts = {k: keys.count(k) for k in set(keys) if k is not None}
    need = math.ceil((len(keys) + f + 1) / 2)
    winners = [k for k, c in counts.items() if c >= need]
    assert len(winners) <= 1
    assert t.key == (winners[0] if winners else None)
    if t.decided:
        assert t.confidence == pytest.approx(counts[winners[0]] / len(keys))


def test_reliable_quorum_needs_support_beyond_the_f_heaviest_votes() -> None:
    from patterns.consensus_router.voting import reliable_quorum

    accuracy = {"top": 0.99, "a": 0.8, "b": 0.8, "c": 0.6}

    def acc(v: Vote) -> float:
        return accuracy[v.voter]

    w = math.log(0.8 / 0.2)  # one 0.8 voter's evidence on a yes/no question
    votes = [vote("top", "yes"), vote("a", "yes"), vote("b", "yes"), vote("c", "no")]
    tally = reliable_quorum(votes, acc, 2, 1, bound=2 * w - 1e-9)
    assert tally.key == "yes" and tally.support["yes"] == pytest.approx(2 * w)
    assert reliable_quorum(votes, acc, 2, 1, bound=2 * w + 0.01).key is None
    # However reliable in training, one voter alone never qualifies an answer (f=1).
    alone = [vote("top", "no"), vote("a", None), vote("b", None), vote("c", None)]
    assert reliable_quorum(alone, acc, 2, 1, bound=0.0).key is None
    # Two answers both reaching the bound: no decision, not a pick.
    accuracy |= {"d": 0.8, "e": 0.8}
    both = [vote("a", "yes"), vote("b", "yes"), vote("d", "no"), vote("e", "no")]
    assert reliable_quorum(both, acc, 2, 0, bound=1.0).key is None
    with pytest.raises(ValueError, match="bound"):
        reliable_quorum(votes, acc, 2, 1, bound=-1.0)
