"""Python callables as voters: a litellm custom provider (``pyvoter/NAME``) behind the Router."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import ModelResponse, Usage
from pydantic import BaseModel

from patterns.consensus_router.model_list import CALLABLE_PROVIDER
from patterns.consensus_router.records import Question
from patterns.consensus_router.schema import LabelSchema

QUESTION_KEY = "swarmkit_question"  # request metadata: the Question being voted on
CALLABLES_KEY = "swarmkit_callables"  # request metadata: the pool's callables by name
HTTP_BAD_REQUEST = 400
HTTP_INTERNAL_ERROR = 500


@dataclass(frozen=True, slots=True)
class CallableReply:
    """A callable voter's answer with its own confidence in [0, 1]."""

    answer: object
    confidence: float | None = None


VoterResult = str | CallableReply | Mapping[str, Any] | BaseModel | None
VoterFn = Callable[[Question], VoterResult | Awaitable[VoterResult]]


@dataclass(frozen=True, slots=True)
class CallableVoter:
    """A Python function that votes.

    Attributes:
        fn: called with the question; returns (or awaits to) a label string, a
            :class:`CallableReply`, a mapping or pydantic model for object schemas,
            or None to abstain. A raised exception is a failed call (retried and
            failed over by the Router).
        in_thread: run a synchronous ``fn`` in a worker thread so a slow one cannot
            block the event loop past other voters' deadlines.
    """

    fn: VoterFn
    in_thread: bool = True


def as_callable_voter(voter: CallableVoter | VoterFn) -> CallableVoter:
    """``voter`` itself, or a plain function wrapped with the defaults."""
    return voter if isinstance(voter, CallableVoter) else CallableVoter(voter)


def reply_text(question: Question, result: VoterResult) -> str:
    """The reply text of a callable's result, in the form the question's schema parses."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    answer: object = result
    confidence: float | None = None
    if isinstance(result, CallableReply):
        answer, confidence = result.answer, result.confidence
    if isinstance(answer, BaseModel):
        answer = answer.model_dump(mode="json")
    if isinstance(question.schema, LabelSchema) and not isinstance(answer, str):
        answer = str(answer)
    body: dict[str, Any] = {"answer": answer}
    if confidence is not None:
        body["confidence"] = confidence
    return json.dumps(body, default=str)


def _token_count(text: str) -> int:
    """Tokens of ``text`` by litellm's default tokenizer (what per-token prices apply to)."""
    return int(litellm.token_counter(text=text)) if text else 0


def _error(status: int, message: str) -> Exception:
    """A litellm provider error, which the Router retries and fails over like any other."""
    return CustomLLMError(status, message)  # type: ignore[no-untyped-call]


async def _run(voter: CallableVoter, question: Question) -> VoterResult:
    if inspect.iscoroutinefunction(voter.fn):
        result: object = await voter.fn(question)
    elif voter.in_thread:
        result = await asyncio.to_thread(voter.fn, question)
    else:
        result = voter.fn(question)
    if inspect.isawaitable(result):
        result = await result
    return result  # type: ignore[return-value]  # the VoterFn contract


class CallableProvider(CustomLLM):
    """The ``pyvoter`` provider: runs the callable named by the model on the question.

    Rules, classifiers and memory lookups answer through the same Router path as
    models (retries, fallbacks, cooldowns, cost accounting): the pool passes the
    :class:`~patterns.consensus_router.records.Question` and its callables in the
    request metadata, and this provider calls the one named by the model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.registry: dict[str, CallableVoter] = {}

    def _resolve(
        self, model: str, litellm_params: Mapping[str, Any] | None
    ) -> tuple[CallableVoter, Question]:
        metadata = (litellm_params or {}).get("metadata") or {}
        question = metadata.get(QUESTION_KEY)
        if not isinstance(question, Question):
            raise _error(
                HTTP_BAD_REQUEST, f"{CALLABLE_PROVIDER}/{model} needs a Question in the metadata"
            )
        callables = metadata.get(CALLABLES_KEY) or {}
        voter = callables.get(model) or self.registry.get(model)
        if voter is None:
            raise _error(HTTP_BAD_REQUEST, f"no callable voter named {model!r}")
        return voter, question

    @staticmethod
    def _fill(
        model_response: ModelResponse, model: str, messages: list[dict[str, Any]], text: str
    ) -> ModelResponse:
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        prompt_tokens = _token_count(prompt)
        completion_tokens = _token_count(text)
        model_response.choices[0].message.content = text
        model_response.model = f"{CALLABLE_PROVIDER}/{model}"
        model_response.created = int(time.time())
        model_response.usage = Usage(  # type: ignore[attr-defined]
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        return model_response

    async def acompletion(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, Any]],
        model_response: ModelResponse,
        litellm_params: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> ModelResponse:
        """Run the callable voter ``model`` on the question in the request metadata."""
        voter, question = self._resolve(model, litellm_params)
        try:
            result = await _run(voter, question)
        except Exception as err:
            raise _error(
                HTTP_INTERNAL_ERROR, f"callable voter {model!r} raised {type(err).__name__}: {err}"
            ) from err
        return self._fill(model_response, model, messages, reply_text(question, result))

    def completion(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, Any]],
        model_response: ModelResponse,
        litellm_params: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> ModelResponse:
        """Synchronous path (``Router.completion``): coroutine voters are refused."""
        voter, question = self._resolve(model, litellm_params)
        if inspect.iscoroutinefunction(voter.fn):
            raise _error(HTTP_BAD_REQUEST, f"{model!r} is async; use acompletion")
        try:
            result = voter.fn(question)
        except Exception as err:
            raise _error(
                HTTP_INTERNAL_ERROR, f"callable voter {model!r} raised {type(err).__name__}: {err}"
            ) from err
        return self._fill(model_response, model, messages, reply_text(question, result))  # type: ignore[arg-type]


PROVIDER = CallableProvider()


def ensure_registered() -> CallableProvider:
    """Register the ``pyvoter`` provider with litellm once per process; return it."""
    if not any(item.get("provider") == CALLABLE_PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": CALLABLE_PROVIDER, "custom_handler": PROVIDER}
        )
    from litellm.utils import custom_llm_setup

    custom_llm_setup()  # type: ignore[no-untyped-call]
    return PROVIDER
