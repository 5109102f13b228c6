"""Distillers turn a finished trajectory into strategy and pitfall items; the rule-based default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from patterns.codegen.bank.codec import context_of
from patterns.codegen.bank.records import UNTAGGED, DistilledItem, ItemContext, ItemKind
from patterns.codegen.records import Step, Trajectory

DESCRIPTION_CHARS = 160  # longest one-line description
ERROR_CHARS = 160  # longest apply error or test signature quoted in an item


@runtime_checkable
class Distiller(Protocol):
    """Extracts memory items from one finished trajectory (synchronously)."""

    def distill(self, trajectory: Trajectory) -> list[DistilledItem]:
        """The items ``trajectory`` teaches; may be empty."""
        ...


@runtime_checkable
class AsyncDistiller(Protocol):
    """A distiller that can also run on the caller's event loop (used by ``arecord``)."""

    async def adistill(self, trajectory: Trajectory) -> list[DistilledItem]:
        """The items ``trajectory`` teaches; may be empty."""
        ...


def where(ctx: ItemContext) -> str:
    """``<signature> in <features>`` as items word their context."""
    signature = ctx.signature or "this failure"
    if ctx.features:
        return f"{signature} in code with {', '.join(ctx.features)}"
    return signature


def one_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The text on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _error_name(signature: str) -> str:
    head = signature.split(":", 1)[0].strip()
    return head or "the failure"


def _result(step: Step) -> str:
    if not step.applied:
        return (
            f"the edit did not apply ({one_line(step.apply_error or 'unknown error', ERROR_CHARS)})"
        )
    if step.outcome is None:
        return "it was never tested"
    if step.outcome.timed_out:
        return "the tests timed out"
    return f"the tests still failed with {one_line(step.outcome.signature, ERROR_CHARS)}"


class RuleDistiller:
    """Deterministic distillation from the steps' tags and outcomes.

    - The winning step of a successful trajectory gives one strategy: "for
      <signature> in <features>, <tag> (<description>) fixed it".
    - Each failed step gives a pitfall "for <signature> in <features>, <tag> did not
      fix it: <what happened>", one per distinct primary tag (the first failure of
      that tag is quoted, the count of failures noted). Failed steps sharing the
      winning step's primary tag are skipped: that edit kind worked, only its
      placement was wrong.
    """

    def distill(self, trajectory: Trajectory) -> list[DistilledItem]:
        """Strategy and pitfall items of ``trajectory``."""
        ctx = context_of(trajectory)
        place = where(ctx)
        error = _error_name(ctx.signature)
        items: list[DistilledItem] = []
        winner = trajectory.winning_step if trajectory.success else None
        if winner is not None:
            tag = winner.tags[0] if winner.tags else UNTAGGED
            what = f"{tag} ({one_line(winner.description)})" if winner.description else tag
            items.append(
                DistilledItem(
                    kind=ItemKind.STRATEGY,
                    title=f"{tag} fixes {error}",
                    description=one_line(f"{what} fixed {ctx.signature or 'the failure'}"),
                    content=(
                        f"For {place}, applying {what} fixed it "
                        f"(attempt {winner.index + 1} of {trajectory.attempts})."
                    ),
                    tags=winner.tags,
                    context=ctx,
                )
            )
        failures: dict[str, list[Step]] = {}
        for step in trajectory.steps:
            if step.succeeded or step.adopted:  # a kept partial fix is no pitfall
                continue
            tag = step.tags[0] if step.tags else UNTAGGED
            if winner is not None and winner.tags and tag == winner.tags[0]:
                continue
            failures.setdefault(tag, []).append(step)
        for tag, steps in failures.items():
            first = steps[0]
            what = f"{tag} ({one_line(first.description)})" if first.description else tag
            times = f" ({len(steps)} attempts)" if len(steps) > 1 else ""
            items.append(
                DistilledItem(
                    kind=ItemKind.PITFALL,
                    title=f"{tag} does not fix {error}",
                    description=one_line(f"{what} did not fix {ctx.signature or 'the failure'}"),
                    content=f"For {place}, {what} did not fix it{times}: {_result(first)}.",
                    tags=_union(s.tags for s in steps),
                    context=ctx,
                )
            )
        return items


def _union(tag_lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for tags in tag_lists:
        for tag in tags:
            out.setdefault(tag, None)
    return tuple(out)
