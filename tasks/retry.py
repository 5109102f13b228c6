"""Retry policy shared by tasks: retry the library's retryable errors, never permanent ones."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from patterns.core.exceptions import RetryableError


def retry_if_retryable(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: True only when the failure is a :class:`RetryableError`."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            error = state.result(raise_on_failure=False)
        except Exception:
            return False
    return isinstance(error, RetryableError)
