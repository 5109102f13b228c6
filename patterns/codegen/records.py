"""Plain records shared by the edit engine, the repair suite, the reasoning bank and the agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class EditFormat(StrEnum):
    """The three edit formats the engine applies."""

    LAZY = "lazy"  # changed regions only, unchanged code elided with ``# ... existing code ...``
    SEARCH_REPLACE = "search_replace"  # <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks
    UNIFIED_DIFF = "unified_diff"  # ``diff -u`` hunks


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate edit for a task, from the search generator or from a model.

    Attributes:
        id: unique within the task.
        edit: the edit text, in ``format``.
        format: its format.
        tags: strategy keys the reasoning bank learns about (``op:widen-comparison``,
            ``op:widen-comparison@for_range`` ...); the generator re-ranks on them.
        description: one human line ("line 12: `<` -> `<=`").
        score: the generator's ranking score (higher is tried first).
        source: ``search`` or the model name that proposed it.
    """

    id: str
    edit: str
    format: EditFormat
    tags: tuple[str, ...] = ()
    description: str = ""
    score: float = 0.0
    source: str = "search"


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What running a problem's tests on one candidate program gave.

    Attributes:
        passed: every test passed.
        total: test assertions executed (0 when the program did not even load).
        failed: assertions that failed or raised.
        error_type: the first failure's exception type (``AssertionError``,
            ``IndexError``, ``SyntaxError``, ``Timeout``...), or None.
        error_message: its message, truncated.
        timed_out: the run was killed at its deadline.
        duration_s: wall time of the subprocess.
        shapes: how the failing assertions failed, most frequent first: for ``a == b``
            assertions the shape of the returned value against the expected one
            (``num:off-by-one``, ``seq:reversed``, ``bool:inverted``...), ``raised:<type>``
            for exceptions, ``assert:falsy`` otherwise (see the sandbox harness).
        fault_line: the program's innermost line in the first exception's traceback
            (0: no exception in the program).
        fault_depth: the program's frames in that traceback (recursion shows as > 1).
    """

    __test__ = False  # not a pytest test class

    passed: bool
    total: int = 0
    failed: int = 0
    error_type: str | None = None
    error_message: str = ""
    timed_out: bool = False
    duration_s: float = 0.0
    shapes: tuple[str, ...] = ()
    fault_line: int = 0
    fault_depth: int = 0

    @property
    def signature(self) -> str:
        """A short failure signature for retrieval (``ok`` when passed)."""
        if self.passed:
            return "ok"
        return f"{self.error_type or 'failure'}: {self.error_message}"[:200]


@dataclass(frozen=True, slots=True)
class Step:
    """One attempt within a trajectory: a candidate edit and what it led to.

    Attributes:
        index: 0-based attempt number.
        candidate_id: the candidate tried.
        edit: the edit text.
        format: its format.
        tags: the candidate's strategy tags.
        description: the candidate's one-line description.
        applied: the edit engine applied it (False: the error is in ``apply_error``).
        apply_error: the edit engine's error message.
        outcome: the test outcome, when applied.
        adopted: the edit made fewer tests fail and later steps continue from its program
            (a stepwise agent's partial fix).
    """

    index: int
    candidate_id: str
    edit: str
    format: EditFormat
    tags: tuple[str, ...] = ()
    description: str = ""
    applied: bool = True
    apply_error: str | None = None
    outcome: TestOutcome | None = None
    adopted: bool = False

    @property
    def succeeded(self) -> bool:
        return self.applied and self.outcome is not None and self.outcome.passed


@dataclass(frozen=True, slots=True)
class Trajectory:
    """A finished task: what was asked, what was known, what was tried, how it ended.

    Attributes:
        id: unique id.
        task_id: the task (``HumanEval/12#bug-3``...).
        task: the task statement as an agent reads it.
        context: retrieval context: failure signature, code features, recalled item ids.
        steps: the attempts, in order.
        success: some step passed every test.
        final_source: the program after the last successful step (or the input).
        budget: the attempt budget the agent had.
        metadata: free-form extras (problem number, bug kind for evaluation only...).
    """

    id: str
    task_id: str
    task: str
    context: Mapping[str, Any]
    steps: tuple[Step, ...]
    success: bool
    final_source: str = ""
    budget: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.steps)

    @property
    def winning_step(self) -> Step | None:
        return next((s for s in self.steps if s.succeeded), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as strings)."""
        data = asdict(self)
        data["context"] = dict(self.context)
        data["metadata"] = dict(self.metadata)
        return data
