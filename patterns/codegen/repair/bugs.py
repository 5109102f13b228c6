"""Seeded, verified bug injection into HumanEval canonical solutions.

A bug is one edit of :mod:`patterns.codegen.repair.sites` applied to the body of
the problem's entry-point function (never its signature or docstring, never the
rest of the module), by line/column-precise text surgery so every other line keeps
its formatting. The families, each a symmetric relation:

=====================  ==============================================================
family                 what the bug does
=====================  ==============================================================
comparison-boundary    ``<`` <-> ``<=``, ``>`` <-> ``>=`` (off-by-one boundary)
comparison-flip        ``<`` <-> ``>``, ``<=`` <-> ``>=``, ``==`` <-> ``!=``,
                       ``in`` <-> ``not in``, ``is`` <-> ``is not``
arithmetic             ``+`` <-> ``-``, ``*`` <-> ``//``, ``/`` <-> ``//``, ``%`` <-> ``//``
                       (binary and augmented ``+=``...)
range-bound            start/stop of ``range(...)`` off by one (``n`` -> ``n+1``,
                       ``e`` -> ``e - 1``, ``e + 1`` -> ``e``...)
index-bound            subscript index or slice bound off by one
boolean-op             ``and`` <-> ``or``
negation               ``not`` dropped, or added to an if/while/ternary/filter test
                       or an and/or operand
constant               int literal off by one (0 <-> 1 ...), ``True`` <-> ``False``
return-value           ``return x`` returns another local name instead
min-max                ``min`` <-> ``max``, ``sorted``/``.sort`` ``reverse`` flag flipped,
                       added or dropped
=====================  ==============================================================

A mutant counts only when the problem's own tests fail on it in the sandbox
(equivalent mutants are discarded), and, by default, only when they fail without
hitting the deadline: a repair loop pays the whole timeout for every wrong
candidate of a non-terminating bug. Choice is deterministic for a seed: families
and sites are shuffled by ``random.Random(f"{seed}/{task_id}")`` (or the given
``random.Random``), then tried in that order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from patterns.codegen.humaneval import Problem
from patterns.codegen.records import TestOutcome
from patterns.codegen.repair.exceptions import NoMutantError
from patterns.codegen.repair.sandbox import arun_tests, run_tests
from patterns.codegen.repair.sites import FAMILIES, SiteEdit, function_edits

VERIFY_TIMEOUT_S = 3.0  # deadline of one verification run
MAX_TRIES_PER_FAMILY = 4  # sites tried per family before moving on (per round)
MAX_ATTEMPTS = 24  # verification runs per problem when collecting several bugs


@dataclass(frozen=True, slots=True)
class InjectedBug:
    """A verified bug: ground truth for evaluation, never shown to a generator.

    Attributes:
        task_id: the problem's ``HumanEval/<n>``.
        buggy_source: the whole module with the bug.
        family: the bug family (module table).
        line: 1-based line of the edit.
        description: ``comparison-boundary at line 12: `<` -> `<=```.
        operator: the finer transformation applied (``widen-comparison``...).
        failed: assertions the problem's tests failed on the mutant.
        total: assertions counted on the mutant.
    """

    task_id: str
    buggy_source: str
    family: str
    line: int
    description: str
    operator: str = ""
    failed: int = 0
    total: int = 0


def mutants(problem: Problem, family: str | None = None) -> list[SiteEdit]:
    """Every candidate mutation of the entry-point body, in source order (unverified).

    Raises:
        ValueError: ``family`` is not a known family.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown bug family {family!r}; known: {', '.join(FAMILIES)}")
    edits = function_edits(problem.source, problem.entry_point)
    return [e for e in edits if family is None or e.family == family]


def _bug(problem: Problem, edit: SiteEdit, outcome: TestOutcome) -> InjectedBug:
    return InjectedBug(
        task_id=problem.task_id,
        buggy_source=edit.apply(problem.source),
        family=edit.family,
        line=edit.line,
        description=f"{edit.family} at {edit.description}",
        operator=edit.operator,
        failed=outcome.failed,
        total=outcome.total,
    )


def _counts(outcome: TestOutcome, allow_timeouts: bool) -> bool:
    return not outcome.passed and (allow_timeouts or not outcome.timed_out)


def _rng(rng_or_seed: random.Random | int, task_id: str) -> random.Random:
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    return random.Random(f"{rng_or_seed}/{task_id}")


def attempt_order(
    problem: Problem, rng: random.Random, family: str | None = None
) -> Iterator[tuple[int, SiteEdit]]:
    """The order mutants are tried in: (round, edit), one family after another.

    Round 0 tries up to :data:`MAX_TRIES_PER_FAMILY` sites of each family (families
    in shuffled order); later rounds continue where each family stopped, so distinct
    families come first.
    """
    by_family: dict[str, list[SiteEdit]] = {}
    for edit in mutants(problem, family):
        by_family.setdefault(edit.family, []).append(edit)
    families = [f for f in FAMILIES if f in by_family]
    rng.shuffle(families)
    queues = {f: rng.sample(by_family[f], len(by_family[f])) for f in families}
    round_ = 0
    while any(queues.values()):
        for name in families:
            batch, queues[name] = (
                queues[name][:MAX_TRIES_PER_FAMILY],
                queues[name][MAX_TRIES_PER_FAMILY:],
            )
            for edit in batch:
                yield round_, edit
        round_ += 1


def inject(
    problem: Problem,
    rng_or_seed: random.Random | int,
    family: str | None = None,
    *,
    timeout_s: float = VERIFY_TIMEOUT_S,
    allow_timeouts: bool = False,
) -> InjectedBug:
    """One verified bug in ``problem``'s canonical solution.

    Args:
        problem: the problem.
        rng_or_seed: a seed (the choice then depends only on it and the task id) or a
            ``random.Random`` to draw from.
        family: restrict to one family (module table); None: any, families shuffled.
        timeout_s: deadline of each verification run.
        allow_timeouts: count mutants that only fail by hitting the deadline.

    Raises:
        NoMutantError: no mutant of that family fails the tests.
        SandboxError: the sandbox itself failed.
    """
    rng = _rng(rng_or_seed, problem.task_id)
    for _round, edit in attempt_order(problem, rng, family):
        outcome = run_tests(problem, edit.apply(problem.source), timeout_s=timeout_s)
        if _counts(outcome, allow_timeouts):
            return _bug(problem, edit, outcome)
    raise NoMutantError(f"{problem.task_id}: no {family or 'any'} mutant fails the tests")


async def ainject_many(
    problem: Problem,
    rng_or_seed: random.Random | int,
    count: int,
    *,
    families: Sequence[str] | None = None,
    timeout_s: float = VERIFY_TIMEOUT_S,
    allow_timeouts: bool = False,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[InjectedBug]:
    """Up to ``count`` distinct verified bugs, different families first (async).

    Mutants are verified one after another in :func:`attempt_order` (so the choice is
    deterministic), skipping families that already gave a bug until every family
    had its turn, and at most ``max_attempts`` runs; run several problems
    concurrently instead.

    Raises:
        SandboxError: the sandbox itself failed.
    """
    rng = _rng(rng_or_seed, problem.task_id)
    order = [e for _, e in attempt_order(problem, rng) if families is None or e.family in families]
    found: list[InjectedBug] = []
    used_families: set[str] = set()
    tried: set[int] = set()
    for second_pass in (False, True):  # distinct families first, then any family
        for position, edit in enumerate(order):
            if len(found) >= count or len(tried) >= max_attempts:
                return found
            if position in tried or (not second_pass and edit.family in used_families):
                continue
            tried.add(position)
            outcome = await arun_tests(problem, edit.apply(problem.source), timeout_s=timeout_s)
            if _counts(outcome, allow_timeouts):
                found.append(_bug(problem, edit, outcome))
                used_families.add(edit.family)
    return found
