"""Errors of the self-healing loop.

::

    patterns.core.exceptions.PermanentError
    └── ConfigError
        ├── InvalidAlertError      an alert payload fits neither Alertmanager v4 nor the generic form
        └── HealerStateError       the saved loop state is unreadable (the file is left untouched)
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError


class InvalidAlertError(ConfigError):
    """An alert payload is malformed; the message names the field."""


class HealerStateError(ConfigError):
    """The loop's saved state cannot be read."""
