"""A memoizing test runner for the codegen benchmark.

A HumanEval program's test outcome depends only on the program, so the benchmark
runs each distinct (problem, program, coverage) once in the sandbox and reuses the
outcome when later checkpoints try the same candidate again. Only used by benchmarks.
"""

from __future__ import annotations

import hashlib
import threading

from patterns.codegen.humaneval import Problem
from patterns.codegen.records import TestOutcome
from patterns.codegen.repair.sandbox import SpectrumOutcome, run_tests


class MemoRunner:
    """``run_tests`` with a thread-safe memo; counts sandbox runs and hits."""

    def __init__(self) -> None:
        self._memo: dict[str, TestOutcome | SpectrumOutcome] = {}
        self._lock = threading.Lock()
        self.runs = 0
        self.hits = 0

    def __call__(
        self, problem: Problem, source: str, *, timeout_s: float = 5.0, coverage: bool = False
    ) -> TestOutcome | SpectrumOutcome:
        key = hashlib.sha256(f"{problem.task_id}\0{coverage}\0{source}".encode()).hexdigest()
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self.hits += 1
                return hit
        result = run_tests(problem, source, timeout_s=timeout_s, coverage=coverage)
        with self._lock:
            self._memo[key] = result
            self.runs += 1
        return result
