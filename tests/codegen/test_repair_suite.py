"""The repair suite: disjoint seeded split, verified distinct bugs, cache, progress."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from patterns.codegen.humaneval import load_problems
from patterns.codegen.repair.operators import SearchGenerator, apply_candidate
from patterns.codegen.repair.sandbox import run_tests
from patterns.codegen.repair.suite import (
    RepairSuite,
    build_suite,
    sample_problems,
    split,
)

PROBLEMS = sample_problems(12, seed=4)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RepairSuite, Path, list[tuple[int, int]]]:
    cache = tmp_path_factory.mktemp("suite") / "suite.json"
    calls: list[tuple[int, int]] = []
    suite = build_suite(
        seed=1,
        bugs_per_problem=2,
        problems=PROBLEMS,
        cache_path=cache,
        progress=lambda d, n: calls.append((d, n)),
    )
    return suite, cache, calls


def test_split_is_disjoint_and_seeded() -> None:
    ids = [p.task_id for p in load_problems()]
    train, heldout = split(ids, 0)
    assert not train & heldout
    assert train | heldout == set(ids)
    assert len(train) == len(heldout) == 82
    assert split(ids, 0) == (train, heldout)
    assert split(ids, 1) != (train, heldout)
    sub_train, sub_heldout = split(ids[:20], 0)
    assert sub_train == train & set(ids[:20]) and sub_heldout == heldout & set(ids[:20])


def test_suite_tasks_are_verified_distinct_bugs(
    built: tuple[RepairSuite, Path, list[tuple[int, int]]],
) -> None:
    suite, _cache, _calls = built
    assert suite.train and suite.heldout
    train_problems = {t.problem.task_id for t in suite.train}
    heldout_problems = {t.problem.task_id for t in suite.heldout}
    assert not train_problems & heldout_problems
    ids = [t.task_id for t in suite.tasks]
    assert len(ids) == len(set(ids))
    by_problem: dict[str, list[str]] = {}
    for task in suite.tasks:
        assert task.task_id.startswith(task.problem.task_id + "#b")
        assert task.buggy_source == task.truth.buggy_source != task.problem.source
        assert task.truth.failed >= 1
        assert "truth" not in repr(task)
        by_problem.setdefault(task.problem.task_id, []).append(task.truth.family)
    for families in by_problem.values():
        assert len(families) <= 2
        if len(families) == 2:
            assert families[0] != families[1]  # distinct families preferred (and available here)
    for task in suite.heldout[:4]:
        assert not run_tests(task.problem, task.buggy_source).passed


def test_cache_and_progress(built: tuple[RepairSuite, Path, list[tuple[int, int]]]) -> None:
    suite, cache, calls = built
    assert calls[-1] == (len(PROBLEMS), len(PROBLEMS))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert cache.exists()
    again = build_suite(seed=1, bugs_per_problem=2, problems=PROBLEMS, cache_path=cache)
    assert again == suite
    other = build_suite(seed=1, bugs_per_problem=1, problems=PROBLEMS[:2], cache_path=cache)
    assert all(t.task_id.endswith("#b0") for t in other.tasks)


def test_rebuild_is_deterministic(built: tuple[RepairSuite, Path, list[tuple[int, int]]]) -> None:
    suite, _cache, _calls = built
    subset = PROBLEMS[:3]
    rebuilt = build_suite(seed=1, bugs_per_problem=2, problems=subset)
    wanted = {p.task_id for p in subset}
    assert rebuilt.train == tuple(t for t in suite.train if t.problem.task_id in wanted)
    assert rebuilt.heldout == tuple(t for t in suite.heldout if t.problem.task_id in wanted)
    assert rebuilt.tasks


def test_exact_fix_among_candidates_for_suite_bugs(
    built: tuple[RepairSuite, Path, list[tuple[int, int]]],
) -> None:
    suite, _cache, _calls = built
    generator = SearchGenerator()
    hits = 0
    for task in suite.tasks:
        reference = ast.dump(ast.parse(task.problem.source))
        programs = {
            ast.dump(ast.parse(apply_candidate(task.buggy_source, c)))
            for c in generator.candidates(task.buggy_source, task.entry_point)
        }
        hits += reference in programs
    assert hits >= 0.8 * len(suite.tasks)
