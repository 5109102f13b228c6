"""Errors of the game app.

::

    SwarmError
    ├── PermanentError
    │   └── GameError
    │       ├── LevelFormatError     a level (or its params) is malformed: names the field
    │       ├── RatingError          a rating is out of range or names an unknown level/player
    │       ├── ParameterError       a run parameter is out of range: names it
    │       └── WorldError           the shared world document holds something unreadable
    └── RetryableError
        └── GameBackendError        memory or the router failed for a reason that may pass
"""

from __future__ import annotations

from patterns.core.exceptions import PermanentError, RetryableError


class GameError(PermanentError):
    """A permanent error of the game app."""


class LevelFormatError(GameError):
    """A level or its parameters are malformed; the message names the field."""


class RatingError(GameError):
    """A rating is not an integer 1..5, or names an unknown level or an empty player."""


class ParameterError(GameError, ValueError):
    """A parameter of a run (peers, players, seed ...) is out of range; the message names it."""


class WorldError(GameError):
    """The shared world document holds an entry that does not parse."""


class GameBackendError(RetryableError):
    """Memory or the voting router failed in a way a retry may fix."""
