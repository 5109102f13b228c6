"""The voter pool: one litellm Router over the model list, asked with per-voter deadlines."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from litellm.router import Router
from openai import AsyncOpenAI

from patterns.consensus_router.callables import (
    CALLABLES_KEY,
    QUESTION_KEY,
    CallableVoter,
    VoterFn,
    as_callable_voter,
    ensure_registered,
)
from patterns.consensus_router.exceptions import ModelListError, SchemaError, UnknownVoterError
from patterns.consensus_router.model_list import ModelList, VoterSpec, load_model_list
from patterns.consensus_router.prompts import build_messages
from patterns.consensus_router.records import RAW_REPLY_CHARS, Question, Vote, VoteStatus
from patterns.consensus_router.settings import RouterSettings, checked

LOG = logging.getLogger(__name__)
ERROR_CHARS = 300  # a failed vote keeps at most this much of the error message
SETTINGS_TO_ROUTER = {"num_retries": "num_retries", "retry_after_s": "retry_after"}
# litellm builds a new HTTP client (and a new connection) for every call of these providers
SHARED_CLIENT_PROVIDERS = ("text-completion-openai/",)
FALLBACK_OPTIONS = (
    "fallbacks",
    "default_fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
)


def _router_options(model_list: ModelList, settings: RouterSettings) -> dict[str, Any]:
    """Router options: the YAML's router_settings, then fields set explicitly in settings."""
    options: dict[str, Any] = dict(model_list.router_settings)
    for field, option in SETTINGS_TO_ROUTER.items():
        if field in settings.model_fields_set or option not in options:
            options[option] = getattr(settings, field)
    return options


def _shared_client_params(
    entries: Sequence[Mapping[str, Any]], router_settings: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The voters whose calls may all go through one HTTP client of the pool's, by name, with
    the ``api_base`` and ``api_key`` of their deployment.

    litellm opens a new client, so a new connection, for every call of a
    ``text-completion-openai`` model. A voter qualifies when it is exactly one such
    deployment with an explicit ``api_base`` and no router fallbacks are configured (a
    fallback would carry the client to another deployment).
    """
    if any(router_settings.get(option) for option in FALLBACK_OPTIONS):
        return {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(str(entry["model_name"]), []).append(entry["litellm_params"])
    out: dict[str, dict[str, Any]] = {}
    for name, deployments in groups.items():
        if len(deployments) != 1:
            continue
        params = deployments[0]
        model = str(params.get("model", ""))
        if model.startswith(SHARED_CLIENT_PROVIDERS) and params.get("api_base"):
            out[name] = {"base_url": params["api_base"], "api_key": params.get("api_key") or "-"}
    return out


def _usage(response: Any) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def _token_logprobs(logprobs: Any) -> list[tuple[str, float]]:
    """(token, logprob) pairs from a chat (``content``) or text-completion (``tokens``) shape."""
    if logprobs is None:
        return []
    content = getattr(logprobs, "content", None)
    if content is None and isinstance(logprobs, Mapping):
        content = logprobs.get("content")
    if content:
        return [
            (str(t["token"]), float(t["logprob"]))
            if isinstance(t, Mapping)
            else (str(t.token), float(t.logprob))
            for t in content
        ]
    tokens = getattr(logprobs, "tokens", None)
    values = getattr(logprobs, "token_logprobs", None)
    if isinstance(logprobs, Mapping):
        tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if tokens and values:
        return [(str(t), float(v)) for t, v in zip(tokens, values, strict=False) if v is not None]
    return []


def _logprob_confidence(response: Any) -> float | None:
    """Probability of the reply's non-blank tokens, from the log-probabilities the server sent."""
    try:
        logprobs = response.choices[0].logprobs
    except (AttributeError, IndexError, TypeError):
        return None
    pairs = [(t, lp) for t, lp in _token_logprobs(logprobs) if t.strip()]
    if not pairs:
        return None
    return min(1.0, max(0.0, math.exp(sum(lp for _, lp in pairs))))


class VoterPool:
    """Voters behind one litellm Router: models of any provider and Python callables.

    Every call goes through ``Router.acompletion`` (retries, fallbacks, cooldowns,
    cost accounting) and is cut at the voter's deadline: a voter that is slow or
    fails becomes a TIMED_OUT or FAILED vote, never a stall.
    """

    def __init__(
        self,
        model_list: ModelList,
        settings: RouterSettings | None = None,
        callables: Mapping[str, CallableVoter | VoterFn] | None = None,
    ) -> None:
        """Build the Router.

        Args:
            model_list: the validated model list.
            settings: deadlines, retries, secrets (``api_keys``) and cascade options.
            callables: Python-callable voters by the NAME of their ``pyvoter/NAME`` model.

        Raises:
            UnknownVoterError: a ``pyvoter/NAME`` voter has no callable NAME.
            MissingSecretError: an api_key reference has no value.
            ModelListError: a prompt template is invalid, or litellm refuses the list.
        """
        self.settings = checked(settings)
        self.model_list = model_list
        self._callables = {k: as_callable_voter(v) for k, v in (callables or {}).items()}
        provider = ensure_registered()
        self._specs = {spec.name: spec for spec in model_list.voters}
        for spec in self._specs.values():
            name = spec.callable_name
            if spec.is_callable and name not in self._callables and name not in provider.registry:
                raise UnknownVoterError(f"voter {spec.name}: no callable registered as {name!r}")
        entries = model_list.resolved_entries(self.settings.api_keys)
        try:
            self._router = Router(model_list=entries, **_router_options(model_list, self.settings))
        except (ValueError, TypeError) as err:
            raise ModelListError(f"litellm.Router refused the model list: {err}") from None
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._shareable = _shared_client_params(entries, model_list.router_settings)
        self._clients: dict[asyncio.AbstractEventLoop, dict[str, AsyncOpenAI]] = {}

    def _client(self, name: str) -> AsyncOpenAI | None:
        """The pool's HTTP client for voter ``name`` in the running loop (connections are
        kept and reused between calls), or ``None`` when litellm should make its own."""
        params = self._shareable.get(name)
        if params is None:
            return None
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop)
        if clients is None:
            self._clients = {k: v for k, v in self._clients.items() if not k.is_closed()}
            clients = self._clients[loop] = {}
        client = clients.get(name)
        if client is None:
            client = clients[name] = AsyncOpenAI(
                **params, max_retries=0, timeout=self.timeout_s(name)
            )
        return client

    async def aclose(self) -> None:
        """Close the HTTP clients the pool opened in the running loop (it may be asked again:
        new clients are made on demand)."""
        clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.close()

    def _semaphore(self) -> asyncio.Semaphore:
        """The call limiter of the running event loop (a semaphore binds to one loop)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            self._semaphores = {k: v for k, v in self._semaphores.items() if not k.is_closed()}
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.settings.max_parallel_calls)
        return semaphore

    @classmethod
    def from_yaml(
        cls,
        path: str | Path | None = None,
        settings: RouterSettings | None = None,
        callables: Mapping[str, CallableVoter | VoterFn] | None = None,
    ) -> VoterPool:
        """A pool from a YAML model list (``path``, else ``settings.model_list_path``).

        Raises:
            ModelListError: no path given, or the file is not a valid model list.
        """
        settings = checked(settings)
        source = path if path is not None else settings.model_list_path
        if source is None:
            raise ModelListError("no model list: pass a path or set model_list_path")
        return cls(load_model_list(source), settings, callables)

    @property
    def voters(self) -> tuple[VoterSpec, ...]:
        """Every voter, in model-list order."""
        return tuple(self._specs.values())

    def spec(self, name: str) -> VoterSpec:
        """The voter named ``name``.

        Raises:
            UnknownVoterError: no such voter.
        """
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownVoterError(f"no voter {name!r}; voters: {sorted(self._specs)}") from None

    def price_per_call(self, name: str) -> float:
        """Estimated USD of one call of ``name`` at the settings' typical call size."""
        return self.spec(name).price_per_call(
            self.settings.cost_estimate_prompt_tokens, self.settings.cost_estimate_completion_tokens
        )

    def timeout_s(self, name: str) -> float:
        """The deadline of one call of ``name``, seconds."""
        return self.spec(name).timeout_s or self.settings.voter_timeout_s

    def tiers(self, names: Sequence[str] | None = None) -> list[tuple[str, ...]]:
        """Voters grouped into cascade stages, cheapest first.

        When every voter sets ``model_info.tier`` the tiers are used; otherwise voters
        are ranked by :meth:`price_per_call`, equal prices sharing a stage.
        """
        chosen = [self.spec(n) for n in (names if names is not None else list(self._specs))]
        explicit = all(s.tier is not None for s in chosen)
        groups: dict[float, list[str]] = {}
        for spec in chosen:
            rank = float(spec.tier) if explicit and spec.tier is not None else None
            groups.setdefault(
                rank if rank is not None else self.price_per_call(spec.name), []
            ).append(spec.name)
        return [tuple(groups[rank]) for rank in sorted(groups)]

    async def ask(self, name: str, question: Question, deadline: float | None = None) -> Vote:
        """Ask one voter through the Router; cut the call at its deadline.

        Args:
            name: the voter.
            question: the question.
            deadline: a ``time.monotonic()`` instant the call may not outlive, on top of
                the voter's own timeout.

        Returns:
            The vote: ANSWERED, or ABSTAINED, MALFORMED, TIMED_OUT or FAILED.
        """
        spec = self.spec(name)
        budget = spec.timeout_s or self.settings.voter_timeout_s
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        kwargs: dict[str, Any] = {
            "metadata": {QUESTION_KEY: question, CALLABLES_KEY: self._callables},
            "timeout": max(budget, 1e-3),
        }
        if not spec.is_callable:
            kwargs["max_tokens"] = spec.max_tokens or self.settings.max_tokens
            if spec.logprobs:
                kwargs["logprobs"] = True
            client = self._client(name)
            if client is not None:
                kwargs["client"] = client
        started = time.perf_counter()
        try:
            messages = build_messages(question, spec)
        except SchemaError as err:
            return Vote(
                name,
                VoteStatus.FAILED,
                error=str(err)[:ERROR_CHARS],
                replied_at=time.perf_counter(),
            )
        try:
            if budget <= 0:
                raise TimeoutError
            async with asyncio.timeout(budget), self._semaphore():
                response = await self._router.acompletion(model=name, messages=messages, **kwargs)
        except TimeoutError:
            now = time.perf_counter()
            return Vote(name, VoteStatus.TIMED_OUT, latency_s=now - started, replied_at=now)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a provider error after the Router's retries and fallbacks
            message = f"{type(err).__name__}: {err}"[:ERROR_CHARS]
            LOG.info("voter %s failed: %s", name, message)
            now = time.perf_counter()
            return Vote(
                name,
                VoteStatus.FAILED,
                latency_s=now - started,
                error=message,
                replied_at=now,
            )
        now = time.perf_counter()
        return self._vote(name, spec, question, response, now - started, now)

    def _vote(
        self,
        name: str,
        spec: VoterSpec,
        question: Question,
        response: Any,
        latency: float,
        replied_at: float,
    ) -> Vote:
        prompt_tokens, completion_tokens = _usage(response)
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if not isinstance(cost, int | float):
            cost = spec.price_per_call(prompt_tokens, completion_tokens)
        headers = hidden.get("additional_headers") or {}
        served_by = headers.get("x-litellm-model-group", name)
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError):
            text = ""
        common: dict[str, Any] = {
            "raw": text[:RAW_REPLY_CHARS],
            "latency_s": latency,
            "cost_usd": float(cost),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "served_by": served_by,
            "replied_at": replied_at,
        }
        if not text.strip():
            return Vote(name, VoteStatus.ABSTAINED, **common)
        if spec.extract is not None:
            matches = list(re.finditer(spec.extract, text))
            if not matches:
                return Vote(name, VoteStatus.MALFORMED, **common)
            text = matches[-1].group(1)
        parsed = question.schema.parse(text)
        if parsed is None:
            return Vote(name, VoteStatus.MALFORMED, **common)
        confidence = parsed.confidence
        if confidence is None and spec.logprobs:
            confidence = _logprob_confidence(response)
        return Vote(
            name,
            VoteStatus.ANSWERED,
            key=parsed.key,
            value=parsed.value,
            confidence=confidence,
            **common,
        )

    async def ask_many(
        self, names: Sequence[str], question: Question, deadline: float | None = None
    ) -> tuple[Vote, ...]:
        """Ask ``names`` in parallel; each call has its own deadline. Votes keep ``names``' order."""
        return tuple(await asyncio.gather(*(self.ask(n, question, deadline) for n in names)))
