"""Retry policy shared by tasks: retry the library's retryable errors, never permanent ones."""

from __future__ import annotations

from typing import Any

from patterns.core.exceptions import RetryableError


def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: True only when the failure is a :class:`RetryableError`."""
    try:
        state.result()
    except RetryableError:
        return True
    except Exception:
        return False
    return False
