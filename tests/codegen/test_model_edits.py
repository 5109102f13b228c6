"""Edits from a plain-completion model: the prompt, parsing real-looking replies, the agent path."""

from __future__ import annotations

import pytest

from patterns.codegen.agent import AgentSettings, RepairAgent
from patterns.codegen.edits import EditEngine, EditFormat
from patterns.codegen.humaneval import get_problem
from patterns.codegen.model_edits import (
    SEARCH_MARK,
    CompletionEditGenerator,
    completion_prompt,
    literal_application,
    parse_completion,
)
from patterns.codegen.records import TestOutcome
from patterns.codegen.repair.suite import RepairTask

FAIL = TestOutcome(
    passed=False,
    total=3,
    failed=3,
    error_type="AssertionError",
    error_message="assert f(1) == 2",
    shapes=("num:off-by-one",),
)


def test_prompt_ends_where_the_block_starts_and_carries_memory() -> None:
    prompt = completion_prompt("def f(x):\n    return x\n", FAIL, "- op:const-inc fixes it")
    assert prompt.endswith(f"### Fix\n{SEARCH_MARK}")
    assert "num:off-by-one" in prompt and "op:const-inc fixes it" in prompt
    assert "What fixed similar failures" not in completion_prompt("x = 1\n", FAIL)


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ("    return x\n=======\n    return x + 1\n", True),
        ("    return x\n=======\n    return x + 1\n>>>>>>> REPLACE\nmore text", True),
        ("    return x\n", False),  # no divider: the model stopped early
        ("=======\n    return 1\n", False),  # empty search
    ],
)
def test_parse_completion(reply: str, parsed: bool) -> None:
    block = parse_completion(reply)
    assert (block is not None) == parsed
    if block is not None:
        source = "def f(x):\n    return x\n"
        assert literal_application(source, block) == "def f(x):\n    return x + 1\n"
        merged = EditEngine().merge(source, block, EditFormat.SEARCH_REPLACE, language="python")
        assert merged.text == literal_application(source, block)


def test_literal_application_needs_a_unique_search() -> None:
    block = parse_completion("    y = 1\n=======\n    y = 2\n")
    assert block is not None
    assert literal_application("def f():\n    y = 1\n    y = 1\n", block) is None
    assert literal_application("def f():\n    z = 1\n", block) is None


def test_agent_tries_the_models_edit_first() -> None:
    problem = get_problem(53)  # add(x, y)
    buggy = problem.source.replace("return x + y", "return x - y", 1)
    prompts: list[str] = []

    async def complete(prompt: str) -> str:
        prompts.append(prompt)
        return "    return x - y\n=======\n    return x + y\n"

    from patterns.codegen.repair.bugs import InjectedBug

    truth = InjectedBug(problem.task_id, buggy, "arithmetic", 0, "test fixture")
    task = RepairTask(f"{problem.task_id}#t", problem, buggy, truth)
    agent = RepairAgent(
        None,
        model_generator=CompletionEditGenerator(complete, "fake"),
        settings=AgentSettings(budget=2),
    )
    episode = agent.solve(task, learn=False)
    assert episode.success and episode.attempts == 1
    win = episode.trajectory.winning_step
    assert win is not None and "model:fake" in win.tags
    assert len(prompts) == 1 and "return x - y" in prompts[0]
