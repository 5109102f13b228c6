"""The stacked combiner: learns joint voting weights, discounts a copied voter, decides like a rule."""

from __future__ import annotations

import math
import random

import pytest

from patterns.consensus_router import Vote
from patterns.consensus_router.stacking import StackedCombiner
from patterns.consensus_router.textvoters import ExampleRecall
from patterns.consensus_router.voting import weighted
from tests.consensus_router.helpers import vote

LABELS = ("yes", "no")


def _rows(seed: int, n: int) -> list[tuple[list[Vote], str]]:
    """A pool where "a" and its copy "a2" are right 75% of the time and err together,
    and "b" and "c" are right 70% of the time, each independently."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        gold = rng.choice(LABELS)
        wrong = "no" if gold == "yes" else "yes"
        a = gold if rng.random() < 0.75 else wrong
        b = gold if rng.random() < 0.7 else wrong
        c = gold if rng.random() < 0.7 else wrong
        rows.append(([vote("a", a), vote("a2", a), vote("b", b), vote("c", c)], gold))
    return rows


def test_learns_that_a_copied_voter_adds_nothing_and_beats_the_independent_rule() -> None:
    train, test = _rows(1, 600), _rows(2, 2000)
    combiner = StackedCombiner(["a", "a2", "b", "c"], 2, l2=1e-3, steps=800).fit(train, LABELS)
    lo = math.log(0.7 / 0.3)  # the log-odds of the default confidence (no vote reports one)

    def effective(name: str) -> float:
        w, u = combiner.weight_of(name)
        return w * lo + u

    # The copies together weigh less than b and c together (about log 3 against
    # 2 log(7/3) for the ideal weights), so b and c outvote the pair when they disagree.
    assert effective("a") + effective("a2") < effective("b") + effective("c")
    assert max(effective("a"), effective("a2")) < min(effective("b"), effective("c"))

    def accuracy(v: Vote) -> float:
        return 0.75 if v.voter in ("a", "a2") else 0.7

    stacked_wrong = sum(combiner.tally(vs, LABELS).key != g for vs, g in test)
    weighted_wrong = sum(weighted(vs, accuracy, 2).key != g for vs, g in test)
    # the independent rule lets a+a2 outvote b and c when they disagree; stacking does not
    assert stacked_wrong < weighted_wrong


def test_tally_abstentions_unknown_voters_and_thresholds() -> None:
    train = [([vote("a", "yes", 0.9), vote("b", "yes")], "yes")] * 5 + [
        ([vote("a", "no", 0.9), vote("b", "no")], "no")
    ] * 5
    combiner = StackedCombiner(["a", "b"], 2).fit(train, LABELS)
    decided = combiner.tally([vote("a", "no", 0.9), vote("b", "no")], LABELS)
    assert decided.decided and decided.key == "no" and decided.rule == "stacked"
    assert sum(decided.support.values()) == pytest.approx(1.0)
    nobody = combiner.tally([vote("a", None), vote("stranger", "yes")], LABELS)
    assert not nobody.decided and nobody.answered == 1 and nobody.abstained == 1
    unsure = combiner.tally([vote("a", "no", 0.9), vote("b", "no")], LABELS, min_confidence=1.0)
    assert not unsure.decided and "below" in unsure.reason
    tie = combiner.tally([vote("a", "yes", 0.9), vote("a", "no", 0.9)], LABELS)
    assert not tie.decided and "tie" in tie.reason


def test_per_answer_weights_learn_a_voter_trusted_on_one_answer_only() -> None:
    rng = random.Random(3)
    rows = []
    for _ in range(400):
        gold = rng.choice(LABELS)
        # "k" says "no" only when the answer is no, but says "yes" at random otherwise
        k = "no" if gold == "no" and rng.random() < 0.8 else rng.choice(LABELS)
        rows.append(([vote("k", k)], gold))
    shared = StackedCombiner(["k"], 2, l2=1e-3, steps=800).fit(rows, LABELS)
    split = StackedCombiner(["k"], 2, l2=1e-3, steps=800, per_answer=True).fit(rows, LABELS)
    says_no = [vote("k", "no")]
    assert split.posterior(says_no, LABELS)["no"] > shared.posterior(says_no, LABELS)["no"]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="at least one voter"):
        StackedCombiner([], 2)
    with pytest.raises(ValueError, match="repeat"):
        StackedCombiner(["a", "a"], 2)
    with pytest.raises(ValueError, match="answer_space"):
        StackedCombiner(["a"], 1)
    with pytest.raises(ValueError, match="default_confidence"):
        StackedCombiner(["a"], 2, default_confidence=1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        StackedCombiner(["a"], 2).tally([vote("a", "yes")])
    with pytest.raises(ValueError, match="at least one"):
        StackedCombiner(["a"], 2).fit([])
    with pytest.raises(KeyError, match="unknown voter 'z'"):
        StackedCombiner(["a"], 2).weight_of("z")


def test_example_recall_by_embeddings() -> None:
    vectors = {"alpha": [1.0, 0.0], "beta": [0.0, 1.0], "gamma": [0.9, 0.1], "query": [1.0, 0.05]}
    memory = ExampleRecall(
        ["alpha", "beta", "gamma"], ["x", "y", "x"], ["1", "2", "3"], vectors=vectors
    )
    assert memory.nearest("query", 2) == [2, 0]  # most similar last
    assert memory.nearest("query", 1, exclude_id="1") == [2]
    with pytest.raises(KeyError, match="no embedding for 'unseen'"):
        memory.nearest("unseen", 1)
    with pytest.raises(KeyError, match="no embedding"):
        ExampleRecall(["delta"], ["x"], ["4"], vectors=vectors)
