"""Two-site bugs and the stepwise agent that keeps partial fixes."""

from __future__ import annotations

from patterns.codegen.agent import AgentSettings, RepairAgent, improves
from patterns.codegen.humaneval import get_problem
from patterns.codegen.records import TestOutcome
from patterns.codegen.repair.bugs import InjectedBug, mutants
from patterns.codegen.repair.multisite import combine, site_edit_of, two_site_tasks
from patterns.codegen.repair.sandbox import run_tests
from patterns.codegen.repair.suite import RepairTask


def _task(number: int, old: str, new: str, tag: str) -> RepairTask:
    problem = get_problem(number)
    assert old in problem.source, f"fixture drifted: {old!r} not in HumanEval/{number}"
    source = problem.source.replace(old, new, 1)
    truth = InjectedBug(problem.task_id, source, "fixture", 0, tag)
    return RepairTask(f"{problem.task_id}#{tag}", problem, source, truth)


def test_improves_needs_fewer_failures_of_the_same_tests() -> None:
    base = TestOutcome(passed=False, total=5, failed=4)
    assert improves(TestOutcome(passed=False, total=5, failed=2), base)
    assert not improves(TestOutcome(passed=False, total=5, failed=4), base)
    assert not improves(TestOutcome(passed=False, total=3, failed=1), base)  # other tests ran
    assert not improves(TestOutcome(passed=False, total=5, failed=1, timed_out=True), base)


def test_two_mutations_are_combined_verified_and_fixed_stepwise() -> None:
    # HumanEval/0 has_close_elements: two boundary/flip mutations on different lines
    problem = get_problem(0)
    edits = [e for e in mutants(problem) if e.operator in ("flip-comparison", "negate-comparison")]
    first, second = next(
        (a, b) for a in edits for b in edits if a.line != b.line and a.end <= b.start
    )
    tasks = [
        RepairTask(
            f"{problem.task_id}#b{i}",
            problem,
            e.apply(problem.source),
            InjectedBug(problem.task_id, e.apply(problem.source), e.family, e.line, "x"),
        )
        for i, e in enumerate((first, second))
    ]
    assert site_edit_of(tasks[0]) == first
    both = combine(tasks[0], tasks[1])
    assert both is not None and both == second.apply(first.apply(problem.source))
    assert combine(tasks[0], tasks[0]) is None  # same line
    [multi] = two_site_tasks(tasks)
    assert multi.buggy_source == both and not run_tests(problem, both).passed
    single = RepairAgent(None, settings=AgentSettings(budget=10)).solve(multi, learn=False)
    assert not single.success  # no single edit fixes two mutations
    stepwise = RepairAgent(None, settings=AgentSettings(budget=10, stepwise=True))
    episode = stepwise.solve(multi, learn=False)
    adopted = [s for s in episode.trajectory.steps if s.adopted]
    assert episode.success, [s.description for s in episode.trajectory.steps]
    assert adopted and run_tests(problem, episode.trajectory.final_source).passed
    assert all(s.outcome is not None and not s.outcome.passed for s in adopted)
