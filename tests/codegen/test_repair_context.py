"""What the sandbox tells about a failure (shape, traceback) and the retrieval context built on it."""

from __future__ import annotations

import dataclasses

import pytest

from patterns.codegen.humaneval import get_problem
from patterns.codegen.records import TestOutcome
from patterns.codegen.repair._harness import failure_shape
from patterns.codegen.repair.context import context_query, failure_context
from patterns.codegen.repair.operators import site_features
from patterns.codegen.repair.sandbox import run_tests


@pytest.mark.parametrize(
    ("actual", "expected", "token"),
    [
        (True, False, "bool:inverted"),
        (None, 3, "none-returned"),
        (4, 3, "num:off-by-one"),
        (4, 3, "num:too-high"),
        (-3, 3, "num:negated"),
        ([3, 2, 1], [1, 2, 3], "seq:reversed"),
        ([2, 1, 3], [1, 2, 3], "seq:permuted"),
        ([1, 2, 3, 4], [1, 2, 3], "seq:one-extra"),
        ([1, 2, 3, 4], [1, 2, 3], "seq:contains-expected"),
        ([], [1], "seq:empty-for-nonempty"),
        ("cba", "abc", "str:seq:reversed"),
        ([2, 3, 4], [1, 2, 3], "seq:items-off-by-one"),
        (1.5, [1], "type:float-for-list"),
        ({"a": 1}, {"a": 2}, "dict:values-differ"),
    ],
)
def test_failure_shape_names_how_a_value_differs(
    actual: object, expected: object, token: str
) -> None:
    assert token in failure_shape(actual, expected)


def test_failure_shape_never_raises() -> None:
    class Weird(list):  # type: ignore[type-arg]
        def __len__(self) -> int:
            raise RuntimeError("no length")

    assert failure_shape(Weird([1]), Weird([2])) == ["other"]


def _mutated(number: int, old: str, new: str) -> tuple[object, str]:
    problem = get_problem(number)
    assert old in problem.source, f"fixture drifted: {old!r} not in HumanEval/{number}"
    return problem, problem.source.replace(old, new, 1)


def test_sandbox_reports_the_shape_of_an_off_by_one_result() -> None:
    # HumanEval/53 add(x, y): returning x + y + 1 is off by one on every assertion
    problem, source = _mutated(53, "return x + y", "return x + y + 1")
    outcome = run_tests(problem, source)  # type: ignore[arg-type]
    assert not outcome.passed
    assert outcome.shapes[:2] == ("num:off-by-one", "num:too-high")
    assert outcome.fault_line == 0  # no exception


def test_sandbox_reports_the_traceback_line_of_an_exception() -> None:
    problem, source = _mutated(53, "return x + y", "return [x][y]")
    outcome = run_tests(problem, source)  # type: ignore[arg-type]
    assert outcome.error_type == "IndexError"
    assert "raised:IndexError" in outcome.shapes
    line = source.splitlines()[outcome.fault_line - 1]
    assert "return [x][y]" in line and outcome.fault_depth == 1


def test_failure_context_carries_shape_traceback_hot_syntax_and_features() -> None:
    problem, source = _mutated(53, "return x + y", "return [x][y]")
    spectrum = run_tests(problem, source, coverage=True)  # type: ignore[arg-type]
    features = site_features(source, "add")
    tokens = failure_context(source, "add", spectrum.outcome, spectrum, features)
    assert tokens[0] == "err:IndexError" and tokens[1] in ("fail:all", "fail:most")
    assert "shape:raised:IndexError" in tokens
    assert "msg:list-index-out-of-range" in tokens
    assert "tb:return" in tokens and "hot:index" in tokens
    assert all(f"code:{f}" in tokens for f in features)
    # an assertion's text (the problem's own test) never enters the context
    failing = TestOutcome(
        passed=False,
        total=4,
        failed=1,
        error_type="AssertionError",
        error_message="assert candidate(2, 3) == 5",
        shapes=("num:far",),
    )
    tokens = failure_context(source, "add", failing)
    assert tokens == (
        "err:AssertionError",
        "fail:some",
        "shape:num:far",
        *(f"code:{f}" for f in ()),
    )
    assert "candidate" not in context_query(tokens)
    assert dataclasses.is_dataclass(failing)
