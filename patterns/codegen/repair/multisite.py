"""Two-site bugs: two verified single-site bugs of one problem injected together.

A single-site bug is fixed by one inverse edit, which the search generator always
proposes. A two-site bug needs two edits in sequence: no single candidate passes the
tests, so an agent must keep an edit that makes fewer tests fail and continue from
it (``AgentSettings(stepwise=True)``). Each combined bug is verified to fail the
problem's tests in the sandbox, like every injected bug.
"""

from __future__ import annotations

from collections.abc import Sequence

from patterns.codegen.repair.bugs import VERIFY_TIMEOUT_S, InjectedBug, mutants
from patterns.codegen.repair.sandbox import run_tests
from patterns.codegen.repair.sites import SiteEdit
from patterns.codegen.repair.suite import RepairTask


def site_edit_of(task: RepairTask) -> SiteEdit | None:
    """The single mutation that turns the problem's canonical program into the task's program."""
    for edit in mutants(task.problem):
        if edit.apply(task.problem.source) == task.buggy_source:
            return edit
    return None


def combine(first: RepairTask, second: RepairTask) -> str | None:
    """Both tasks' mutations applied to the canonical program, or None.

    None when the tasks are of different problems, a mutation cannot be recovered, or
    the two touch the same line.
    """
    if first.problem.task_id != second.problem.task_id:
        return None
    a, b = site_edit_of(first), site_edit_of(second)
    if a is None or b is None or a.line == b.line or not (a.end <= b.start or b.end <= a.start):
        return None
    source = first.problem.source
    for edit in sorted((a, b), key=lambda e: -e.start):  # the later splice first keeps offsets
        source = edit.apply(source)
    return source


def two_site_tasks(
    tasks: Sequence[RepairTask], *, timeout_s: float = VERIFY_TIMEOUT_S
) -> list[RepairTask]:
    """One verified two-site task per problem, from its first two combinable bugs.

    Returns:
        Tasks ``<problem>#m<i>+<j>`` whose combined program fails the tests without
        hitting the deadline; their truth names both mutations.
    """
    by_problem: dict[str, list[RepairTask]] = {}
    for task in tasks:
        by_problem.setdefault(task.problem.task_id, []).append(task)
    out: list[RepairTask] = []
    for problem_id in sorted(by_problem, key=lambda p: int(p.split("/")[-1])):
        group = by_problem[problem_id]
        pairs = [(i, j) for i in range(len(group)) for j in range(i + 1, len(group))]
        for i, j in pairs:
            source = combine(group[i], group[j])
            if source is None:
                continue
            outcome = run_tests(group[i].problem, source, timeout_s=timeout_s)
            if outcome.passed or outcome.timed_out:
                continue
            t1, t2 = group[i].truth, group[j].truth
            truth = InjectedBug(
                task_id=problem_id,
                buggy_source=source,
                family=f"{t1.family}+{t2.family}",
                line=min(t1.line, t2.line),
                description=f"{t1.description}; {t2.description}",
                operator=f"{t1.operator}+{t2.operator}",
                failed=outcome.failed,
                total=outcome.total,
            )
            out.append(RepairTask(f"{problem_id}#m{i}+{j}", group[i].problem, source, truth))
            break
    return out
