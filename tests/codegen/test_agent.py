"""The repair agent end to end: real sandbox, real edit engine, real LanceDB bank."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patterns.codegen.agent import AgentSettings, RepairAgent, build_query, episode_row
from patterns.codegen.bank import ReasoningBank
from patterns.codegen.humaneval import get_problem
from patterns.codegen.repair.suite import RepairSuite, RepairTask, build_suite
from patterns.core.exceptions import ConfigError
from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

DIM = 64
PROBLEMS = [get_problem(n) for n in range(0, 30, 3)]  # ten problems, split in halves


@pytest.fixture(scope="module")
def suite() -> RepairSuite:
    return build_suite(seed=0, bugs_per_problem=1, problems=PROBLEMS)


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[ReasoningBank]:
    store = MemoryStore(
        MemorySettings(create_if_missing=True, uri=str(tmp_path / "db"), dim=DIM),
        HashingEmbedder(DIM),
    )
    yield ReasoningBank(store)
    store.close()


def _all_tasks(suite: RepairSuite) -> list[RepairTask]:
    return [*suite.train, *suite.heldout]


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="budget"):
        AgentSettings(budget=0)
    with pytest.raises(ConfigError, match="timeout_s"):
        AgentSettings(timeout_s=0)


class _Untouchable:
    """Stands in for a task's ground truth: reading anything of it fails the test."""

    def __getattribute__(self, name: str) -> Any:
        raise AssertionError(f"the agent read the task's ground truth (.{name})")

    def __str__(self) -> str:
        raise AssertionError("the agent formatted the task's ground truth")

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        raise AssertionError("the agent compared the task's ground truth")

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise AssertionError("the agent tested the task's ground truth")


def _blinded(task: RepairTask, *, raising: bool) -> RepairTask:
    """``task`` with its truth and the canonical solution removed or poisoned.

    ``raising``: the truth raises on any use; otherwise it holds plausible but wrong
    values (another line, family and operator) and the canonical solution is a body
    that fails every test, so an agent reading either would act differently.
    """
    truth: Any
    if raising:
        truth = _Untouchable()
    else:
        real = task.truth
        truth = dataclasses.replace(
            real,
            buggy_source="def poisoned():\n    pass\n",
            family="poisoned-family",
            line=max(1, real.line + 7),
            description="poisoned: line 1: `+` -> `-`",
            operator="poisoned-operator",
        )
    problem = dataclasses.replace(
        task.problem, canonical_solution="    raise AssertionError('poisoned canonical body')\n"
    )
    return dataclasses.replace(task, problem=problem, truth=truth)


def _behaviour(episode: Any) -> tuple[Any, ...]:
    t = episode.trajectory
    return (
        t.task,
        t.context["query"],
        t.success,
        t.attempts,
        t.final_source,
        episode.candidates,
        tuple((s.edit, s.format, s.applied, s.outcome and s.outcome.signature) for s in t.steps),
        tuple(r.item.id for r in episode.recalled),
    )


@pytest.mark.parametrize("raising", [True, False], ids=["truth-removed", "truth-poisoned"])
def test_agent_acts_the_same_without_the_ground_truth(
    suite: RepairSuite, bank: ReasoningBank, raising: bool
) -> None:
    # Behavioural: the same episodes with the truth and the canonical solution taken away or
    # replaced by lies. An agent that peeked (by any spelling: getattr, vars, a helper module)
    # would crash on the removed truth or be steered by the poisoned one.
    tasks = _all_tasks(suite)
    blind = RepairAgent(None, settings=AgentSettings(budget=4))
    for task in tasks[:4]:
        assert _behaviour(blind.solve(_blinded(task, raising=raising))) == _behaviour(
            blind.solve(task)
        )
    RepairAgent(bank, settings=AgentSettings(budget=10)).solve(suite.train[0])  # a memory
    recalling = RepairAgent(bank, settings=AgentSettings(budget=4, learn=False))
    task = suite.heldout[0]
    with_memory = recalling.solve(task)
    assert with_memory.recalled, "the bank path must be exercised too"
    assert _behaviour(recalling.solve(_blinded(task, raising=raising))) == _behaviour(with_memory)


def test_episode_repairs_a_bug_and_records_every_attempt(suite: RepairSuite) -> None:
    agent = RepairAgent(None, settings=AgentSettings(budget=10))
    tasks = _all_tasks(suite)[:4]
    episodes = [agent.solve(task) for task in tasks]
    assert any(e.success for e in episodes)
    for task, episode in zip(tasks, episodes, strict=True):
        t = episode.trajectory
        assert not episode.first_outcome.passed  # the injected bug fails its tests
        assert 1 <= t.attempts <= 10
        assert [s.index for s in t.steps] == list(range(t.attempts))
        if t.success:
            win = t.winning_step
            assert win is not None and win is t.steps[-1]
            assert win.outcome is not None and win.outcome.passed
            assert t.final_source != task.buggy_source
            compile(t.final_source, "<fixed>", "exec")
        else:
            assert t.final_source == task.buggy_source
            assert t.attempts == 10 and all(not s.succeeded for s in t.steps)
        row = episode_row(episode)
        assert row["solved"] == t.success and row["attempts"] == t.attempts


def test_budget_caps_attempts(suite: RepairSuite) -> None:
    agent = RepairAgent(None, settings=AgentSettings(budget=1))
    for task in _all_tasks(suite)[:3]:
        episode = agent.solve(task)
        assert episode.attempts == 1
        assert episode.success == episode.solved_within(1)


def test_learning_stores_trajectories_and_distils_items(
    suite: RepairSuite, bank: ReasoningBank
) -> None:
    agent = RepairAgent(bank, settings=AgentSettings(budget=10))
    episodes = [agent.solve(task) for task in suite.train[:3]]
    stats = bank.stats()
    assert stats.trajectories == 3
    assert stats.strategies >= sum(e.success for e in episodes) > 0
    frozen = RepairAgent(bank, settings=AgentSettings(budget=10, learn=False))
    frozen.solve(suite.heldout[0])
    assert bank.stats().trajectories == 3  # evaluation does not learn


def test_a_learned_strategy_moves_the_fix_forward(suite: RepairSuite, bank: ReasoningBank) -> None:
    # Tasks the empty-bank agent solves, but not at its first attempt.
    cold = RepairAgent(None, settings=AgentSettings(budget=10))
    slow = [(t, e) for t in _all_tasks(suite) if (e := cold.solve(t)).success and e.attempts > 1]
    assert slow, "the fixture suite should have a bug the baseline ranks late"
    task, before = slow[0]
    RepairAgent(bank, settings=AgentSettings(budget=10)).solve(task)  # one stored trajectory
    after = RepairAgent(bank, settings=AgentSettings(budget=10, learn=False)).solve(task)
    assert after.recalled, "the stored strategy should be recalled for the same failure"
    assert after.success and after.attempts < before.attempts


def test_query_is_the_failure_context_not_the_task_wording(suite: RepairSuite) -> None:
    episode = RepairAgent(None, settings=AgentSettings(budget=1)).solve(suite.train[0])
    context = episode.trajectory.context
    query = str(context["query"])
    outcome = episode.first_outcome
    assert query == build_query(list(context["features"]))
    assert query.startswith(f"err:{outcome.error_type}")
    assert all(f"shape:{s}" in query for s in outcome.shapes[:2])
    assert context["code_features"] and "code:" not in query  # features kept, not a recall key
    assert any(t.startswith("hot:") for t in context["features"])
    assert episode.trajectory.task not in query  # the problem's wording is no recall key


def test_fixed_priors_reorder_candidates_without_a_bank(suite: RepairSuite) -> None:
    task = suite.train[0]
    plain = RepairAgent(None, settings=AgentSettings(budget=3)).solve(task)
    second = plain.trajectory.steps[1] if plain.attempts > 1 else None
    if second is None:  # solved at once: push something else first instead
        tags = {t for t in plain.trajectory.steps[0].tags if t.startswith("op:")}
        prior = {t: -5.0 for t in tags}
        moved = RepairAgent(None, settings=AgentSettings(budget=3), fixed_priors=prior).solve(task)
        assert moved.trajectory.steps[0].candidate_id != plain.trajectory.steps[0].candidate_id
        return
    op = next(t for t in second.tags if t.startswith("op:"))
    moved = RepairAgent(None, settings=AgentSettings(budget=3), fixed_priors={op: 5.0}).solve(task)
    assert op in moved.trajectory.steps[0].tags


def test_model_proposals_are_tried_first_and_see_the_recalled_memories(
    suite: RepairSuite, bank: ReasoningBank
) -> None:
    from patterns.codegen.bank import ModelEditGenerator
    from patterns.consensus_router import Question
    from tests.codegen.test_bank_model import pool_of

    task = suite.heldout[0]
    # A "model" that knows the fix (it reads the canonical program): the agent must try it
    # first, through the edit engine and the sandbox, with the bank's memories in its prompt.
    RepairAgent(bank, settings=AgentSettings(budget=10)).solve(suite.train[0])
    prompts: list[str] = []

    def oracle(question: Question) -> str:
        prompts.append(question.text)
        fixed = task.problem.source
        edit = _whole_body_edit(task.buggy_source, fixed)
        return json.dumps({"format": "search_replace", "edit": edit, "rationale": "oracle"})

    generator = ModelEditGenerator(pool_of({"oracle": oracle}), ["oracle"])
    agent = RepairAgent(bank, model_generator=generator, settings=AgentSettings(budget=3))
    episode = agent.solve(task, learn=False)
    assert episode.success and episode.attempts == 1
    win = episode.trajectory.winning_step
    assert win is not None and "model:oracle" in win.tags
    assert prompts and episode.recalled
    assert "Relevant past strategies" in prompts[0] or "Pitfalls to avoid" in prompts[0]


def _whole_body_edit(buggy: str, fixed: str) -> str:
    """A SEARCH/REPLACE block from the first to the last differing line."""
    a, b = buggy.splitlines(keepends=True), fixed.splitlines(keepends=True)
    lo = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    hi = 0
    while a[len(a) - 1 - hi] == b[len(b) - 1 - hi]:
        hi += 1
    return (
        "<<<<<<< SEARCH\n"
        + "".join(a[lo : len(a) - hi])
        + "=======\n"
        + "".join(b[lo : len(b) - hi])
        + ">>>>>>> REPLACE\n"
    )
