"""Errors of the gossip pattern, placed in the project's one hierarchy.

::

    SwarmError
    ├── RetryableError
    │   └── DeadlineExceededError
    │       └── ConvergenceTimeoutError   replicas did not converge within the time allowed
    └── PermanentError
        ├── ConfigError                   (core) bad settings, edits or sizes
        └── CodecError
            └── MalformedUpdateError      update or state-vector bytes are corrupt or truncated

A node never lets :class:`MalformedUpdateError` escape a message handler: it
rejects the bytes, counts and logs them, and leaves its document unchanged.
"""

from __future__ import annotations

from patterns.core.exceptions import CodecError, DeadlineExceededError


class MalformedUpdateError(CodecError):
    """CRDT update or state-vector bytes failed their checksum or do not decode."""


class ConvergenceTimeoutError(DeadlineExceededError):
    """The replicas did not hold equal documents within the allowed (virtual) time."""
