"""Bug injection: determinism, every family, formatting preserved, only inside the entry-point body."""

from __future__ import annotations

import ast
import difflib
import random

import pytest

from patterns.codegen.humaneval import get_problem, load_problems
from patterns.codegen.repair.bugs import attempt_order, inject, mutants
from patterns.codegen.repair.exceptions import NoMutantError
from patterns.codegen.repair.sandbox import run_tests
from patterns.codegen.repair.sites import FAMILIES, body_statements, find_function, function_edits

# a problem with a failing mutant of each family
FAMILY_PROBLEMS = {
    "comparison-boundary": 3,
    "comparison-flip": 0,
    "arithmetic": 0,
    "range-bound": 15,
    "index-bound": 14,
    "boolean-op": 36,
    "negation": 12,
    "constant": 8,
    "return-value": 12,
    "min-max": 21,
}


def _changed_lines(before: str, after: str) -> list[int]:
    """1-based lines of ``before`` that differ in ``after`` (same line count assumed)."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    return [i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]


def test_every_family_has_a_problem() -> None:
    assert set(FAMILY_PROBLEMS) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_gives_a_failing_parseable_mutant(family: str) -> None:
    problem = get_problem(FAMILY_PROBLEMS[family])
    bug = inject(problem, 0, family=family)
    assert bug.family == family
    assert bug.task_id == problem.task_id
    ast.parse(bug.buggy_source)
    assert bug.buggy_source != problem.source
    outcome = run_tests(problem, bug.buggy_source)
    assert not outcome.passed and not outcome.timed_out
    assert outcome.failed == bug.failed >= 1
    # formatting preserved: exactly the reported line changed, nothing else
    assert _changed_lines(problem.source, bug.buggy_source) == [bug.line]
    assert f"line {bug.line}" in bug.description


def test_injection_is_deterministic_for_a_seed() -> None:
    problem = get_problem(0)
    assert inject(problem, 5) == inject(problem, 5)
    assert inject(problem, random.Random(9)) == inject(problem, random.Random(9))
    choices = {inject(problem, seed).buggy_source for seed in range(4)}
    assert len(choices) >= 2  # the seed matters


def test_attempt_order_visits_every_family_first() -> None:
    problem = get_problem(12)
    order = list(attempt_order(problem, random.Random(0)))
    round0 = [edit.family for round_, edit in order if round_ == 0]
    assert set(round0) == {e.family for e in mutants(problem)}
    assert len(order) == len(mutants(problem))


def test_problem_without_such_mutant_raises() -> None:
    problem = get_problem(23)  # ``return len(string)``: no site at all
    assert mutants(problem) == []
    with pytest.raises(NoMutantError):
        inject(problem, 0)
    with pytest.raises(ValueError):
        mutants(problem, "no-such-family")


def test_edits_stay_inside_the_entry_point_body() -> None:
    for problem in load_problems():
        tree = ast.parse(problem.source)
        func = find_function(tree, problem.entry_point)
        assert func is not None
        body = body_statements(func)
        if not body:
            continue
        first, last = body[0].lineno, func.end_lineno
        for edit in function_edits(problem.source, problem.entry_point):
            assert first <= edit.line <= (last or edit.line), (problem.task_id, edit)
            mutated = edit.apply(problem.source)
            assert mutated[: edit.start] == problem.source[: edit.start]
            assert mutated[edit.start + len(edit.replacement) :] == problem.source[edit.end :]


def test_every_edit_has_an_inverse_edit() -> None:
    """The operator set is closed under inversion: the fix of any mutant is itself an edit."""
    rng = random.Random(11)
    problems = rng.sample(list(load_problems()), 30)
    missing = []
    for problem in problems:
        reference = ast.dump(ast.parse(problem.source))
        for edit in function_edits(problem.source, problem.entry_point):
            mutated = edit.apply(problem.source)
            inverses = function_edits(mutated, problem.entry_point)
            if not any(ast.dump(ast.parse(e.apply(mutated))) == reference for e in inverses):
                missing.append((problem.task_id, edit.description))
    assert missing == [], missing[:5]


def test_description_names_the_change() -> None:
    problem = get_problem(0)
    bug = inject(problem, 0, family="comparison-flip")
    diff = [
        line
        for line in difflib.unified_diff(
            problem.source.splitlines(), bug.buggy_source.splitlines(), lineterm="", n=0
        )
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    ]
    assert len(diff) == 2
    assert bug.description.startswith("comparison-flip at line ")
