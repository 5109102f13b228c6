"""Errors of the repair suite (extends :mod:`patterns.codegen.exceptions`).

::

    patterns.core.exceptions.SwarmError
    ├── RetryableError
    │   └── SandboxError        (patterns.codegen.exceptions) the sandbox itself failed
    └── PermanentError
        └── NoMutantError       no mutant of the asked family fails the problem's tests
"""

from __future__ import annotations

from patterns.codegen.exceptions import SandboxError
from patterns.core.exceptions import PermanentError

__all__ = ["NoMutantError", "SandboxError"]


class NoMutantError(PermanentError):
    """Every mutant of the requested family is equivalent (or only times out) on this problem."""
