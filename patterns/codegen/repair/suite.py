"""The seeded HumanEval program-repair suite: verified bugs, split by problem into train and held-out.

``build_suite(seed)`` shuffles all 164 task ids with ``random.Random(seed)``; the
first half are training problems, the rest held out, so no problem is in both
(a subset of problems keeps the membership it has in the full split). Each
problem then gets up to ``bugs_per_problem`` verified bugs
(:func:`patterns.codegen.repair.bugs.ainject_many`, different families first);
problems whose canonical solution fails its own tests in the sandbox are skipped.
Verification runs every mutant in the sandbox, so building all problems takes a
while: pass ``progress`` and a ``cache_path`` (JSON, keyed by the seed, the
parameters and a hash of the problems) to reuse a built suite.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patterns.codegen.humaneval import Problem, load_problems
from patterns.codegen.repair.bugs import VERIFY_TIMEOUT_S, InjectedBug, ainject_many
from patterns.codegen.repair.sandbox import arun_tests

SUITE_FORMAT = 1  # bump when the cache layout or the bug engine changes
Progress = Callable[[int, int], None]  # (problems done, problems total)


@dataclass(frozen=True, slots=True)
class RepairTask:
    """One repair task: a problem whose canonical solution carries one injected bug.

    Attributes:
        task_id: ``HumanEval/12#b0``.
        problem: the problem (its ``source`` is the fixed program: evaluation only).
        buggy_source: the program to repair.
        truth: the injected bug, ground truth for evaluation only; a generator or an
            agent must never read it.
    """

    task_id: str
    problem: Problem
    buggy_source: str
    truth: InjectedBug = field(repr=False)

    @property
    def entry_point(self) -> str:
        return self.problem.entry_point

    @property
    def statement(self) -> str:
        """The task as an agent reads it (no ground truth)."""
        return (
            f"The function `{self.problem.entry_point}` ({self.problem.description}) fails its "
            "tests. Find and fix the bug with a minimal edit."
        )


@dataclass(frozen=True, slots=True)
class RepairSuite:
    """Train and held-out tasks (disjoint problems).

    Attributes:
        train: tasks of the training problems.
        heldout: tasks of the held-out problems.
        seed: the seed it was built with.
        bugs_per_problem: the requested bugs per problem.
        skipped: problems whose canonical solution failed in the sandbox.
    """

    train: tuple[RepairTask, ...]
    heldout: tuple[RepairTask, ...]
    seed: int = 0
    bugs_per_problem: int = 2
    skipped: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[RepairTask, ...]:
        return self.train + self.heldout


def dataset_hash(problems: Sequence[Problem]) -> str:
    """SHA-256 over every problem's id, source, test and entry point."""
    digest = hashlib.sha256()
    for problem in problems:
        for part in (problem.task_id, problem.source, problem.test, problem.entry_point):
            digest.update(part.encode())
            digest.update(b"\0")
    return digest.hexdigest()


def split(task_ids: Sequence[str], seed: int) -> tuple[set[str], set[str]]:
    """Seeded half/half split of the full HumanEval id list, restricted to ``task_ids``."""
    universe = sorted({p.task_id for p in load_problems()} | set(task_ids))
    random.Random(seed).shuffle(universe)
    train_ids = set(universe[: len(universe) // 2])
    wanted = set(task_ids)
    return wanted & train_ids, wanted - train_ids


def sample_problems(n: int, seed: int = 0) -> tuple[Problem, ...]:
    """``n`` problems drawn with ``random.Random(seed)`` (for fast suites in tests)."""
    problems = list(load_problems())
    return tuple(sorted(random.Random(seed).sample(problems, n), key=lambda p: p.number))


def _cache_key(
    seed: int, bugs_per_problem: int, problems: Sequence[Problem], timeout_s: float
) -> str:
    text = json.dumps(
        [SUITE_FORMAT, seed, bugs_per_problem, timeout_s, dataset_hash(problems)], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _task_dict(task: RepairTask, part: str) -> dict[str, Any]:
    truth = task.truth
    return {
        "task_id": task.task_id,
        "split": part,
        "problem": task.problem.task_id,
        "buggy_source": task.buggy_source,
        "family": truth.family,
        "operator": truth.operator,
        "line": truth.line,
        "description": truth.description,
        "failed": truth.failed,
        "total": truth.total,
    }


def _task_from(data: dict[str, Any], by_id: dict[str, Problem]) -> RepairTask:
    problem = by_id[data["problem"]]
    truth = InjectedBug(
        task_id=problem.task_id,
        buggy_source=data["buggy_source"],
        family=data["family"],
        line=int(data["line"]),
        description=data["description"],
        operator=data.get("operator", ""),
        failed=int(data.get("failed", 0)),
        total=int(data.get("total", 0)),
    )
    return RepairTask(data["task_id"], problem, data["buggy_source"], truth)


def _load_cache(path: Path, key: str, problems: Sequence[Problem]) -> RepairSuite | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    by_id = {p.task_id: p for p in problems}
    try:
        tasks = {
            part: tuple(_task_from(t, by_id) for t in data["tasks"] if t["split"] == part)
            for part in ("train", "heldout")
        }
        return RepairSuite(
            train=tasks["train"],
            heldout=tasks["heldout"],
            seed=int(data["seed"]),
            bugs_per_problem=int(data["bugs_per_problem"]),
            skipped=tuple(data.get("skipped", ())),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _save_cache(path: Path, key: str, suite: RepairSuite) -> None:
    data = {
        "key": key,
        "format": SUITE_FORMAT,
        "seed": suite.seed,
        "bugs_per_problem": suite.bugs_per_problem,
        "skipped": list(suite.skipped),
        "tasks": [_task_dict(t, "train") for t in suite.train]
        + [_task_dict(t, "heldout") for t in suite.heldout],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


async def abuild_suite(
    seed: int = 0,
    bugs_per_problem: int = 2,
    problems: Sequence[Problem] | None = None,
    concurrency: int = 2,
    *,
    cache_path: str | Path | None = None,
    progress: Progress | None = None,
    timeout_s: float = VERIFY_TIMEOUT_S,
) -> RepairSuite:
    """:func:`build_suite` inside a running event loop."""
    chosen = tuple(
        sorted(problems if problems is not None else load_problems(), key=lambda p: p.number)
    )
    key = _cache_key(seed, bugs_per_problem, chosen, timeout_s)
    path = Path(cache_path) if cache_path is not None else None
    if path is not None and (cached := _load_cache(path, key, chosen)) is not None:
        if progress is not None:
            progress(len(chosen), len(chosen))
        return cached
    semaphore = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(problem: Problem) -> tuple[Problem, list[InjectedBug] | None]:
        nonlocal done
        async with semaphore:
            baseline = await arun_tests(problem, problem.source, timeout_s=max(timeout_s, 5.0))
            bugs = (
                await ainject_many(problem, seed, bugs_per_problem, timeout_s=timeout_s)
                if baseline.passed
                else None
            )
        done += 1
        if progress is not None:
            progress(done, len(chosen))
        return problem, bugs

    results = await asyncio.gather(*(one(p) for p in chosen))
    train_ids, _heldout_ids = split([p.task_id for p in chosen], seed)
    train: list[RepairTask] = []
    heldout: list[RepairTask] = []
    skipped: list[str] = []
    for problem, bugs in results:
        if bugs is None:
            skipped.append(problem.task_id)
            continue
        target = train if problem.task_id in train_ids else heldout
        for i, bug in enumerate(bugs):
            target.append(RepairTask(f"{problem.task_id}#b{i}", problem, bug.buggy_source, bug))
    suite = RepairSuite(tuple(train), tuple(heldout), seed, bugs_per_problem, tuple(skipped))
    if path is not None:
        _save_cache(path, key, suite)
    return suite


def build_suite(
    seed: int = 0,
    bugs_per_problem: int = 2,
    problems: Sequence[Problem] | None = None,
    concurrency: int = 2,
    *,
    cache_path: str | Path | None = None,
    progress: Progress | None = None,
    timeout_s: float = VERIFY_TIMEOUT_S,
) -> RepairSuite:
    """Build (or load from ``cache_path``) the seeded repair suite.

    Must not be called from inside a running event loop (use :func:`abuild_suite`).

    Args:
        seed: drives the split and every bug choice.
        bugs_per_problem: verified bugs wanted per problem (fewer when a problem has
            fewer non-equivalent mutants).
        problems: a subset (default: all 164); split membership is as in the full split.
        concurrency: sandbox runs in flight.
        cache_path: JSON cache, reused when seed, parameters and problems match.
        progress: called with (problems done, problems total).
        timeout_s: deadline of each verification run.

    Raises:
        SandboxError: the sandbox itself failed.
        DatasetError: HumanEval is unavailable.
    """
    return asyncio.run(
        abuild_suite(
            seed,
            bugs_per_problem,
            problems,
            concurrency,
            cache_path=cache_path,
            progress=progress,
            timeout_s=timeout_s,
        )
    )
