"""Errors of the consensus router pattern (pattern 5).

A voter that times out, fails or replies with something unparsable is never an
exception: it becomes a :class:`~patterns.consensus_router.records.Vote` with that
status; a decision without quorum, or out of time, is a ``NO_DECISION`` result
with the votes it has. Exceptions are left for configuration the caller must fix,
so nothing here is retryable.

::

    patterns.core.exceptions.SwarmError
    └── PermanentError
        └── ConfigError
            ├── ModelListError          the YAML model list is invalid
            ├── MissingSecretError      an api_key reference has no value (name only, never the key)
            ├── UnknownVoterError       a voter name that is not in the pool
            ├── SchemaError             an answer schema or a labeled row is invalid
            └── QuorumConfigError       too few voters for the Byzantine quorum (n < 3f+1)
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError


class ModelListError(ConfigError):
    """The model list (litellm Router format) is malformed."""


class MissingSecretError(ConfigError):
    """An ``api_key`` reference names an environment variable or secret that has no value."""

    def __init__(self, reference: str, where: str | None = None) -> None:
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}api_key reference {reference!r} has no value")
        self.reference = reference
        self.where = where


class UnknownVoterError(ConfigError):
    """A voter name that the pool does not hold."""


class SchemaError(ConfigError):
    """An answer schema, a question or a labeled row is invalid."""


class QuorumConfigError(ConfigError):
    """A Byzantine quorum was asked of fewer than ``3f+1`` voters."""

    def __init__(self, voters: int, f: int) -> None:
        super().__init__(
            f"a Byzantine quorum tolerating f={f} faulty voters needs at least {3 * f + 1} "
            f"voters, the pool has {voters}"
        )
        self.voters = voters
        self.f = f
