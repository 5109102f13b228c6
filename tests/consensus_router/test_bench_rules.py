"""The benchmark's own decision helpers: quorum with fallback, quorum membership, number features."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from patterns.consensus_router import LabeledItem, Question, Vote
from patterns.consensus_router.schema import LabelSchema
from tests.consensus_router.helpers import vote
from tests.perf.bench_router import (
    WordsAndNumbers,
    _quorum_members,
    _quorum_or_fallback,
)

YES_NO = LabelSchema(("yes", "no"))


def flat(accuracy: float) -> Callable[[Vote], float]:
    return lambda v: accuracy


def test_quorum_decides_when_reached_and_marks_it() -> None:
    votes = [vote("a", "yes"), vote("b", "yes"), vote("c", "yes"), vote("d", "no")]
    assert _quorum_or_fallback(votes, 1, flat(0.8), 2) == ("yes", True)


def test_fallback_drops_the_most_disagreeing_voter_before_voting() -> None:
    # No quorum (3 of the 4 needed, 2 agree); "liar" disagrees with every other vote: the outlier.
    votes = [vote("a", "yes"), vote("b", "yes"), vote("c", None), vote("liar", "no")]
    accuracy = {"a": 0.8, "b": 0.8, "c": 0.8, "liar": 0.999}

    def acc(v: Vote) -> float:
        return accuracy[v.voter]

    # Without dropping, the liar's 0.999 reliability outweighs two 0.8 voters.
    assert _quorum_or_fallback(votes, 1, acc, 2, "weighted") == ("yes", False)
    assert _quorum_or_fallback(votes, 1, acc, 2, "trimmed") == ("yes", False)
    assert _quorum_or_fallback(
        [vote("a", None), vote("b", "yes"), vote("c", None), vote("d", None)], 1, acc, 2
    ) == (None, False)


def test_quorum_members_keep_voters_above_a_train_bar() -> None:
    items = []
    for k in range(20):
        gold = "yes" if k % 2 else "no"
        wrong = "no" if gold == "yes" else "yes"
        q = Question(f"q{k}", "?", YES_NO)
        votes = (
            vote("good1", gold),
            vote("good2", gold),
            vote("good3", gold),
            vote("good4", gold if k % 5 else wrong),
            vote("bad", wrong),
        )
        items.append((LabeledItem(q, gold), votes))
    members, bar = _quorum_members(
        ["good1", "good2", "good3", "good4", "bad"], items, 1, ["yes", "no"]
    )
    assert "bad" not in members and len(members) == 4 and bar > 0.0


def test_words_and_numbers_features_compare_the_numbers() -> None:
    features = WordsAndNumbers()
    x = features.fit_transform(["scale from 4 to 1 replicas", "scale from 4 to 8 replicas"])
    numbers = x[:, -(4 + 2 * 6) :].toarray()
    assert numbers[0][:2].tolist() == [4.0, 1.0] and numbers[1][:2].tolist() == [4.0, 8.0]
    assert numbers[0][2] == WordsAndNumbers.MISSING  # a third number is missing
    # the first pair's difference and ratio follow the four numbers
    assert numbers[0][4:6].tolist() == pytest.approx([3.0, 4.0])
    assert numbers[1][4:6].tolist() == pytest.approx([-4.0, 0.5])
