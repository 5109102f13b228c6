"""Edits proposed by a plain-completion model (a pretrained, not instruction-tuned, model).

A small local model such as Gemma 3 270M cannot be relied on to answer in JSON, so
the question is a few-shot text completion that ends where a SEARCH/REPLACE block
starts; the model continues it and the reply is cut at ``>>>>>>> REPLACE``. The
block is applied by the edit engine like any other candidate, so the engine's
behaviour on real model output (not on edits the project rendered itself) can be
measured. Recalled memories, when given, are written into the prompt.

The completion function is injected (``complete(prompt) -> text``), so this module
imports no model client: the benchmark passes ``litellm.Router.atext_completion``
against the local llama.cpp server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from patterns.codegen.bank.ranking import prompt_block
from patterns.codegen.bank.records import RecalledItem
from patterns.codegen.records import Candidate, EditFormat, TestOutcome

Complete = Callable[[str], Awaitable[str]]
"""Sends a prompt to a completion model and returns the generated text."""

SEARCH_MARK = "<<<<<<< SEARCH\n"
DIVIDER = "======="
REPLACE_MARK = ">>>>>>> REPLACE"
STOP = (REPLACE_MARK,)  # stop sequences the completion should be sent with
DEFAULT_MEMORY_CHARS = 600  # memory block budget (a small model has a short context)
ITEM_CHARS = 160

EXAMPLES = (
    "### Program\n"
    "def count_positive(xs):\n"
    "    n = 0\n"
    "    for x in xs:\n"
    "        if x < 0:\n"
    "            n += 1\n"
    "    return n\n"
    "### Failing test\n"
    "AssertionError: assert candidate([1, -2, 3]) == 2 (num:too-low)\n"
    "### Fix\n"
    f"{SEARCH_MARK}"
    "        if x < 0:\n"
    f"{DIVIDER}\n"
    "        if x > 0:\n"
    f"{REPLACE_MARK}\n\n",
    "### Program\n"
    "def last_items(items, k):\n"
    '    """The last k items."""\n'
    "    return items[len(items) - k - 1:]\n"
    "### Failing test\n"
    "AssertionError: assert candidate([4, 5, 6], 2) == [5, 6] (seq:one-extra)\n"
    "### Fix\n"
    f"{SEARCH_MARK}"
    "    return items[len(items) - k - 1:]\n"
    f"{DIVIDER}\n"
    "    return items[len(items) - k:]\n"
    f"{REPLACE_MARK}\n\n",
)
"""Two worked repairs, different in code and fix, so the model learns the format, not a line."""


def completion_prompt(source: str, outcome: TestOutcome, memory: str = "") -> str:
    """The few-shot prompt: one worked example, then the program, its failure, the memories."""
    failure = outcome.signature
    if outcome.shapes:
        failure += f" ({', '.join(outcome.shapes[:3])})"
    parts = [
        "Each program below fails its tests. The fix is one minimal SEARCH/REPLACE edit.\n\n",
        *EXAMPLES,
        f"### Program\n{source.rstrip()}\n### Failing test\n{failure}\n",
    ]
    if memory:
        parts.append(f"### What fixed similar failures before\n{memory}\n")
    parts.append(f"### Fix\n{SEARCH_MARK}")
    return "".join(parts)


def parse_completion(text: str) -> str | None:
    """The SEARCH/REPLACE block a completion (the text after ``<<<<<<< SEARCH``) spells.

    Returns:
        A whole block ending in ``>>>>>>> REPLACE``, or None when there is no divider
        or the search text is empty.
    """
    body = text.split(REPLACE_MARK, 1)[0]
    lines = body.split("\n")
    try:
        cut = next(i for i, line in enumerate(lines) if line.strip() == DIVIDER)
    except StopIteration:
        return None
    search = "\n".join(lines[:cut]).rstrip("\n")
    replace = "\n".join(lines[cut + 1 :]).rstrip("\n")
    if not search.strip():
        return None
    return f"{SEARCH_MARK}{search}\n{DIVIDER}\n{replace}\n{REPLACE_MARK}\n"


def literal_application(source: str, block: str) -> str | None:
    """``source`` with the block applied literally (search text found exactly once), else None.

    The reference the edit engine's result is compared with for exact match.
    """
    body = block[len(SEARCH_MARK) :]
    search, _, rest = body.partition(f"\n{DIVIDER}\n")
    replace = rest[: -len(f"\n{REPLACE_MARK}\n")] if rest.endswith(f"{REPLACE_MARK}\n") else rest
    search_text, replace_text = search + "\n", replace + "\n" if replace else ""
    if source.count(search_text) != 1:
        return None
    return source.replace(search_text, replace_text, 1)


@dataclass(frozen=True, slots=True)
class ModelProposal:
    """One completion and what it parsed into.

    Attributes:
        prompt: the prompt sent.
        reply: the generated text.
        edit: the parsed SEARCH/REPLACE block, or None.
        memory: the memory block in the prompt (empty without memories).
    """

    prompt: str
    reply: str
    edit: str | None
    memory: str


class CompletionEditGenerator:
    """Proposes one SEARCH/REPLACE candidate per task from a plain-completion model.

    Usable as a :class:`~patterns.codegen.agent.RepairAgent` ``model_generator``.

    Args:
        complete: sends a prompt and returns the completion.
        name: the model's name (the candidates' ``source`` and ``model:<name>`` tag).
        memory_chars: budget of the memory block.
    """

    def __init__(
        self, complete: Complete, name: str = "model", memory_chars: int = DEFAULT_MEMORY_CHARS
    ) -> None:
        self.complete = complete
        self.name = name
        self.memory_chars = memory_chars

    async def ask(
        self, source: str, outcome: TestOutcome, recalled: Sequence[RecalledItem] = ()
    ) -> ModelProposal:
        """Prompt the model for ``source`` failing with ``outcome``, memories in the prompt."""
        memory = prompt_block(recalled, self.memory_chars, ITEM_CHARS) if recalled else ""
        prompt = completion_prompt(source, outcome, memory)
        reply = await self.complete(prompt)
        return ModelProposal(prompt, reply, parse_completion(reply), memory)

    async def propose(
        self,
        task: str,
        source: str,
        outcome: TestOutcome,
        recalled: Sequence[RecalledItem],
    ) -> list[Candidate]:
        """The model's candidate for the agent (none when the reply does not parse)."""
        proposal = await self.ask(source, outcome, recalled)
        if proposal.edit is None:
            return []
        digest = hashlib.sha256(proposal.edit.encode()).hexdigest()[:10]
        return [
            Candidate(
                id=f"model:{self.name}:{digest}",
                edit=proposal.edit,
                format=EditFormat.SEARCH_REPLACE,
                tags=(f"model:{self.name}", "format:search_replace"),
                description=f"{self.name} edit",
                source=self.name,
            )
        ]
