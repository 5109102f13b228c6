"""Prefect tasks over pattern 5: decide a question by consensus of voters behind a litellm Router."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from pydantic import SecretStr

from patterns.consensus_router import (
    CallableVoter,
    ConsensusRouter,
    Decision,
    Mode,
    Question,
    ReliabilityLearner,
    RouterSettings,
    VoterFn,
    VoterPool,
    load_model_list,
    local_llm,
)
from patterns.consensus_router.settings import checked
from patterns.settings import get_settings
from tasks.retry import retry_if_retryable


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run logger inside a flow or task run, else this module's (``task.fn`` calls)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


_POOLS: dict[tuple[str, str, int, str], VoterPool] = {}


def router_settings(settings: RouterSettings | None = None) -> RouterSettings:
    """``settings``, else the project's ``router`` group if hooked in, else the defaults."""
    if settings is not None:
        return checked(settings)
    group = getattr(get_settings(), "router", None)
    return group if isinstance(group, RouterSettings) else RouterSettings()


async def resolve_secrets(model_list_path: str | Path, settings: RouterSettings) -> RouterSettings:
    """Settings whose ``api_keys`` hold every ``secret/NAME`` the model list names.

    Each NAME missing from ``settings.api_keys`` is read from the Prefect Secret block
    NAME. Values stay ``SecretStr``; only names are ever logged.
    """
    wanted = load_model_list(model_list_path).secret_references() - set(settings.api_keys)
    if not wanted:
        return settings
    keys = dict(settings.api_keys)
    for name in sorted(wanted):
        block = cast("Secret[str]", await Secret.aload(name))
        keys[name] = SecretStr(str(block.get()))
    _logger().info("resolved %d api key(s) from Secret blocks: %s", len(wanted), sorted(wanted))
    return settings.model_copy(update={"api_keys": keys})


def _pool(
    path: Path,
    settings: RouterSettings,
    callables: Mapping[str, CallableVoter | VoterFn] | None,
    extra_models: Sequence[Mapping[str, Any]],
) -> VoterPool:
    """One pool (one Router) per model list, settings and callables, reused across task runs."""
    secrets = hashlib.sha256(
        "\0".join(
            f"{k}={v.get_secret_value()}" for k, v in sorted(settings.api_keys.items())
        ).encode()
    ).hexdigest()  # a rotated key builds a new Router; the digest is never logged
    key = (
        str(path.resolve()),
        settings.model_dump_json(exclude={"api_keys"}) + secrets,
        id(callables),
        json.dumps(list(extra_models), sort_keys=True, default=str),
    )
    pool = _POOLS.get(key)
    if pool is None:
        model_list = load_model_list(path).extended(extra_models)
        pool = _POOLS[key] = VoterPool(model_list, settings, callables)
    return pool


@task(
    name="consensus-decide",
    retries=1,
    retry_delay_seconds=1.0,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=600,
    cache_policy=NO_CACHE,
    task_run_name="consensus-decide-{question.id}",
)
async def consensus_decide(
    question: Question,
    model_list_path: str | Path | None = None,
    settings: RouterSettings | None = None,
    callables: Mapping[str, CallableVoter | VoterFn] | None = None,
    mode: Mode | None = None,
    voters: Sequence[str] | None = None,
    reliability: Mapping[str, Mapping[str, list[float]]] | None = None,
    extra_models: Sequence[Mapping[str, Any]] = (),
) -> Decision:
    """Decide ``question`` by the voters of a YAML model list (litellm Router format).

    Non-critical questions go through the cost-aware cascade, critical ones to the
    full ensemble under a Byzantine quorum. Retries only on retryable errors; a
    voter that times out or fails is a vote, not a task failure.

    Args:
        question: the question and its answer schema.
        model_list_path: the YAML model list (default: ``settings.model_list_path``).
        settings: the ``router`` settings group (default: the project's).
        callables: Python-callable voters by name (``pyvoter/NAME`` models).
        mode: override CASCADE / ENSEMBLE / CRITICAL.
        voters: restrict to these voters.
        reliability: a :meth:`ReliabilityLearner.snapshot` to weigh votes with.
        extra_models: model-list entries added to the file's (e.g. local LLM voters).
    """
    resolved = router_settings(settings)
    path = model_list_path if model_list_path is not None else resolved.model_list_path
    if path is None:
        raise ValueError("no model list: pass model_list_path or set router.model_list_path")
    resolved = await resolve_secrets(path, resolved)
    pool = _pool(Path(path), resolved, callables, extra_models)
    learner = ReliabilityLearner.from_settings(resolved)
    if reliability:
        learner.restore(reliability)
    decision = await ConsensusRouter(pool, learner).decide(question, mode=mode, voters=voters)
    _logger().info(
        "%s: %s %s (confidence %.3f, %d votes, %.3g USD, %.0f ms)",
        question.id,
        decision.outcome.value,
        decision.key,
        decision.confidence,
        len(decision.votes),
        decision.cost_usd,
        decision.wall_s * 1000,
    )
    return decision


@task(name="local-llm-voters", retries=0, timeout_seconds=180, cache_policy=NO_CACHE)
def local_llm_voters(
    prompts: Mapping[str, str], settings: RouterSettings | None = None
) -> list[dict[str, Any]]:
    """Model-list entries of local Gemma 3 270M voters (one per prompt), or none when absent.

    Uses a running llama.cpp server on the settings' loopback port, or starts one
    (stopped at interpreter exit); the server and the model are part of the default install.
    """
    resolved = router_settings(settings)
    host, port = resolved.local_llm_host, resolved.local_llm_port
    available, reason = local_llm.availability(host, port)
    logger = _logger()
    if not available:
        logger.info("no local LLM voters: %s", reason)
        return []
    if not local_llm.server_running(host, port):
        server = local_llm.LocalLLMServer(host, port).start()
        atexit.register(server.stop)
    base = local_llm.api_base(host, port)
    logger.info("local LLM voters %s at %s", sorted(prompts), base)
    return [local_llm.model_entry(name, base, prompt) for name, prompt in prompts.items()]
