"""The shipped text tasks, their splits, and the cheap non-LLM voters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from patterns.consensus_router import LabelSchema, Question, Vote, VoteStatus
from patterns.consensus_router.textsets import (
    TASKS,
    build_rows,
    k8s_is_safe,
    load_task,
    path_of,
    split_of,
)
from patterns.consensus_router.textvoters import (
    K8S_KEYWORDS,
    EmbeddingLogistic,
    ExampleRecall,
    HashingLogistic,
    KeywordModel,
)
from patterns.consensus_router.voting import confidence_weighted, plurality


@pytest.mark.parametrize("task", TASKS)
def test_shipped_files_are_the_generated_rows_with_disjoint_splits(task: str) -> None:
    shipped = [json.loads(line) for line in path_of(task).read_text().splitlines() if line]
    assert shipped == json.loads(json.dumps(build_rows(task), sort_keys=True))
    items = load_task(task)
    train, test = ({i.question.id for i in items[s]} for s in ("train", "test"))
    assert not train & test and len(train) > 40 and len(test) > 40
    assert len(train | test) == len(shipped) == len({r["id"] for r in shipped})


def test_several_hundred_items_in_all_and_both_labels_in_each_split() -> None:
    total = 0
    for task in ("sentiment", "k8s_safety"):
        items = load_task(task)
        total += sum(len(v) for v in items.values())
        for split in ("train", "test"):
            assert len({i.gold for i in items[split]}) == 2, (task, split)
    assert total + sum(len(v) for v in load_task("arithmetic").values()) >= 500


def test_arithmetic_is_every_one_digit_sum_once_with_its_gold() -> None:
    rows = build_rows("arithmetic")
    pairs = {(r["payload"]["a"], r["payload"]["b"]) for r in rows}
    assert pairs == {(a, b) for a in range(10) for b in range(10)} and len(rows) == 100
    for row in rows:
        assert row["gold"] == str(row["payload"]["a"] + row["payload"]["b"]), row["id"]
        assert row["gold"] in row["schema"]["labels"]
    texts = {s: {i.question.payload["text"] for i in v} for s, v in load_task("arithmetic").items()}
    assert not texts["train"] & texts["test"]  # no expression is both tuned on and scored


def test_split_is_a_function_of_the_id_alone() -> None:
    assert split_of("k8s-007") == split_of("k8s-007")
    shares = [split_of(f"x-{n}") == "test" for n in range(2000)]
    assert 0.45 < sum(shares) / len(shares) < 0.55


@pytest.mark.parametrize(
    ("action", "safe"),
    [
        ({"verb": "delete", "kind": "pod", "namespace": "kube-system", "replicas": 3}, True),
        ({"verb": "delete", "kind": "pod", "namespace": "staging", "replicas": 1}, False),
        ({"verb": "delete", "kind": "namespace", "namespace": "dev-sandbox"}, False),
        ({"verb": "delete", "kind": "deployment", "namespace": "prod-web"}, False),
        ({"verb": "delete", "kind": "deployment", "namespace": "staging"}, True),
        ({"verb": "scale", "namespace": "prod-web", "from": 6, "to": 3}, True),
        ({"verb": "scale", "namespace": "prod-web", "from": 6, "to": 2}, False),
        ({"verb": "scale", "namespace": "dev-sandbox", "from": 6, "to": 0}, True),
        ({"verb": "scale", "namespace": "kube-system", "from": 2, "to": 4}, False),
        ({"verb": "drain", "ready_nodes": 1}, False),
        ({"verb": "drain", "ready_nodes": 2}, True),
        ({"verb": "set-memory", "namespace": "team-ml", "to_mi": 256, "used_mi": 300}, False),
        ({"verb": "rollback", "namespace": "prod-payments"}, True),
    ],
)
def test_k8s_policy(action: dict[str, object], safe: bool) -> None:
    assert k8s_is_safe(action) is safe


def test_every_k8s_label_follows_the_policy() -> None:
    for row in build_rows("k8s_safety"):
        assert (row["gold"] == "yes") is k8s_is_safe(row["payload"]["action"]), row["id"]


def _q(text: str, qid: str = "q") -> Question:
    return Question(qid, text, LabelSchema(("yes", "no")), payload={"text": text})


def test_hashing_logistic_learns_and_generalises_to_unseen_wording() -> None:
    texts = [f"delete the {w} now" for w in ("db", "queue", "cache", "volume")] + [
        f"scale up the {w} please" for w in ("db", "queue", "cache", "volume")
    ]
    model = HashingLogistic().fit(texts, ["no"] * 4 + ["yes"] * 4)
    unsafe = model(_q("delete the index now"))
    safe = model(_q("scale up the index please"))
    assert (unsafe.answer, safe.answer) == ("no", "yes")
    assert unsafe.confidence is not None and unsafe.confidence > 0.5
    with pytest.raises(ValueError, match="two or more"):
        HashingLogistic().fit(["a", "b"], ["x", "x"])


def test_embedding_logistic_separates_by_vector_and_abstains_without_one() -> None:
    rng = np.random.default_rng(20)
    unsafe, safe = rng.normal(size=16), rng.normal(size=16)
    vectors = {f"u{i}": unsafe + 0.3 * rng.normal(size=16) for i in range(6)}
    vectors |= {f"s{i}": safe + 0.3 * rng.normal(size=16) for i in range(6)}
    vectors |= {"new unsafe": unsafe + 0.3 * rng.normal(size=16)}
    model = EmbeddingLogistic(vectors, l2=1e-3)
    model.fit([f"u{i}" for i in range(5)] + [f"s{i}" for i in range(5)], ["no"] * 5 + ["yes"] * 5)
    reply = model(_q("new unsafe"))
    assert reply is not None and reply.answer == "no" and reply.confidence > 0.5
    held_out = model(_q("s5"))
    assert held_out is not None and held_out.answer == "yes"
    assert model(_q("a text never embedded")) is None  # abstains, never crashes
    with pytest.raises(KeyError, match="no embedding for 1 text"):
        model.fit(["u0", "missing"], ["no", "yes"])
    with pytest.raises(ValueError, match="different widths"):
        EmbeddingLogistic({"a": [1.0, 2.0], "b": [1.0]})


def test_keyword_model_votes_abstains_and_breaks_no_ties() -> None:
    model = KeywordModel(K8S_KEYWORDS)
    reply = model(_q("Delete namespace shop and everything in it."))
    assert reply is not None and reply.answer == "no" and reply.confidence == 1.0
    assert model(_q("Paint the office walls green.")) is None
    tie = KeywordModel({"yes": {"alpha": 1.0}, "no": {"beta": 1.0}})
    assert tie(_q("alpha beta")) is None


def test_recall_returns_nearest_examples_and_never_the_item_itself() -> None:
    memory = ExampleRecall(
        ["the soup was cold", "the room was dirty", "great soup and bread"],
        ["negative", "negative", "positive"],
        ["a", "b", "c"],
    )
    assert memory.nearest("the soup was cold", 1) == [0]
    assert 0 not in memory.nearest("the soup was cold", 2, exclude_id="a")
    text = memory.render("soup", 2, "{text} -> {label}\n")
    assert text.count("\n") == 2 and "soup" in text.splitlines()[-1]


def test_confidence_weighted_lets_sure_voters_outvote_unsure_ones() -> None:
    votes = [
        Vote("a", VoteStatus.ANSWERED, key="yes", value="yes", confidence=0.55),
        Vote("b", VoteStatus.ANSWERED, key="yes", value="yes", confidence=0.55),
        Vote("c", VoteStatus.ANSWERED, key="no", value="no", confidence=0.97),
        Vote("d", VoteStatus.MALFORMED, raw="??"),
    ]
    assert plurality(votes).key == "yes"
    tally = confidence_weighted(votes, 2)
    assert tally.key == "no" and tally.confidence > 0.9 and tally.abstained == 1
    assert confidence_weighted(votes[3:], 2).key is None
