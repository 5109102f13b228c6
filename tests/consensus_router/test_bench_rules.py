"""The benchmark's own decision helpers: quorum with fallback, quorum membership, number features."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patterns.consensus_router import LabeledItem, Question, Vote
from patterns.consensus_router.schema import LabelSchema
from tests.consensus_router.helpers import vote
from tests.perf.bench_router import (
    QuantityComparisons,
    VerbTrees,
    WordsAndNumbers,
    _expected_agreement,
    _monitored,
    _quorum_members,
    _quorum_or_fallback,
    _reliable_or_fallback,
    _table_rows,
    verb_key,
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


def test_quantities_are_standalone_numbers_not_digits_inside_names() -> None:
    text = "Delete pod web-7f2a1 on node-3; limit 512Mi, it uses 300Mi and 2 replicas."
    assert QuantityComparisons.quantities(text) == [512.0, 300.0, 2.0]


def test_verb_trees_learn_a_different_rule_per_leading_verb_phrase() -> None:
    texts, labels = [], []
    for before in range(1, 9):
        for after in range(0, 10, 3):
            texts.append(f"Scale deployment web from {before} to {after} replicas.")
            labels.append("yes" if after >= before else "no")
    for replicas in range(1, 6):
        for name in ("api", "db", "ui"):
            texts.append(f"Delete pod {name}-4f2 in namespace qa; its workload runs {replicas}.")
            labels.append("yes" if replicas >= 2 else "no")
    model = VerbTrees(depth=2).fit(texts, labels)
    assert set(model.trees) == {"scale deployment", "delete pod"}

    def ask(text: str) -> tuple[str, float]:
        reply = model(Question("q", "?", YES_NO, payload={"text": text}))
        return reply.answer, reply.confidence

    # Unseen numbers: scaling up is safe, down is not; one replica left is not.
    assert ask("Scale deployment cart from 3 to 11 replicas.")[0] == "yes"
    assert ask("Scale deployment cart from 7 to 2 replicas.")[0] == "no"
    assert ask("Delete pod cart-9a1 in namespace qa; its workload runs 1.")[0] == "no"
    answer, confidence = ask("Delete pod cart-9a1 in namespace qa; its workload runs 4.")
    assert answer == "yes" and 0.5 < confidence < 1.0  # a smoothed leaf, never certain
    assert verb_key("Drain node-4; the cluster has 2 ready nodes.") == "drain node"


def test_table_rows_are_the_training_sums_sharing_an_operand_in_order() -> None:
    def item(qid: str, a: int, b: int) -> LabeledItem:
        payload = {"text": f"{a} + {b}", "a": a, "b": b, "op": "+"}
        return LabeledItem(Question(qid, "?", YES_NO, payload=payload), str(a + b))

    train = [item("x1", 3, 7), item("x2", 3, 1), item("x3", 4, 1), item("self", 3, 4)]
    assert _table_rows(train, "self", "a", 3, "b") == "3 + 1 = 4\n3 + 7 = 10\n"
    assert _table_rows(train, "self", "b", 1, "a") == "3 + 1 = 4\n4 + 1 = 5\n"


def test_reliable_quorum_else_fallback_never_lets_one_liar_decide() -> None:
    accuracy = {"liar": 0.99, "a": 0.7, "b": 0.7, "c": 0.7}

    def acc(v: Vote) -> float:
        return accuracy[v.voter]

    # Three honest voters agree: their support beyond the heaviest is 2 * log(7/3).
    honest = [vote("liar", "no"), vote("a", "yes"), vote("b", "yes"), vote("c", "yes")]
    assert _reliable_or_fallback(honest, 1, acc, 2, 1.0, "weighted") == ("yes", True)
    # The liar alone behind "no" qualifies nothing; the fallback drops it as the outlier.
    split = [vote("liar", "no"), vote("a", "yes"), vote("b", "yes"), vote("c", None)]
    assert _reliable_or_fallback(split, 1, acc, 2, 1.0, "weighted") == ("yes", False)


def test_monitored_stream_quarantines_the_liar_and_then_decides_as_without_it() -> None:
    def items(count: int, offset: int) -> list[tuple[LabeledItem, tuple[Vote, ...]]]:
        out = []
        for k in range(count):
            gold = "yes" if (k * 7 + offset) % 3 else "no"
            wrong = "no" if gold == "yes" else "yes"
            votes = (
                vote("top", gold),
                vote("a", gold),
                vote("b", gold if k % 5 else wrong),
                vote("c", gold if k % 7 else wrong),
                vote("d", gold if k % 9 else wrong),
            )
            out.append((LabeledItem(Question(f"q{offset}-{k}", "?", YES_NO), gold), votes))
        return out

    train, test = items(40, 0), items(60, 1)
    members = ["top", "a", "b", "c", "d"]
    acc = flat(0.8)
    expected = _expected_agreement(members, train, 1, acc, "weighted")
    assert expected["top"] > 0.9 and expected["b"] < expected["top"]
    labels = ["yes", "no"]
    honest, quiet = _monitored(test, members, 1, acc, "weighted", expected, None, labels)
    lying, monitor = _monitored(test, members, 1, acc, "weighted", expected, "top", labels)
    assert quiet.quarantined() == frozenset()  # no honest member is caught
    caught = monitor.caught_after("top")
    assert monitor.quarantined() == frozenset({"top"}) and caught is not None and caught <= 8
    golds = [i.gold for i, _ in test]
    assert sum(h == g for h, g in zip(honest, golds, strict=True)) >= 0.9 * len(test)
    assert sum(a != g for a, g in zip(lying[:caught], golds[:caught], strict=True)) > 0
    # Once the liar is caught the decisions are those taken without it.
    others = [m for m in members if m != "top"]
    absent, _ = _monitored(test, others, 1, acc, "weighted", expected, None, labels)
    assert lying[caught:] == absent[caught:]


def test_seed_cache_round_trip_and_the_working_cache_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.perf.bench_router as bench

    work, seed = tmp_path / "work" / "llm_votes.jsonl", tmp_path / "seed"
    embed = tmp_path / "work" / "embeddings.jsonl"
    work.parent.mkdir()
    work.write_text('{"key": "k1", "answer": "yes"}\n{"key": "k2", "answer": "no"}\n')
    embed.write_text('{"key": "e1", "vector": [0.5, 0.25]}\n')
    monkeypatch.setattr(bench, "CACHE_PATH", work)
    monkeypatch.setattr(bench, "EMBED_CACHE_PATH", embed)
    monkeypatch.setattr(bench, "SEED_DIR", seed)
    first = [p.read_bytes() for p in bench.write_seed(seed)]
    assert [p.read_bytes() for p in bench.write_seed(seed)] == first  # same rows, same bytes
    work.unlink()
    embed.unlink()  # a fresh clone: only the seed
    assert bench._load_cache() == {
        "k1": {"key": "k1", "answer": "yes"},
        "k2": {"key": "k2", "answer": "no"},
    }
    assert bench._cached_rows(embed)["e1"]["vector"] == [0.5, 0.25]
    work.write_text('{"key": "k2", "answer": "yes"}\n')  # a newer row for k2
    assert bench._load_cache()["k2"]["answer"] == "yes"
    monkeypatch.setenv("SWARMKIT_ROUTER_BENCH_NO_CACHE", "1")
    assert bench._load_cache() == {}
