"""Prefect tasks over the vector memory: remember texts, recall similar ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from patterns.memory import MemorySettings, SearchHit, SearchMode, get_store
from patterns.settings import get_settings
from tasks.retry import retry_if_retryable


def memory_settings(settings: MemorySettings | None = None) -> MemorySettings:
    """``settings``, else the ``memory`` group of the project settings (defaults if absent)."""
    if settings is not None:
        return settings
    return get_settings().memory


@task(
    name="memory-remember",
    task_run_name="remember-{namespace}-{kind}",
    retries=3,
    retry_delay_seconds=[0.5, 2, 5],
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=600,
    cache_policy=NO_CACHE,
)
def remember(
    texts: list[str],
    namespace: str = "default",
    kind: str = "note",
    metadata: list[Mapping[str, Any]] | None = None,
    ids: list[str] | None = None,
    ttl_s: float | None = None,
    settings: MemorySettings | None = None,
    create: bool = True,
) -> list[str]:
    """Upsert ``texts`` into the vector memory; returns their record ids.

    Idempotent: without ``ids`` each text's id derives from its namespace, kind
    and text, so a rerun replaces the records instead of duplicating them.
    Remembering is a write, so it creates the table when it does not exist yet
    unless ``create`` is False; :func:`recall` never creates one (a missing table
    is a ``TableNotFoundError`` naming it).
    """
    memory = memory_settings(settings)
    if create and not memory.create_if_missing:
        memory = memory.model_copy(update={"create_if_missing": True})
    return get_store(memory).remember(
        texts, namespace=namespace, kind=kind, metadata=metadata, ids=ids, ttl_s=ttl_s
    )


@task(
    name="memory-recall",
    task_run_name="recall-{namespace}-k{k}",
    retries=3,
    retry_delay_seconds=[0.5, 2, 5],
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def recall(
    query: str,
    k: int = 5,
    namespace: str | None = None,
    kind: str | None = None,
    mode: SearchMode = SearchMode.VECTOR,
    settings: MemorySettings | None = None,
) -> list[SearchHit]:
    """The ``k`` remembered records most similar to ``query``, best first.

    Raises:
        TableNotFoundError: the table does not exist (recall never creates one).
        InvalidRecordError: an empty or whitespace-only query, or another bad argument.
    """
    return get_store(memory_settings(settings)).search(
        query, k=k, namespace=namespace, kind=kind, mode=mode
    )
