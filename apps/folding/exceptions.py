"""Errors of the folding app.

Hierarchy::

    FoldingError (PermanentError)
    ├── SequenceError      bad input: letters, length, FASTA records (names the position)
    ├── FoldFormatError    a fold file or record that cannot be read
    └── AgreementError     the replicas could not agree on any candidate

    AgentsFailedError (RetryableError)   every agent of an epoch crashed or timed out
"""

from __future__ import annotations

from patterns.core.exceptions import PermanentError, RetryableError


class FoldingError(PermanentError):
    """Base of the folding app's errors; none of them goes away on retry."""


class SequenceError(FoldingError, ValueError):
    """A sequence or FASTA input that cannot be folded; the message names the position."""


class FoldingConfigError(FoldingError, ValueError):
    """Run parameters that cannot work together (a budget below one round per agent and epoch)."""


class FoldFormatError(FoldingError, ValueError):
    """A fold record (JSON) that is malformed."""


class AgreementError(FoldingError):
    """No candidate fold was accepted by a quorum of replicas."""


class AgentsFailedError(RetryableError):
    """Every folding agent of an epoch crashed or timed out (workers died, out of memory)."""
