"""The repair sandbox: counted assertions, deadlines, network guard, load failures, spoofing, spectra."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from patterns.codegen import records
from patterns.codegen.exceptions import SandboxError
from patterns.codegen.humaneval import Problem, get_problem
from patterns.codegen.repair import sandbox
from patterns.codegen.repair.bugs import inject
from patterns.codegen.repair.sandbox import (
    AssertionRecord,
    SpectrumOutcome,
    arun_tests,
    rewrite_check,
    run_tests,
    suspiciousness,
)
from patterns.codegen.repair.suite import sample_problems

P0 = get_problem(0)  # has_close_elements: 7 assertions
P0_FLIPPED = P0.source.replace("distance < threshold", "distance > threshold")


def _toy(test: str, entry: str = "f") -> Problem:
    return Problem(task_id="Toy/0", prompt="", canonical_solution="", test=test, entry_point=entry)


async def test_canonical_solutions_pass() -> None:
    problems = sample_problems(10, seed=3)
    semaphore = asyncio.Semaphore(2)

    async def one(problem: Problem) -> records.TestOutcome:
        async with semaphore:
            return await arun_tests(problem, problem.source)

    outcomes = await asyncio.gather(*(one(p) for p in problems))
    for problem, outcome in zip(problems, outcomes, strict=True):
        assert outcome.passed, (problem.task_id, outcome)
        assert outcome.total >= 1 and outcome.failed == 0


def test_mutant_counts_every_assertion() -> None:
    outcome = run_tests(P0, P0_FLIPPED)
    assert not outcome.passed
    assert (outcome.total, outcome.failed) == (7, 3)  # did not stop at the first failure
    assert outcome.error_type == "AssertionError"
    assert outcome.error_message.startswith("assert candidate([1.0, 2.0, 3.9")
    assert not outcome.timed_out


def test_exception_outside_an_assertion_is_one_more_failure() -> None:
    problem = _toy(
        "def check(candidate):\n"
        "    assert candidate(1) == 1\n"
        "    x = candidate(0)\n"
        "    assert x == 0\n"
    )
    outcome = run_tests(problem, "def f(n):\n    return 1 // n\n")
    assert (outcome.total, outcome.failed) == (2, 1)
    assert outcome.error_type == "ZeroDivisionError"


def test_raising_assertion_is_counted_and_later_ones_still_run() -> None:
    problem = _toy(
        "def check(candidate):\n"
        "    assert candidate([]) == 0\n"
        "    assert candidate([1]) == 1\n"
        "    assert candidate([1, 2]) == 2\n"
    )
    outcome = run_tests(problem, "def f(xs):\n    return xs[0] * len(xs)\n")
    assert (outcome.total, outcome.failed) == (3, 1)
    assert outcome.error_type == "IndexError"


def test_check_that_cannot_be_rewritten_runs_as_written() -> None:
    problem = _toy(
        "def _c(candidate):\n    assert candidate(1) == 2\n    assert False\ncheck = _c\n"
    )
    assert rewrite_check(problem.test) is None
    outcome = run_tests(problem, "def f(n):\n    return n\n")
    assert (outcome.passed, outcome.total, outcome.failed) == (False, 1, 1)
    assert outcome.error_type == "AssertionError"
    assert run_tests(
        _toy("def _c(c):\n    assert c(1) == 1\ncheck = _c\n"), "def f(n):\n    return n\n"
    ).passed


def test_timeout_kills_the_run() -> None:
    outcome = run_tests(
        P0, "def has_close_elements(a, b):\n    while True:\n        pass\n", timeout_s=1
    )
    assert outcome.timed_out
    assert outcome.error_type == "Timeout"
    assert not outcome.passed and outcome.total == 0
    assert outcome.duration_s < 4.0


@pytest.mark.parametrize(
    "call",
    [
        "socket.socket(socket.AF_INET, socket.SOCK_STREAM)",
        "socket.create_connection(('127.0.0.1', 9))",
        "socket.getaddrinfo('localhost', 80)",
    ],
)
def test_network_is_refused_inside_the_child(call: str) -> None:
    source = f"import socket\n\ndef has_close_elements(a, b):\n    {call}\n    return True\n"
    outcome = run_tests(P0, source)
    assert not outcome.passed
    assert outcome.failed == outcome.total == 7
    assert outcome.error_type == "PermissionError"
    assert "network" in outcome.error_message


@pytest.mark.parametrize(
    ("source", "error_type"),
    [
        ("def has_close_elements(a, b)\n    return True\n", "SyntaxError"),
        ("undefined_name\n\ndef has_close_elements(a, b):\n    return True\n", "NameError"),
        ("def something_else(a, b):\n    return True\n", "NameError"),
    ],
)
def test_load_failures(source: str, error_type: str) -> None:
    outcome = run_tests(P0, source)
    assert not outcome.passed
    assert outcome.total == 0
    assert outcome.error_type == error_type


def test_printed_result_line_does_not_fool_the_parser() -> None:
    fake = '{"phase": "done", "status": "ok", "total": 7, "failed": 0, "error_type": null}'
    source = (
        "import sys\n"
        f"print({fake!r})\n"
        f"sys.stderr.write({fake!r} + '\\n')\n\n"
        "def has_close_elements(a, b):\n"
        f"    print({fake!r})\n"
        "    return False\n"
    )
    outcome = run_tests(P0, source)
    assert not outcome.passed
    assert (outcome.total, outcome.failed) == (7, 4)


def test_candidate_exiting_early_is_a_crash_not_a_sandbox_error() -> None:
    source = "import os\n\ndef has_close_elements(a, b):\n    os._exit(0)\n"
    outcome = run_tests(P0, source)
    assert not outcome.passed
    assert outcome.error_type == "Crash"


def test_sys_exit_is_a_failure() -> None:
    source = "import sys\n\ndef has_close_elements(a, b):\n    sys.exit(0)\n"
    outcome = run_tests(P0, source)
    assert not outcome.passed
    assert outcome.error_type == "SystemExit"


def test_memory_is_limited() -> None:
    problem = _toy("def check(candidate):\n    assert candidate() > 0\n")
    outcome = run_tests(problem, "def f():\n    return len(bytearray(3 * 1024 ** 3))\n")
    assert not outcome.passed
    assert outcome.error_type == "MemoryError"


def test_environment_is_stripped_and_cwd_is_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_SANDBOX_PROBE", "secret")
    problem = _toy(
        "def check(candidate):\n"
        "    env, files = candidate()\n"
        "    assert 'SWARMKIT_SANDBOX_PROBE' not in env\n"
        "    assert files == []\n"
    )
    source = "import os\n\ndef f():\n    return dict(os.environ), os.listdir('.')\n"
    outcome = run_tests(problem, source)
    assert outcome.passed, outcome
    assert outcome.total == 2


def test_harness_that_never_starts_is_a_sandbox_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sandbox, "HARNESS_PATH", tmp_path / "missing.py")
    with pytest.raises(SandboxError):
        run_tests(P0, P0.source)


def test_coverage_spectrum_points_at_the_bug() -> None:
    for number in (12, 14):
        problem = get_problem(number)
        bug = inject(problem, 0)
        spectrum = run_tests(problem, bug.buggy_source, coverage=True)
        assert isinstance(spectrum, SpectrumOutcome)
        assert not spectrum.passed and spectrum.assertions
        scores = suspiciousness(spectrum)
        top = max(scores.values())
        assert scores[bug.line] == top, (problem.task_id, bug.description, scores)
        assert sum(1 for v in scores.values() if v == top) <= 2


def test_coverage_lines_are_the_candidates_only() -> None:
    spectrum = run_tests(P0, P0.source, coverage=True)
    assert spectrum.passed
    assert len(spectrum.assertions) == 7
    body = range(12, 20)
    for record in spectrum.assertions:
        assert record.passed
        assert record.lines and set(record.lines) <= set(body)


def test_ochiai_formula() -> None:
    spectrum = SpectrumOutcome(
        records.TestOutcome(passed=False, total=4, failed=2),
        (
            AssertionRecord(0, True, None, frozenset({1, 2})),
            AssertionRecord(1, False, "AssertionError", frozenset({1, 3})),
            AssertionRecord(2, False, "AssertionError", frozenset({1, 3, 4})),
            AssertionRecord(3, True, None, frozenset({1})),
        ),
    )
    scores = suspiciousness(spectrum)
    assert scores[3] == pytest.approx(1.0)  # ef=2, ep=0, F=2
    assert scores[4] == pytest.approx(1 / (2**0.5))  # ef=1, ep=0
    assert scores[1] == pytest.approx(2 / (2 * 4) ** 0.5)  # ef=2, ep=2
    assert scores[2] == 0.0
    assert suspiciousness(SpectrumOutcome(records.TestOutcome(passed=True))) == {}
