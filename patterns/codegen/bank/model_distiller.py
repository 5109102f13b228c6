"""ModelDistiller: a model distils a trajectory into items, asked through pattern 5's VoterPool.

The router is imported when a question is built, so importing this module does not load
litellm.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field

from patterns.codegen.bank.codec import context_of
from patterns.codegen.bank.distill import Distiller, one_line, where
from patterns.codegen.bank.exceptions import DistillationError
from patterns.codegen.bank.records import DistilledItem, ItemKind
from patterns.codegen.records import Step, Trajectory
from patterns.core.exceptions import ConfigError

if TYPE_CHECKING:
    from patterns.consensus_router.pool import VoterPool
    from patterns.consensus_router.records import Question, Vote

T = TypeVar("T")

MAX_ITEMS = 8  # items one distillation may return
EDIT_CHARS = 400  # characters of each step's edit shown to the model
TITLE_CHARS = 120
CONTENT_CHARS = 1000


class DraftItem(BaseModel):
    """One item as a model proposes it."""

    kind: Literal["strategy", "pitfall"] = Field(
        description="strategy: what fixed the failure; pitfall: what did not."
    )
    title: str = Field(min_length=1, max_length=TITLE_CHARS, description="A short name.")
    description: str = Field("", max_length=300, description="One line.")
    content: str = Field(
        min_length=1, max_length=CONTENT_CHARS, description="The strategy or pitfall, reusable."
    )
    tags: list[str] = Field(
        default_factory=list, max_length=8, description="Strategy tags of the steps it is about."
    )


class DraftList(BaseModel):
    """A model's distillation of one trajectory."""

    items: list[DraftItem] = Field(max_length=MAX_ITEMS)


def _step_line(step: Step) -> str:
    if step.succeeded:
        result = "PASSED"
    elif not step.applied:
        result = f"did not apply: {one_line(step.apply_error or '?', 160)}"
    elif step.outcome is None:
        result = "not tested"
    else:
        result = f"failed: {one_line(step.outcome.signature, 160)}"
    tags = ", ".join(step.tags) or "untagged"
    edit = step.edit if len(step.edit) <= EDIT_CHARS else step.edit[:EDIT_CHARS] + "\n..."
    return (
        f"Step {step.index + 1} [tags: {tags}] {one_line(step.description, 160)} -> {result}\n"
        f"{step.format.value} edit:\n{edit}"
    )


def distill_prompt(trajectory: Trajectory, max_items: int) -> str:
    """The question text asking a model to distil ``trajectory``."""
    ctx = context_of(trajectory)
    steps = "\n\n".join(_step_line(s) for s in trajectory.steps)
    outcome = "It was solved." if trajectory.success else "It was NOT solved."
    strategy_rule = (
        "From the step that passed, write one 'strategy' item."
        if trajectory.success
        else "Nothing passed: write 'pitfall' items only."
    )
    return (
        "Distil reusable lessons from this program-repair attempt.\n\n"
        f"Task: {trajectory.task.strip()}\n"
        f"Failure: {where(ctx)}\n"
        f"{outcome} Attempts:\n\n{steps}\n\n"
        f"{strategy_rule} From failed steps, write 'pitfall' items (what did not work and why). "
        f"At most {max_items} items. Give each item the tags of the steps it is about, "
        "first the most important one. Word the content so it helps on a similar failure "
        "in other code."
    )


def _run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to completion from synchronous code.

    Inside a running event loop it runs on a fresh loop in a worker thread (the caller
    blocks, as any synchronous call does).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class ModelDistiller:
    """Distils trajectories by asking model voters for a :class:`DraftList`.

    The voters are asked at once through :meth:`VoterPool.ask`; the first voter (in
    the given order) whose reply parses wins. Items are then checked against the
    trajectory: a failed trajectory yields no strategies, tags the trajectory never
    tried are dropped (a strategy without tags takes the winning step's), and the
    context (failure signature, features) is the trajectory's, not the model's.

    Args:
        pool: the voter pool.
        voters: names of the voters to ask, in order of preference.
        max_items: most items kept per trajectory.
        fallback: the distiller used when no voter answers; without one
            :class:`DistillationError` is raised.

    Raises:
        ConfigError: no voters, or ``max_items`` outside 1..8.
    """

    def __init__(
        self,
        pool: VoterPool,
        voters: Sequence[str],
        *,
        max_items: int = MAX_ITEMS,
        fallback: Distiller | None = None,
    ) -> None:
        if isinstance(voters, str) or not voters:
            raise ConfigError("ModelDistiller needs a non-empty sequence of voter names")
        if not 1 <= max_items <= MAX_ITEMS:
            raise ConfigError(f"max_items={max_items} is outside 1..{MAX_ITEMS}")
        self.pool = pool
        self.voters = tuple(voters)
        self.max_items = max_items
        self.fallback = fallback

    def question(self, trajectory: Trajectory) -> Question:
        """The question put to each voter."""
        from patterns.consensus_router.records import Question
        from patterns.consensus_router.schema import ObjectSchema

        return Question(
            id=f"distill:{trajectory.id}",
            text=distill_prompt(trajectory, self.max_items),
            schema=ObjectSchema(DraftList),
            payload={"trajectory": trajectory.to_dict()},
        )

    async def adistill(self, trajectory: Trajectory) -> list[DistilledItem]:
        """Ask the voters; the first parsed reply's items, checked against the trajectory.

        Raises:
            DistillationError: no voter answered and there is no fallback.
        """
        question = self.question(trajectory)
        votes: list[Vote] = list(
            await asyncio.gather(*(self.pool.ask(name, question) for name in self.voters))
        )
        for vote in votes:
            if vote.answered and isinstance(vote.value, DraftList):
                return self._checked(trajectory, vote.value)
        if self.fallback is not None:
            return self.fallback.distill(trajectory)
        reasons = "; ".join(f"{v.voter}: {v.status.value}" for v in votes)
        raise DistillationError(f"no voter distilled trajectory {trajectory.id!r} ({reasons})")

    def distill(self, trajectory: Trajectory) -> list[DistilledItem]:
        """:meth:`adistill` from synchronous code."""
        return _run_blocking(lambda: self.adistill(trajectory))

    def _checked(self, trajectory: Trajectory, drafts: DraftList) -> list[DistilledItem]:
        ctx = context_of(trajectory)
        known = {tag for step in trajectory.steps for tag in step.tags}
        winner = trajectory.winning_step
        out: list[DistilledItem] = []
        for draft in drafts.items[: self.max_items]:
            kind = ItemKind(draft.kind)
            if kind is ItemKind.STRATEGY and winner is None:
                continue
            tags = tuple(dict.fromkeys(t for t in draft.tags if t in known))
            if kind is ItemKind.STRATEGY and not tags and winner is not None:
                tags = winner.tags
            out.append(
                DistilledItem(
                    kind=kind,
                    title=one_line(draft.title, TITLE_CHARS),
                    description=one_line(draft.description or draft.title),
                    content=draft.content.strip(),
                    tags=tags,
                    context=ctx,
                )
            )
        return out
