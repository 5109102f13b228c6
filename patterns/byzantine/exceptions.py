"""Errors of the Byzantine consensus pattern (PBFT).

::

    patterns.core.exceptions.SwarmError
    ├── RetryableError
    │   └── DeadlineExceededError
    │       └── RequestTimeoutError    no f+1 matching replies before the deadline
    └── PermanentError
        ├── ConfigError
        │   └── RequestTooLargeError   an operation over ``max_request_bytes`` (refused)
        ├── AuthenticationError
        │   └── CertificateError       a commit or checkpoint certificate does not verify
        └── ProtocolError
            └── RejectedMessage        a message a replica drops (counted by reason)

A replica never raises for a bad message: it catches :class:`RejectedMessage`
and counts it under its ``reason``.
"""

from __future__ import annotations

from patterns.core.exceptions import (
    AuthenticationError,
    ConfigError,
    DeadlineExceededError,
    ProtocolError,
)


class RequestTooLargeError(ConfigError):
    """A client operation is larger than the cluster accepts; it is never sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"request operation of {size} bytes exceeds max_request_bytes={limit}; refused"
        )
        self.size = size
        self.limit = limit


class RequestTimeoutError(DeadlineExceededError):
    """A client did not collect f+1 matching replies before its deadline."""


class CertificateError(AuthenticationError):
    """A commit or checkpoint certificate does not prove what it claims."""


class RejectedMessage(ProtocolError):
    """A message a replica drops; ``reason`` is the counter it is filed under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
