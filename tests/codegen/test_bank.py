"""ReasoningBank on a real embedded LanceDB store: record, distil, recall, rank, feedback, merge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from patterns.codegen.bank import (
    BankSettings,
    DuplicateTrajectoryError,
    InvalidQueryError,
    InvalidTrajectoryError,
    ItemKind,
    ReasoningBank,
    RecalledItem,
    RuleDistiller,
    UnknownItemError,
)
from patterns.codegen.bank.codec import context_of
from patterns.codegen.bank.records import BankItem, ItemContext, UsageStats
from patterns.codegen.records import EditFormat, Step, Trajectory
from patterns.codegen.records import TestOutcome as RunOutcome  # not a test class
from patterns.core.exceptions import ConfigError
from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

DIM = 64  # small, fast hashing embedder
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PASS = RunOutcome(passed=True, total=4, failed=0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def open_store(uri: str, clock: Clock) -> MemoryStore:
    return MemoryStore(
        MemorySettings(create_if_missing=True, uri=uri, dim=DIM),
        HashingEmbedder(dim=DIM),
        clock=clock,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "lancedb")


@pytest.fixture
def store(uri: str, clock: Clock) -> Iterator[MemoryStore]:
    with open_store(uri, clock) as s:
        yield s


@pytest.fixture
def bank(store: MemoryStore, clock: Clock) -> ReasoningBank:
    return ReasoningBank(store, clock=clock)


def failing(message: str, error: str = "AssertionError") -> RunOutcome:
    return RunOutcome(passed=False, total=4, failed=1, error_type=error, error_message=message)


def step(index: int, tags: tuple[str, ...], outcome: RunOutcome | None, **kw: object) -> Step:
    return Step(
        index=index,
        candidate_id=f"c{index}",
        edit=f"<<<<<<< SEARCH\nx{index}\n=======\ny{index}\n>>>>>>> REPLACE",
        format=EditFormat.SEARCH_REPLACE,
        tags=tags,
        description=kw.pop("description", f"line {index + 3}: edit"),  # type: ignore[arg-type]
        outcome=outcome,
        **kw,  # type: ignore[arg-type]
    )


def trajectory(
    tid: str,
    *,
    win: tuple[str, ...] | None = ("op:widen-comparison", "op:widen-comparison@for-range"),
    fails: tuple[tuple[str, ...], ...] = (("op:swap-args",),),
    signature: str = "AssertionError: assert sum_to(3) == 6",
    features: tuple[str, ...] = ("for-range", "comparison", "accumulator"),
    task: str = "Return the sum of the integers from 1 to n.",
) -> Trajectory:
    steps = [step(i, tags, failing("assert sum_to(3) == 6")) for i, tags in enumerate(fails)]
    if win is not None:
        steps.append(step(len(steps), win, PASS, description="line 4: `<` -> `<=`"))
    return Trajectory(
        id=tid,
        task_id=f"HumanEval/{tid}",
        task=task,
        context={"signature": signature, "features": list(features), "recalled": []},
        steps=tuple(steps),
        success=win is not None,
        final_source="def sum_to(n): ...",
        budget=5,
        metadata={"bug": "boundary"},
    )


def only(bank: ReasoningBank, kind: ItemKind) -> BankItem:
    [item] = bank.items(kind.value)
    return item


# ---------------------------------------------------------------------- record / distil


def test_record_stores_trajectory_and_distilled_items(
    bank: ReasoningBank, store: MemoryStore
) -> None:
    traj = trajectory("t1")
    report = bank.record(traj)

    assert report.trajectory_id == "t1" and report.record_id == "codegen:trajectory:t1"
    assert len(report.added_ids) == 2 and report.merged_ids == ()
    rec = store.get(report.record_id)
    assert rec is not None and (rec.namespace, rec.kind) == ("codegen", "trajectory")
    assert "sum of the integers" in rec.text and "AssertionError" in rec.text
    assert rec.metadata["trajectory"] == json.loads(json.dumps(traj.to_dict()))
    assert bank.trajectories() == [traj]

    strategy = only(bank, ItemKind.STRATEGY)
    assert strategy.id in report.added_ids
    assert strategy.tags == ("op:widen-comparison", "op:widen-comparison@for-range")
    assert strategy.primary_tag == "op:widen-comparison"
    assert strategy.context == ItemContext(
        "AssertionError: assert sum_to(3) == 6", ("for-range", "comparison", "accumulator")
    )
    assert strategy.title and strategy.description and "fixed it" in strategy.content
    assert (strategy.sources, strategy.support, strategy.stats) == (("t1",), 1, UsageStats())

    pitfall = only(bank, ItemKind.PITFALL)
    assert pitfall.tags == ("op:swap-args",)
    assert "did not fix it" in pitfall.content and "for-range" in pitfall.content
    assert store.count("codegen") == 3
    assert bank.stats().trajectories == 1


def test_failed_trajectory_gives_pitfalls_only(bank: ReasoningBank) -> None:
    traj = trajectory("t1", win=None, fails=(("op:swap-args",), ("op:flip-sign",)))
    report = bank.record(traj)
    assert len(report.added_ids) == 2
    assert bank.items("strategy") == []
    assert {i.primary_tag for i in bank.items("pitfall")} == {"op:swap-args", "op:flip-sign"}
    stats = bank.stats()
    assert (stats.trajectories, stats.strategies, stats.pitfalls) == (1, 0, 2)


def test_rule_distiller_details() -> None:
    traj = replace(
        trajectory("t1", fails=()),
        steps=(
            step(0, ("op:widen-comparison",), failing("still wrong")),  # right op, wrong place
            step(1, ("op:swap-args",), None, applied=False, apply_error="search text not found"),
            step(2, ("op:swap-args", "op:swap-args@call"), failing("x")),
            step(3, ("op:widen-comparison",), PASS),
        ),
    )
    items = RuleDistiller().distill(traj)
    assert [i.kind for i in items] == [ItemKind.STRATEGY, ItemKind.PITFALL]
    pitfall = items[1]
    assert pitfall.tags == ("op:swap-args", "op:swap-args@call")
    assert "did not apply (search text not found)" in pitfall.content
    assert "(2 attempts)" in pitfall.content
    assert "attempt 4 of 4" in items[0].content


def test_context_reads_alternative_keys() -> None:
    traj = replace(
        trajectory("t1"),
        context={"failure_signature": "IndexError: x", "code_features": "slicing, loop"},
    )
    assert context_of(traj) == ItemContext("IndexError: x", ("slicing", "loop"))


def test_success_only_skips_failed_trajectories(store: MemoryStore) -> None:
    bank = ReasoningBank(store, settings=BankSettings(success_only=True))
    failed = bank.record(trajectory("bad", win=None))
    assert failed.added_ids == () and failed.merged_ids == ()
    solved = bank.record(trajectory("good", signature="IndexError: list index out of range"))
    assert len(solved.added_ids) == 1  # the strategy; its failed step's pitfall is not kept
    stats = bank.stats()
    assert (stats.trajectories, stats.strategies, stats.pitfalls) == (2, 1, 0)
    assert only(bank, ItemKind.STRATEGY).sources == ("good",)

    both = ReasoningBank(store, namespace="both")
    assert len(both.record(trajectory("bad", win=None)).added_ids) == 1


# ---------------------------------------------------------------------- recall


SCENARIOS = {
    "boundary": dict(
        win=("op:widen-comparison",),
        signature="AssertionError: assert sum_to(3) == 6",
        features=("for-range", "comparison", "accumulator"),
    ),
    "index": dict(
        win=("op:shrink-range",),
        signature="IndexError: list index out of range",
        features=("while-loop", "indexing", "list"),
    ),
    "types": dict(
        win=("op:cast-int",),
        signature="TypeError: can only concatenate str (not int) to str",
        features=("string-format", "concatenation"),
    ),
    "recursion": dict(
        win=("op:fix-base-case",),
        signature="RecursionError: maximum recursion depth exceeded",
        features=("recursion", "early-return"),
    ),
    "zero": dict(
        win=("op:add-guard",),
        signature="ZeroDivisionError: division by zero",
        features=("division", "average", "empty-list"),
    ),
}


def record_scenarios(bank: ReasoningBank) -> None:
    for name, kw in SCENARIOS.items():
        bank.record(trajectory(name, fails=((f"op:other-{name}",),), **kw))  # type: ignore[arg-type]


def test_recall_puts_the_matching_item_first(bank: ReasoningBank) -> None:
    assert bank.recall("anything at all") == []  # empty bank: nothing, no error
    record_scenarios(bank)

    hits = bank.recall("IndexError: list index out of range in a while-loop with indexing", k=4)
    assert len(hits) == 4
    assert hits[0].item.kind is ItemKind.STRATEGY
    assert hits[0].item.primary_tag == "op:shrink-range"
    assert [h.rank for h in hits] == sorted((h.rank for h in hits), reverse=True)
    assert all(0.0 < h.reliability < 1.0 for h in hits)

    pitfalls = bank.recall("ZeroDivisionError: division by zero average", kinds=("pitfall",))
    assert {h.item.kind for h in pitfalls} == {ItemKind.PITFALL}
    assert pitfalls[0].item.primary_tag == "op:other-zero"


def test_recall_counts_retrievals_and_flush_persists_them(bank: ReasoningBank) -> None:
    record_scenarios(bank)
    first = bank.recall("RecursionError: maximum recursion depth", k=2)
    bank.recall("RecursionError: maximum recursion depth", k=2)
    assert bank.stats().pending_retrievals == 4
    assert bank.flush() == 2
    assert bank.stats().pending_retrievals == 0
    item = bank.get(first[0].item.id)
    assert item is not None and item.stats.retrieved == 2 and item.stats.used == 0


def test_feedback_persists_across_reopening_the_store(
    uri: str, clock: Clock, store: MemoryStore, bank: ReasoningBank
) -> None:
    record_scenarios(bank)
    [hit] = bank.recall("TypeError: can only concatenate str", k=1)
    item_id = hit.item.id
    before = store.get(item_id)
    assert before is not None
    clock.now = T0 + timedelta(hours=1)

    [updated] = bank.feedback([item_id, item_id], success=True)
    assert updated.stats == UsageStats(
        retrieved=1, used=1, successes=1, failures=0, last_used=clock.now
    )
    count = store.count()
    store.close()

    with open_store(uri, clock) as reopened:
        again = ReasoningBank(reopened)
        item = again.get(item_id)
        assert item is not None
        assert item.stats == updated.stats
        assert (item.support, item.sources, item.tags) == (
            hit.item.support,
            hit.item.sources,
            hit.item.tags,
        )
        after = reopened.get(item_id)
        assert after is not None and after.created_at == before.created_at
        np.testing.assert_allclose(after.vector, before.vector, rtol=1e-6)  # vector kept
        assert reopened.count() == count  # replaced in place, no new row
        assert after.score == pytest.approx(2 / 3)  # Beta(1,1) posterior mean, mirrored


def test_feedback_is_one_commit(bank: ReasoningBank, store: MemoryStore) -> None:
    record_scenarios(bank)
    ids = [h.item.id for h in bank.recall("assert sum_to(3) == 6 for-range", k=5)]
    version = store.version()
    bank.feedback(ids, success=False)
    assert store.version() == version + 1
    assert all(i.stats.failures == 1 for i in map(bank.get, ids) if i is not None)


def test_items_that_keep_failing_lose_rank(bank: ReasoningBank) -> None:
    common = dict(fails=(), signature="KeyError: 'total'", features=("dict-ops", "counting"))
    bank.record(trajectory("a", win=("op:use-get",), **common))  # type: ignore[arg-type]
    bank.record(trajectory("b", win=("op:init-key",), **common))  # type: ignore[arg-type]
    query = "KeyError: 'total' in code with dict-ops, counting"
    top, second = bank.recall(query, k=2)
    assert top.similarity - second.similarity < 0.1  # a close race, decided by reliability

    for _ in range(3):
        bank.feedback([top.item.id], success=False)
    new_top, new_second = bank.recall(query, k=2)
    assert new_top.item.id == second.item.id
    assert new_second.item.id == top.item.id
    assert new_second.reliability == pytest.approx(1 / 5)
    assert new_second.similarity == pytest.approx(top.similarity, abs=1e-5)


# ---------------------------------------------------------------------- merge


def test_near_duplicate_is_merged_and_distinct_items_kept(
    bank: ReasoningBank, store: MemoryStore
) -> None:
    first = bank.record(trajectory("t1", fails=()))
    [strategy_id] = first.added_ids
    bank.feedback([strategy_id], success=True)

    dup = bank.record(
        trajectory("t2", fails=(), signature="AssertionError: assert sum_to(4) == 10")
    )
    assert dup.added_ids == () and dup.merged_ids == (strategy_id,)
    assert store.count("codegen", "strategy") == 1
    merged = bank.get(strategy_id)
    assert merged is not None
    assert (merged.support, merged.sources) == (2, ("t1", "t2"))
    assert (merged.stats.successes, merged.stats.used) == (1, 1)  # statistics survive

    other_tag = bank.record(trajectory("t3", fails=(), win=("op:init-accumulator",)))
    other_place = bank.record(
        trajectory(
            "t4",
            fails=(),
            signature="IndexError: string index out of range",
            features=("slicing", "string-ops"),
        )
    )
    assert len(other_tag.added_ids) == 1 and len(other_place.added_ids) == 1
    assert other_tag.merged_ids == other_place.merged_ids == ()
    assert store.count("codegen", "strategy") == 3


def test_merge_threshold_is_a_setting(store: MemoryStore) -> None:
    strict = ReasoningBank(store, settings=BankSettings(merge_threshold=1.0))
    strict.record(trajectory("t1", fails=()))
    report = strict.record(
        trajectory("t2", fails=(), signature="AssertionError: assert sum_to(4) == 10")
    )
    assert report.merged_ids == () and len(report.added_ids) == 1
    with pytest.raises(ValueError):
        BankSettings(merge_threshold=1.5)


# ---------------------------------------------------------------------- priors, prompt


def recalled(kind: ItemKind, tags: tuple[str, ...], rank: float, title: str = "t") -> RecalledItem:
    item = BankItem(
        id=f"{kind}-{title}",
        kind=kind,
        title=title,
        description="one line",
        content=f"content of {title} " * 3,
        tags=tags,
        context=ItemContext(),
        sources=("s",),
        support=1,
        stats=UsageStats(),
        created_at=T0,
    )
    return RecalledItem(item, similarity=rank, reliability=0.5, rank=rank)


def test_priors_signs_and_bounds(bank: ReasoningBank) -> None:
    tanh = ReasoningBank(bank.store, settings=BankSettings(prior_mode="tanh"))
    good = recalled(ItemKind.STRATEGY, ("op:a", "op:a@loop"), 0.8, "good")
    bad = recalled(ItemKind.PITFALL, ("op:b",), 0.6, "bad")
    weak = recalled(ItemKind.PITFALL, ("op:a",), 0.1, "weak")
    for b in (bank, tanh):
        priors = b.priors([good, bad, weak])
        assert priors["op:a"] > 0 and priors["op:a@loop"] > priors["op:a"]  # weak pitfall
        assert priors["op:b"] < 0
        assert b.priors([]) == {}

    many = [recalled(ItemKind.STRATEGY, ("op:a",), 1.0, str(i)) for i in range(50)]
    many += [recalled(ItemKind.PITFALL, ("op:b",), 1.0, str(i)) for i in range(50)]
    capped = ReasoningBank(
        bank.store, settings=BankSettings(prior_mode="tanh", prior_cap=0.5)
    ).priors(many)
    assert 0.45 < capped["op:a"] <= 0.5 and -0.5 <= capped["op:b"] < -0.45
    assert tanh.priors([good])["op:a"] < tanh.priors([good, good])["op:a"] < 1.0


def test_share_priors_keep_relative_frequencies(bank: ReasoningBank) -> None:
    often = [recalled(ItemKind.STRATEGY, ("op:a",), 0.5, f"a{i}") for i in range(3)]
    rarely = [recalled(ItemKind.STRATEGY, ("op:b",), 0.5, "b")]
    priors = bank.priors([*often, *rarely])
    assert priors["op:a"] == pytest.approx(3 * priors["op:b"])
    assert priors["op:a"] + priors["op:b"] == pytest.approx(bank.settings.prior_cap)
    # A pitfall on a tag takes evidence away from it; every boost stays within the cap.
    pit = recalled(ItemKind.PITFALL, ("op:a",), 0.5, "pit")
    mixed = bank.priors([*often, *rarely, pit])
    assert mixed["op:a"] < priors["op:a"]
    only_pitfalls = bank.priors([pit])
    assert -bank.settings.prior_cap <= only_pitfalls["op:a"] < 0
    assert all(abs(v) <= bank.settings.prior_cap for v in mixed.values())


def test_prompt_block_holds_titles_within_max_chars(bank: ReasoningBank) -> None:
    items = [
        recalled(ItemKind.STRATEGY, ("op:a",), 0.9, "widen the loop bound"),
        recalled(ItemKind.PITFALL, ("op:b",), 0.7, "swapping the arguments"),
        recalled(ItemKind.STRATEGY, ("op:c",), 0.5, "initialise the accumulator"),
    ]
    block = bank.prompt_block(items)
    lines = block.splitlines()
    assert lines[0] == "Relevant past strategies:"
    assert lines[1].startswith("- widen the loop bound:")  # best-ranked first
    assert lines[2].startswith("- initialise the accumulator:")
    assert lines[3] == "Pitfalls to avoid:" and "swapping the arguments" in lines[4]
    for limit in (0, 10, 60, 80, 120, 200, 400):
        assert len(bank.prompt_block(items, max_chars=limit)) <= limit
    assert bank.prompt_block(items, max_chars=10) == ""
    assert "widen the loop bound" in bank.prompt_block(items, max_chars=80)
    assert bank.prompt_block([]) == ""


# ---------------------------------------------------------------------- listing


def test_items_and_trajectories_listing(bank: ReasoningBank, clock: Clock) -> None:
    for i, name in enumerate(SCENARIOS):
        clock.now = T0 + timedelta(minutes=i)
        kw = SCENARIOS[name]
        bank.record(trajectory(name, fails=(), **kw))  # type: ignore[arg-type]
    assert [t.id for t in bank.trajectories(limit=2)] == ["zero", "recursion"]
    assert [i.sources[0] for i in bank.items()] == list(SCENARIOS)
    assert bank.items("pitfall") == []
    with pytest.raises(InvalidQueryError):
        bank.items("trajectory")
    with pytest.raises(InvalidQueryError):
        bank.trajectories(limit=0)


# ---------------------------------------------------------------------- bad input


def test_bad_input_is_refused_and_leaves_the_store_unchanged(
    bank: ReasoningBank, store: MemoryStore
) -> None:
    good = trajectory("t1")
    bank.record(good)
    [item_id, *_] = [i.id for i in bank.items()]
    count, version = store.count(), store.version()

    bad_trajectories = [
        replace(good, id="t2", steps=()),  # unfinished: no steps
        replace(good, id="t3", success=False),  # a step passed, marked failed
        replace(good, id="t4", steps=good.steps[:1]),  # marked solved, nothing passed
        replace(good, id="t5", context={"signature": object()}),  # not JSON
        replace(good, id="", task_id="x"),
        replace(good, id="t6", task="  "),
        good,  # recorded already
    ]
    for bad in bad_trajectories:
        with pytest.raises(InvalidTrajectoryError if bad is not good else DuplicateTrajectoryError):
            bank.record(bad)
    for query, kw in (("", {}), ("   ", {}), ("q", {"k": 0}), ("q", {"kinds": ("trajectory",)})):
        with pytest.raises(InvalidQueryError):
            bank.recall(query, **kw)
    with pytest.raises(UnknownItemError) as info:
        bank.feedback([item_id, "codegen:trajectory:t1", "nope"], success=False)
    assert info.value.ids == ["codegen:trajectory:t1", "nope"]
    with pytest.raises(ConfigError):  # every bank input error is a permanent config error
        bank.prompt_block([], max_chars=-1)

    assert (store.count(), store.version()) == (count, version)
    item = bank.get(item_id)
    assert item is not None and item.stats == UsageStats()
    assert bank.trajectories() == [good]


# ---------------------------------------------------------------------- context embedding, recency


def test_context_embedding_recalls_by_situation_not_by_wording(store: MemoryStore) -> None:
    from patterns.codegen.bank.settings import repair_bank_settings

    bank = ReasoningBank(store, settings=repair_bank_settings(recency_weight=0.0))
    # Same wording, different situations: the fix depends on how the failure looks.
    bank.record(
        trajectory(
            "off",
            win=("op:const-dec",),
            fails=(),
            features=("err:AssertionError", "shape:num:off-by-one", "hot:const"),
        )
    )
    bank.record(
        trajectory(
            "rev",
            win=("op:flip-reverse",),
            fails=(),
            features=("err:AssertionError", "shape:seq:reversed", "hot:call:sorted"),
        )
    )
    hits = bank.recall("err:AssertionError shape:seq:reversed hot:call:sorted", k=2)
    assert hits[0].item.primary_tag == "op:flip-reverse"
    assert hits[0].similarity > hits[1].similarity
    # the default ('item') embeds the whole text, so the shared wording dominates less cleanly
    assert bank.settings.embed == "context" and BankSettings().embed == "item"


def test_recency_ranks_the_recently_supported_item_first(store: MemoryStore) -> None:
    settings = BankSettings(
        embed="context",
        recency_weight=0.5,
        recency_half_life=1,
        reliability_weight=0.0,
        merge_threshold=1.0,
    )
    bank = ReasoningBank(store, settings=settings)
    same = ("err:IndexError", "hot:index")  # both fixes answer the same situation
    bank.record(trajectory("old", win=("op:old-fix",), fails=(), features=same))
    for i in range(4):  # later trajectories about something else age the first item
        bank.record(trajectory(f"x{i}", win=(f"op:other{i}",), fails=(), features=(f"err:E{i}",)))
    bank.record(trajectory("new", win=("op:new-fix",), fails=(), features=same))
    hits = bank.recall(" ".join(same), k=10)
    assert [h.item.primary_tag for h in hits[:2]] == ["op:new-fix", "op:old-fix"]
    assert hits[0].similarity == pytest.approx(hits[1].similarity)  # recency decided
    assert (hits[1].item.seq, hits[0].item.seq) == (0, 5)


def test_rank_weights_must_fit_in_one() -> None:
    with pytest.raises(ValueError, match="must not exceed 1"):
        BankSettings(reliability_weight=0.8, recency_weight=0.3)
