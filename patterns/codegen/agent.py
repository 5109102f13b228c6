"""The repair agent: one episode = recall, generate, apply, test, record, learn.

An episode on a :class:`~patterns.codegen.repair.suite.RepairTask`:

1. run the problem's tests on the buggy program (with line coverage, for fault
   localization) and take its failure signature and shape;
2. build the failure context (:func:`~patterns.codegen.repair.context.failure_context`:
   error type, how the assertions failed, the exception's message and traceback
   statement, the syntax of the most suspicious lines) and recall the strategies and
   pitfalls of the most similar past contexts;
3. turn them into tag priors for the search generator (and a prompt block for the
   model generator, when one is configured) and rank the candidate edits;
4. apply candidates one by one with the fast edit engine and run the tests in the
   sandbox, until one passes or the budget of K attempts is spent;
5. store the trajectory in the bank (distilled into new items) and feed back to the
   recalled items whether the attempts they pushed up passed.

The agent never reads a task's ground truth (the injected bug); only the benchmark
does, for reporting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from patterns.codegen.edits import EditEngine
from patterns.codegen.exceptions import EditError
from patterns.codegen.records import Candidate, Step, TestOutcome, Trajectory
from patterns.codegen.repair.context import context_query, failure_context
from patterns.codegen.repair.operators import SearchGenerator, site_features
from patterns.codegen.repair.sandbox import SpectrumOutcome, run_tests
from patterns.core.exceptions import ConfigError

if TYPE_CHECKING:
    from patterns.codegen.bank import ReasoningBank, RecalledItem
    from patterns.codegen.repair.suite import RepairTask


class EditProposer(Protocol):
    """Proposes candidate edits from a model (``ModelEditGenerator``, ``CompletionEditGenerator``)."""

    async def propose(
        self, task: str, source: str, outcome: TestOutcome, recalled: Sequence[RecalledItem]
    ) -> list[Candidate]:
        """Candidates for ``source`` failing with ``outcome``, memories ``recalled``."""
        ...


TestRunner = Callable[..., "TestOutcome | SpectrumOutcome"]
"""Runs a problem's tests on a program: ``runner(problem, source, *, timeout_s, coverage)``."""

DEFAULT_BUDGET = 3
# Chosen on a validation split of the training half of the repair suite (never on the
# held-out half): recall many items so their tag shares estimate what fixed similar
# failures, pass only operator and edit-delta tags (context-only tags boost every edit
# at a site), and weigh them at twice the fault-localization scale.
DEFAULT_RECALL_K = 24
DEFAULT_PRIOR_WEIGHT = 2.0
DEFAULT_PRIOR_TAGS = ("op:", "delta:")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """How an episode runs.

    Attributes:
        budget: candidate edits tried at most (the K of success@K).
        recall_k: memory items recalled per task.
        timeout_s: sandbox deadline per test run.
        coverage: collect line coverage on the first failing run (fault localization).
        learn: store the trajectory and feed back to recalled items after the episode.
        prior_weight: scale of the bank's tag priors against the generator's own score
            (fault-localization suspiciousness in [0, 1]).
        prior_tags: tag prefixes whose priors reach the generator (all when empty).
        stepwise: keep an edit that makes fewer tests fail (same test count, no timeout)
            and continue from the edited program with freshly generated candidates, so
            bugs needing several edits can be fixed; each step's edit then applies to the
            program as the last adopted step left it.
    """

    budget: int = DEFAULT_BUDGET
    recall_k: int = DEFAULT_RECALL_K
    timeout_s: float = 5.0
    coverage: bool = True
    learn: bool = True
    prior_weight: float = DEFAULT_PRIOR_WEIGHT
    prior_tags: tuple[str, ...] = DEFAULT_PRIOR_TAGS
    stepwise: bool = False

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError(f"budget={self.budget} must be at least 1 attempt")
        if self.recall_k < 1:
            raise ConfigError(f"recall_k={self.recall_k} must be at least 1")
        if not self.prior_weight >= 0:
            raise ConfigError(f"prior_weight={self.prior_weight} must be zero or positive")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s={self.timeout_s} must be positive")


@dataclass(frozen=True, slots=True)
class Episode:
    """What one episode did.

    Attributes:
        trajectory: the stored trajectory.
        recalled: the memory items recalled for the task.
        first_outcome: the tests on the unrepaired program.
        candidates: how many candidates the generators offered.
        recall_s: time spent recalling from the bank.
        apply_s: time spent applying edits (merge + syntax check), summed.
        test_s: time spent in the sandbox, summed.
    """

    trajectory: Trajectory
    recalled: tuple[RecalledItem, ...]
    first_outcome: TestOutcome
    candidates: int
    recall_s: float = 0.0
    apply_s: float = 0.0
    test_s: float = 0.0

    @property
    def success(self) -> bool:
        return self.trajectory.success

    @property
    def attempts(self) -> int:
        return self.trajectory.attempts

    def solved_within(self, k: int) -> bool:
        """The task was solved by one of its first ``k`` attempts."""
        step = self.trajectory.winning_step
        return step is not None and step.index < k


def build_query(context: Sequence[str]) -> str:
    """The retrieval text of a task: its failure-context tokens (not the task's wording)."""
    return context_query(context)


class RepairAgent:
    """Repairs programs with ranked candidate edits, learning from every episode.

    Args:
        bank: the reasoning bank; ``None`` runs without memory (the empty-bank baseline).
        engine: the edit engine; a default one when ``None``.
        generator: the search-based candidate generator; a default one when ``None``.
        model_generator: proposes edits through the consensus router's voters; its
            candidates are tried before the search generator's.
        settings: budget, recall size, sandbox deadline, learning switch.
        runner: runs the tests; the sandbox's :func:`run_tests` by default.
        fixed_priors: tag boosts used for every task, memoryless (e.g. the operator
            frequencies of :func:`patterns.codegen.evaluation.frequency_prior`); added to
            the bank's priors when both are given, scaled by ``prior_weight`` alike.
    """

    def __init__(
        self,
        bank: ReasoningBank | None = None,
        *,
        engine: EditEngine | None = None,
        generator: SearchGenerator | None = None,
        model_generator: EditProposer | None = None,
        settings: AgentSettings | None = None,
        runner: TestRunner | None = None,
        fixed_priors: Mapping[str, float] | None = None,
    ) -> None:
        self.bank = bank
        self.fixed_priors = dict(fixed_priors or {})
        self.runner: TestRunner = runner or run_tests
        self.engine = engine or EditEngine()
        self.generator = generator or SearchGenerator()
        self.model_generator = model_generator
        self.settings = settings or AgentSettings()

    def solve(self, task: RepairTask, *, learn: bool | None = None) -> Episode:
        """Run one episode on ``task`` synchronously (on a private event loop).

        Called from a thread that already runs an event loop, the episode runs on a
        private loop in a helper thread; prefer :meth:`asolve` there.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.asolve(task, learn=learn))
        with ThreadPoolExecutor(1, thread_name_prefix="repair-episode") as pool:
            return pool.submit(asyncio.run, self.asolve(task, learn=learn)).result()

    async def asolve(self, task: RepairTask, *, learn: bool | None = None) -> Episode:
        """Run one episode on ``task``."""
        settings = self.settings
        learn = settings.learn if learn is None else learn
        problem, source = task.problem, task.buggy_source
        measured = await asyncio.to_thread(
            self.runner, problem, source, timeout_s=settings.timeout_s, coverage=settings.coverage
        )
        spectrum = measured if isinstance(measured, SpectrumOutcome) else None
        first = measured.outcome if isinstance(measured, SpectrumOutcome) else measured
        features = site_features(source, problem.entry_point)
        # The function-wide features stay out of the recall key: chosen on the validation
        # split of the training half, the failure and the suspicious lines' syntax recall better.
        context = failure_context(source, problem.entry_point, first, spectrum)
        task_text = f"Repair `{problem.entry_point}`: {problem.description}"
        query = build_query(context)
        t0 = time.perf_counter()
        recalled: tuple[RecalledItem, ...] = ()
        boosts: dict[str, float] = dict(self.fixed_priors)
        if self.bank is not None:
            recalled = tuple(await asyncio.to_thread(self.bank.recall, query, k=settings.recall_k))
            for tag, boost in self.bank.priors(recalled).items():
                boosts[tag] = boosts.get(tag, 0.0) + boost
        priors = {
            tag: settings.prior_weight * boost
            for tag, boost in boosts.items()
            if not settings.prior_tags or tag.startswith(settings.prior_tags)
        }
        recall_s = time.perf_counter() - t0
        candidates: list[Candidate] = []
        if self.model_generator is not None:
            candidates += await self.model_generator.propose(task_text, source, first, recalled)
        candidates += self.generator.candidates(
            source,
            problem.entry_point,
            outcome=first,
            spectrum=spectrum,
            priors=priors,
        )
        steps: list[Step] = []
        apply_s = test_s = 0.0
        final = source
        base, base_outcome = source, first  # the program candidates apply to
        queue, position = candidates, 0
        while len(steps) < settings.budget and position < len(queue):
            candidate = queue[position]
            position += 1
            index = len(steps)
            t0 = time.perf_counter()
            try:
                merged = self.engine.merge(
                    base, candidate.edit, candidate.format, language="python"
                )
            except EditError as err:
                apply_s += time.perf_counter() - t0
                steps.append(_step(index, candidate, applied=False, apply_error=str(err)))
                continue
            apply_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            ran = await asyncio.to_thread(
                self.runner, problem, merged.text, timeout_s=settings.timeout_s, coverage=False
            )
            outcome = ran.outcome if isinstance(ran, SpectrumOutcome) else ran
            test_s += time.perf_counter() - t0
            if outcome.passed:
                steps.append(_step(index, candidate, outcome=outcome))
                final = merged.text
                break
            adopt = settings.stepwise and improves(outcome, base_outcome)
            steps.append(_step(index, candidate, outcome=outcome, adopted=adopt))
            if adopt:  # keep the partial fix and search again from it
                base = merged.text
                again = await asyncio.to_thread(
                    self.runner, problem, base, timeout_s=settings.timeout_s, coverage=True
                )
                base_spectrum = again if isinstance(again, SpectrumOutcome) else None
                base_outcome = again.outcome if isinstance(again, SpectrumOutcome) else again
                queue = self.generator.candidates(
                    base,
                    problem.entry_point,
                    outcome=base_outcome,
                    spectrum=base_spectrum,
                    priors=priors,
                )
                position = 0
        trajectory = Trajectory(
            id=uuid.uuid4().hex,
            task_id=task.task_id,
            task=task_text,
            context={
                "query": query,
                "signature": first.signature,
                "features": list(context),
                "code_features": list(features),
                "recalled": [r.item.id for r in recalled],
            },
            steps=tuple(steps),
            success=any(s.succeeded for s in steps),
            final_source=final,
            budget=settings.budget,
            metadata={"problem": problem.task_id, "candidates": len(candidates)},
        )
        if learn and self.bank is not None:
            await asyncio.to_thread(self._learn, trajectory, recalled)
        return Episode(
            trajectory=trajectory,
            recalled=recalled,
            first_outcome=first,
            candidates=len(candidates),
            recall_s=recall_s,
            apply_s=apply_s,
            test_s=test_s,
        )

    def _learn(self, trajectory: Trajectory, recalled: Sequence[RecalledItem]) -> None:
        """Store the trajectory; credit or blame the recalled items behind each attempt."""
        assert self.bank is not None
        self.bank.record(trajectory)
        credited: set[str] = set()
        blamed: set[str] = set()
        for step in trajectory.steps:
            used = {r.item.id for r in recalled if set(r.item.tags) & set(step.tags)}
            (credited if step.succeeded else blamed).update(used)
        if credited:
            self.bank.feedback(sorted(credited), True)
        if blamed - credited:
            self.bank.feedback(sorted(blamed - credited), False)


def improves(outcome: TestOutcome, base: TestOutcome) -> bool:
    """``outcome`` fails strictly fewer of the same tests than ``base`` (a partial fix)."""
    return (
        not outcome.timed_out
        and outcome.total > 0
        and outcome.total == base.total
        and outcome.failed < base.failed
    )


def _step(
    index: int,
    candidate: Candidate,
    *,
    applied: bool = True,
    apply_error: str | None = None,
    outcome: TestOutcome | None = None,
    adopted: bool = False,
) -> Step:
    return Step(
        index=index,
        candidate_id=candidate.id,
        edit=candidate.edit,
        format=candidate.format,
        tags=candidate.tags,
        description=candidate.description,
        applied=applied,
        apply_error=apply_error,
        outcome=outcome,
        adopted=adopted,
    )


def episode_row(episode: Episode) -> dict[str, Any]:
    """A flat row for tables and artifacts."""
    t = episode.trajectory
    win = t.winning_step
    return {
        "task": t.task_id,
        "solved": t.success,
        "attempts": t.attempts,
        "winning_edit": win.description if win else None,
        "recalled": len(episode.recalled),
        "failure": episode.first_outcome.signature,
        "recall_ms": round(episode.recall_s * 1000, 2),
    }
