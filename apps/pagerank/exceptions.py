"""Errors of the PageRank app.

::

    patterns.core.exceptions.PermanentError
    ├── ConfigError
    │   ├── EdgeInputError         an edge list is malformed: the column and row are named
    │   │   └── EmptyGraphError    no node or no edge
    │   ├── UnknownPortError       a port name or LOCODE matches no port, or several
    │   └── GraphFormatError       a partitioned graph directory is missing or inconsistent
    └── ConvergenceError           the power iteration did not reach the tolerance
    patterns.core.exceptions.RetryableError
    ├── InjectedCrashError         a block worker crashed on purpose (the crash plan of a test)
    └── BlockFailedError           a block still failed after every attempt
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError, PermanentError, RetryableError


class EdgeInputError(ConfigError):
    """An edge list is malformed; the message names the column and the row."""


class EmptyGraphError(EdgeInputError):
    """The graph has no node or no edge."""


class UnknownPortError(ConfigError):
    """A port given for personalization is unknown or ambiguous."""


class GraphFormatError(ConfigError):
    """A partitioned graph directory is missing, incomplete or of another format version."""


class ConvergenceError(PermanentError):
    """The power iteration did not converge within ``max_iter`` steps."""


class InjectedCrashError(RetryableError):
    """A block worker crashed because the crash plan said so (tests, benchmarks)."""


class BlockFailedError(RetryableError):
    """A block's worker failed on every attempt, so the step cannot complete."""
