"""The repair agent end to end: real sandbox, real edit engine, real LanceDB bank."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path

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
    store = MemoryStore(MemorySettings(uri=str(tmp_path / "db"), dim=DIM), HashingEmbedder(DIM))
    yield ReasoningBank(store)
    store.close()


def _all_tasks(suite: RepairSuite) -> list[RepairTask]:
    return [*suite.train, *suite.heldout]


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="budget"):
        AgentSettings(budget=0)
    with pytest.raises(ConfigError, match="timeout_s"):
        AgentSettings(timeout_s=0)


def test_agent_never_reads_ground_truth() -> None:
    # The agent's code names neither the task's truth nor the canonical solution.
    source = inspect.getsource(inspect.getmodule(RepairAgent))  # type: ignore[arg-type]
    assert ".truth" not in source and "canonical_solution" not in source


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


def test_query_names_failure_and_features(suite: RepairSuite) -> None:
    episode = RepairAgent(None, settings=AgentSettings(budget=1)).solve(suite.train[0])
    query = str(episode.trajectory.context["query"])
    assert episode.first_outcome.signature.split(":")[0] in query
    assert query == build_query(
        episode.trajectory.task,
        episode.first_outcome,
        list(episode.trajectory.context["features"]),
    )
    assert dataclasses.is_dataclass(episode)


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
