"""ModelEditGenerator: model voters propose edits through pattern 5's router, with recalled memories.

The router is imported when a question is built, so importing this module does not load
litellm.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from patterns.codegen.bank.distill import one_line
from patterns.codegen.bank.ranking import prompt_block
from patterns.codegen.bank.records import RecalledItem
from patterns.codegen.bank.settings import BankSettings
from patterns.codegen.records import Candidate, EditFormat, TestOutcome
from patterns.core.exceptions import ConfigError

if TYPE_CHECKING:
    from patterns.consensus_router.pool import VoterPool
    from patterns.consensus_router.records import Question, Vote

MAX_SAMPLES = 16  # most questions per voter in one propose() call
DEFAULT_MEMORY_CHARS = 1500  # budget of the memory block in the prompt, characters
EDIT_CHARS = 20_000  # longest edit a reply may carry

FORMAT_HELP = {
    EditFormat.SEARCH_REPLACE: "search_replace: <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks",
    EditFormat.UNIFIED_DIFF: "unified_diff: `diff -u` hunks",
    EditFormat.LAZY: "lazy: changed regions only, unchanged code elided with "
    "`# ... existing code ...`",
}


class EditReply(BaseModel):
    """What a model voter replies: one edit of the source."""

    format: EditFormat = Field(description="The edit's format.")
    edit: str = Field(min_length=1, max_length=EDIT_CHARS, description="The edit text.")
    rationale: str = Field("", max_length=1000, description="Why the edit fixes the failure.")


def numbered(source: str) -> str:
    """``source`` with right-aligned 1-based line numbers (``  12 | code``)."""
    lines = source.splitlines()
    width = max(3, len(str(len(lines))))
    return "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))


def edit_prompt(task: str, source: str, outcome: TestOutcome | None, memory: str) -> str:
    """The question text: task, failing-test signature, numbered source, memory block."""
    signature = outcome.signature if outcome is not None else "not run yet"
    if outcome is not None and not outcome.passed and outcome.total:
        signature = f"{signature} ({outcome.failed} of {outcome.total} assertions failed)"
    formats = "\n".join(f"- {text}" for text in FORMAT_HELP.values())
    parts = [
        "Fix the program so that its tests pass. Propose one minimal edit.",
        f"Task:\n{task.strip()}",
        f"Failing tests: {signature}",
        f"Source (line numbers are not part of the file):\n{numbered(source)}",
    ]
    if memory:
        parts.append(f"Memory from earlier repairs:\n{memory}")
    parts.append(f"Edit formats:\n{formats}\nSearch text must match the source exactly.")
    return "\n\n".join(parts)


class ModelEditGenerator:
    """Asks model voters for candidate edits, with the reasoning bank's memories in the prompt.

    Every voter is asked at once through :meth:`VoterPool.ask` (deadlines, retries and
    costs are the pool's). Replies that do not parse into an :class:`EditReply` are
    dropped, as are duplicate edits.

    Args:
        pool: the voter pool.
        voters: names of the voters to ask.
        memory_chars: budget of the memory block in each prompt.
        settings: bank settings (the per-item line length of the memory block).

    Raises:
        ConfigError: no voters.
    """

    def __init__(
        self,
        pool: VoterPool,
        voters: Sequence[str],
        *,
        memory_chars: int = DEFAULT_MEMORY_CHARS,
        settings: BankSettings | None = None,
    ) -> None:
        if isinstance(voters, str) or not voters:
            raise ConfigError("ModelEditGenerator needs a non-empty sequence of voter names")
        if memory_chars < 0:
            raise ConfigError(f"memory_chars={memory_chars} must be >= 0")
        self.pool = pool
        self.voters = tuple(voters)
        self.memory_chars = memory_chars
        self.settings = settings if settings is not None else BankSettings()

    def question(
        self,
        task: str,
        source: str,
        outcome: TestOutcome | None,
        recalled: Sequence[RecalledItem],
        sample: int = 0,
    ) -> Question:
        """The question put to the voters (sample ``sample`` of a round)."""
        from patterns.consensus_router.records import Question
        from patterns.consensus_router.schema import ObjectSchema

        memory = prompt_block(recalled, self.memory_chars, self.settings.prompt_item_chars)
        text = edit_prompt(task, source, outcome, memory)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return Question(
            id=f"edit:{digest}:{sample}",
            text=text,
            schema=ObjectSchema(EditReply),
            payload={
                "task": task,
                "source": source,
                "signature": outcome.signature if outcome is not None else None,
                "memory": memory,
                "recalled_ids": [r.item.id for r in recalled],
                "sample": sample,
            },
        )

    async def propose(
        self,
        task: str,
        source: str,
        outcome: TestOutcome | None,
        recalled: Sequence[RecalledItem],
        *,
        n: int = 1,
    ) -> list[Candidate]:
        """Ask every voter ``n`` times; return the distinct edits that parsed.

        Args:
            task: the task statement.
            source: the current program.
            outcome: its last test outcome (its signature goes into the prompt), or None.
            recalled: items from :meth:`ReasoningBank.recall`; their block goes into the prompt.
            n: questions per voter (distinct sample ids, for sampling voters), 1..16.

        Returns:
            Candidates in voter order, then sample order. Each has ``source`` = the
            voter, tags ``model:<voter>`` and ``format:<format>``, ``score`` = the
            voter's confidence (0 when it gave none).

        Raises:
            ConfigError: ``n`` outside 1..16.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
            raise ConfigError(f"n={n!r} must be an integer in 1..{MAX_SAMPLES}")
        questions = [self.question(task, source, outcome, recalled, i) for i in range(n)]
        asks = [(name, q) for name in self.voters for q in questions]
        votes: list[Vote] = list(
            await asyncio.gather(*(self.pool.ask(name, q) for name, q in asks))
        )
        out: list[Candidate] = []
        seen: set[tuple[EditFormat, str]] = set()
        for vote in votes:
            reply = vote.value
            if not vote.answered or not isinstance(reply, EditReply) or not reply.edit.strip():
                continue
            key = (reply.format, reply.edit)
            if key in seen:
                continue
            seen.add(key)
            digest = hashlib.sha256(f"{reply.format}\0{reply.edit}".encode()).hexdigest()[:10]
            out.append(
                Candidate(
                    id=f"model:{vote.voter}:{digest}",
                    edit=reply.edit,
                    format=reply.format,
                    tags=(f"model:{vote.voter}", f"format:{reply.format.value}"),
                    description=one_line(reply.rationale or f"{vote.voter} edit"),
                    score=vote.confidence if vote.confidence is not None else 0.0,
                    source=vote.voter,
                )
            )
        return out
