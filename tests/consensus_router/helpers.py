"""Shared builders for the consensus router tests: votes, questions, pools of callable voters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from patterns.consensus_router import (
    CallableReply,
    CallableVoter,
    LabelSchema,
    Question,
    RouterSettings,
    Vote,
    VoterFn,
    VoterPool,
    VoteStatus,
    parse_model_list,
)

YES_NO = LabelSchema(("yes", "no"))


def vote(voter: str, key: str | None, confidence: float | None = None) -> Vote:
    """An answered vote for ``key``, or a malformed one for None."""
    if key is None:
        return Vote(voter, VoteStatus.MALFORMED, raw="???")
    return Vote(voter, VoteStatus.ANSWERED, key=key, value=key, confidence=confidence)


def question(qid: str = "q", critical: bool = False, **payload: Any) -> Question:
    """A yes/no question."""
    return Question(qid, f"question {qid}?", YES_NO, critical=critical, payload=payload)


def callable_entry(
    name: str, price: float = 1e-9, timeout: float | None = None, tier: int | None = None
) -> dict[str, Any]:
    """A model-list entry of the Python-callable voter ``name``."""
    params: dict[str, Any] = {
        "model": f"pyvoter/{name}",
        "input_cost_per_token": price,
        "output_cost_per_token": price,
    }
    if timeout is not None:
        params["timeout"] = timeout
    entry: dict[str, Any] = {"model_name": name, "litellm_params": params}
    if tier is not None:
        entry["model_info"] = {"voter": {"tier": tier}}
    return entry


def mock_entry(name: str, reply: str, price_in: float, price_out: float) -> dict[str, Any]:
    """A litellm mock-provider voter that always replies ``reply``."""
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"openai/{name}",
            "api_key": "sk-test-not-a-key",
            "mock_response": reply,
            "input_cost_per_token": price_in,
            "output_cost_per_token": price_out,
        },
    }


class Recorder:
    """Callable voters that answer from a script and record which were asked."""

    def __init__(self, answers: Mapping[str, str | CallableReply | None]) -> None:
        self.answers = dict(answers)
        self.asked: list[str] = []

    def voter(self, name: str) -> CallableVoter:
        def answer(q: Question) -> str | CallableReply | None:
            self.asked.append(name)
            return self.answers[name]

        return CallableVoter(answer, in_thread=False)

    def callables(self) -> dict[str, CallableVoter | VoterFn]:
        return {name: self.voter(name) for name in self.answers}


async def never_answers(q: Question) -> str:
    """A voter whose slowness is the point: it waits on an event that never fires."""
    await asyncio.Event().wait()
    return "yes"


def pool_of(
    entries: Sequence[dict[str, Any]],
    callables: Mapping[str, CallableVoter | VoterFn] | None = None,
    router: Mapping[str, Any] | None = None,
    **settings: Any,
) -> VoterPool:
    """A pool over ``entries`` (router options from ``router``, no retries by default)."""
    router_settings = {"num_retries": 0, **(router or {})}
    model_list = parse_model_list({"model_list": list(entries), "router_settings": router_settings})
    return VoterPool(model_list, RouterSettings(**settings), callables)
