"""Errors of the aggregation pattern.

::

    patterns.core.exceptions.PermanentError
    ├── ConfigError
    │   ├── InvalidValueError      a NaN or infinite value, or a negative count
    │   └── SketchMismatchError    merging sketches built with different parameters
    └── ProtocolError
        └── UnknownSenderError     a partial from a node that is not a child here
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError, ProtocolError


class InvalidValueError(ConfigError):
    """A value that cannot be aggregated (NaN, infinite, or an inconsistent partial)."""


class SketchMismatchError(ConfigError):
    """Two aggregates with different parameters cannot be merged."""


class UnknownSenderError(ProtocolError):
    """A partial arrived from a node that is not expected to send one here."""
