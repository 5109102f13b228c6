"""The model fallback: rewrite a whole file when a deterministic merge is low confidence."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from patterns.codegen.exceptions import AmbiguousAnchorError, EditError

if TYPE_CHECKING:
    from patterns.consensus_router.pool import VoterPool

PROMPT = """Apply an edit to a file and return the whole merged file.

The deterministic merge failed: {reason}

Rules: change only what the edit asks for; keep every other line exactly as it is
(indentation, blank lines, comments). Markers such as `# ... existing code ...` stand
for unchanged code of the original. Return the complete file in the field `content`.

=== ORIGINAL FILE ===
{original}
=== EDIT ===
{edit}
=== END ==="""


class MergedFile(BaseModel):
    """What a merging model must reply: the whole merged file."""

    content: str = Field(description="the complete merged file")


class ModelMerger(Protocol):
    """Rewrites a file from an edit the deterministic merge could not place with confidence."""

    async def rewrite(self, original: str, edit: str, reason: EditError) -> str:
        """The whole merged file.

        Args:
            original: the file's text.
            edit: the edit text.
            reason: why the deterministic merge declined (its hunk and candidates).

        Raises:
            EditError: no usable rewrite.
        """
        ...


class RouterMerger:
    """A :class:`ModelMerger` that asks one voter of a consensus-router
    :class:`~patterns.consensus_router.pool.VoterPool` (pattern 5).

    The question's schema is an object with one ``content`` string; its payload
    carries ``original``, ``edit``, ``reason`` and ``hunk`` for Python-callable voters.
    The router is imported only when a rewrite is asked for.
    """

    def __init__(self, pool: VoterPool, voter: str) -> None:
        """Args:
        pool: the voter pool.
        voter: the voter (model_name of the model list) to ask.
        """
        self.pool = pool
        self.voter = voter

    async def rewrite(self, original: str, edit: str, reason: EditError) -> str:
        """Ask the voter for the merged file.

        Raises:
            AmbiguousAnchorError: the vote was not answered (the voter's status and
                error are in the detail).
        """
        from patterns.consensus_router.records import Question
        from patterns.consensus_router.schema import ObjectSchema

        digest = hashlib.sha256(f"{original}\0{edit}".encode()).hexdigest()[:16]
        question = Question(
            id=f"edit-merge-{digest}",
            text=PROMPT.format(reason=reason.detail, original=original, edit=edit),
            schema=ObjectSchema(MergedFile),
            payload={
                "original": original,
                "edit": edit,
                "reason": str(reason),
                "hunk": reason.hunk,
            },
        )
        vote = await self.pool.ask(self.voter, question)
        if not vote.answered or not isinstance(vote.value, MergedFile):
            error = f" ({vote.error})" if vote.error else ""
            candidates = reason.candidates if isinstance(reason, AmbiguousAnchorError) else ()
            raise AmbiguousAnchorError(
                f"{reason.detail}; the model merge by voter {self.voter!r} was not answered: "
                f"status {vote.status.value}{error}",
                hunk=reason.hunk,
                path=reason.path,
                candidates=candidates,
            )
        return vote.value.content
