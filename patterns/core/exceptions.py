"""The one exception hierarchy of the project's library layers.

Every error the library raises derives from :class:`SwarmError`. Each error is
either *retryable* (a later attempt may succeed: a peer is down, a deadline
passed) or *permanent* (the same input will fail again: bad bytes, bad config,
a forged signature). Prefect task retries follow that split: tasks retry on
:class:`RetryableError` and never on :class:`PermanentError`.

::

    SwarmError
    ├── RetryableError                 try again later
    │   ├── PeerUnavailableError       a peer could not be reached or went away
    │   ├── BackpressureError          a bounded queue is full
    │   └── DeadlineExceededError      an operation ran past its deadline
    └── PermanentError                 the same call will fail again
        ├── ConfigError                a setting or fault plan is invalid
        ├── CodecError                 bytes on the wire are not a valid frame
        │   ├── MalformedFrameError    undecodable or of an unknown type
        │   └── FrameTooLargeError     longer than the maximum frame size
        ├── AuthenticationError        a certificate, signature or MAC failed
        │   └── PeerIdentityError      a certificate names another node than expected
        └── ProtocolError              a well-formed message that breaks the protocol

Foreign errors are mapped once, at the adapter that meets them, with
``raise ... from err``.
"""

from __future__ import annotations


class SwarmError(Exception):
    """Base of every error raised by ``patterns`` and ``apps``."""


class RetryableError(SwarmError):
    """A failure that a later attempt may not meet."""


class PermanentError(SwarmError):
    """A failure that will repeat for the same input; do not retry."""


class PeerUnavailableError(RetryableError):
    """A peer could not be reached, or its connection closed."""


class BackpressureError(RetryableError):
    """A bounded queue is full; the caller should slow down."""


class DeadlineExceededError(RetryableError):
    """An operation did not finish before its deadline."""


class ConfigError(PermanentError):
    """A setting, fault plan or argument is invalid."""


class CodecError(PermanentError):
    """Bytes received are not a valid frame."""


class MalformedFrameError(CodecError):
    """A frame could not be decoded, or names an unknown message type."""


class FrameTooLargeError(CodecError):
    """A frame is longer than the configured maximum frame size."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the maximum frame size of {limit} bytes")
        self.size = size
        self.limit = limit


class AuthenticationError(PermanentError):
    """A certificate, signature or MAC did not verify."""


class PeerIdentityError(AuthenticationError):
    """A peer's certificate names another node than the one expected."""


class ProtocolError(PermanentError):
    """A well-formed message that violates the protocol."""
