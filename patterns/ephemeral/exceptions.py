"""Errors of the ephemeral agent pool, as subclasses of the kernel's hierarchy.

Every class also derives from :class:`EphemeralError`, so a caller can catch
all pool errors at once, and from a kernel class, so task retries follow the
retryable/permanent split::

    SwarmError                                   (patterns.core.exceptions)
    ├── EphemeralError                           any error of the ephemeral pool
    ├── RetryableError
    │   ├── BackpressureError
    │   │   └── QueueFullError                   a spec's bounded work queue is full
    │   ├── DeadlineExceededError
    │   │   └── HandlerTimeoutError              a handler ran past its timeout (twice)
    │   ├── RehydrationError                     the memory store failed while spawning
    │   └── PoolClosedError                      the pool is closing or closed
    └── PermanentError
        ├── ConfigError
        │   └── InvalidSpecError                 an AgentSpec or argument is invalid
        ├── HandlerError                         a handler raised (crashed) on every attempt
        └── BadResultError                       a handler returned a value of the wrong type

A handler's own exception is kept as ``__cause__`` of the :class:`HandlerError`.

Warnings: :class:`MemoryNotPersistedWarning` (a ``UserWarning``): a handler
called ``remember()`` but its spec has no memory namespace, so nothing is persisted.
"""

from __future__ import annotations

from patterns.core.exceptions import (
    BackpressureError,
    ConfigError,
    DeadlineExceededError,
    PermanentError,
    RetryableError,
    SwarmError,
)


class EphemeralError(SwarmError):
    """Base of every error of the ephemeral agent pool."""


class QueueFullError(EphemeralError, BackpressureError):
    """The bounded work queue of a spec is full; the item was not accepted."""

    def __init__(self, role: str, bound: int) -> None:
        super().__init__(f"work queue of role {role!r} is full ({bound} items waiting)")
        self.role = role
        self.bound = bound


class HandlerTimeoutError(EphemeralError, DeadlineExceededError):
    """A handler did not finish within its timeout on every attempt."""


class RehydrationError(EphemeralError, RetryableError):
    """The memory store failed while a fresh agent rehydrated its memories."""


class PoolClosedError(EphemeralError, RetryableError):
    """The pool is closing or closed and accepts no more work."""


class InvalidSpecError(EphemeralError, ConfigError):
    """An :class:`~patterns.ephemeral.spec.AgentSpec` or a pool argument is invalid."""


class HandlerError(EphemeralError, PermanentError):
    """A handler raised (its agent crashed) on every attempt; the last error is the cause."""


class BadResultError(EphemeralError, PermanentError):
    """A handler returned a value that is not of its spec's result type."""


class MemoryNotPersistedWarning(UserWarning):
    """A handler called ``remember()`` but its spec has no namespace: nothing is persisted."""
