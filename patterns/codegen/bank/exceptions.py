"""Errors of the reasoning bank, under the kernel's hierarchy.

Bad input is refused before anything is written, so the store keeps exactly
what it held::

    patterns.core.exceptions.SwarmError
    └── PermanentError
        ├── ConfigError
        │   └── BankInputError                 bad input; nothing was written
        │       ├── InvalidTrajectoryError     unfinished, inconsistent or not JSON-ready
        │       ├── DuplicateTrajectoryError   a trajectory with that id is recorded already
        │       ├── InvalidQueryError          an empty query, a bad ``k`` or kind
        │       └── UnknownItemError           feedback names ids that are no bank item
        └── DistillationError                  no voter gave a usable distillation

Memory store errors (:mod:`patterns.memory.exceptions`) pass through unchanged.
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError, PermanentError


class BankInputError(ConfigError):
    """Input the reasoning bank refuses; the store is left as it was."""


class InvalidTrajectoryError(BankInputError):
    """A trajectory without steps, with an inconsistent outcome or with non-JSON context."""


class DuplicateTrajectoryError(BankInputError):
    """A trajectory with this id is already recorded in the namespace."""

    def __init__(self, trajectory_id: str, namespace: str) -> None:
        super().__init__(
            f"trajectory {trajectory_id!r} is already recorded in namespace {namespace!r}"
        )
        self.trajectory_id = trajectory_id
        self.namespace = namespace


class InvalidQueryError(BankInputError):
    """A recall query that is empty, or a bad ``k`` or kind."""


class UnknownItemError(BankInputError):
    """Feedback names ids that are not strategy or pitfall items of the namespace."""

    def __init__(self, ids: list[str], namespace: str) -> None:
        shown = ", ".join(repr(i) for i in ids[:5])
        more = f" (+{len(ids) - 5} more)" if len(ids) > 5 else ""
        super().__init__(f"no bank item in namespace {namespace!r} has id {shown}{more}")
        self.ids = ids
        self.namespace = namespace


class DistillationError(PermanentError):
    """No voter returned a usable distillation of a trajectory (and no fallback was set)."""
