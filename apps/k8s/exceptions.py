"""Errors of the Kubernetes layer (app 11), mapped once from the API client or the simulator.

::

    patterns.core.exceptions.RetryableError
    ├── ApiUnavailableError          the API server could not be reached, or answered 429/5xx
    ├── ApiTimeoutError              (DeadlineExceededError) a request ran past its timeout
    └── ConflictError                409: the object changed or already exists; re-read and retry
    patterns.core.exceptions.PermanentError
    ├── ApiForbiddenError            403: RBAC denies the request
    ├── ApiUnauthorizedError         401 (AuthenticationError): credentials rejected
    ├── ObjectNotFoundError          404: no such object or resource
    ├── InvalidObjectError           400/422: the server rejected the object or patch
    ├── WatchExpiredError            410: the resourceVersion is too old; list again
    ├── ActionRefusedError           the write is outside the allowlist of verbs, kinds, namespaces
    ├── RevisionNotFoundError        a rollout undo names a revision that is not in the history
    ├── InvalidActionError           an action does not fit the typed action schema
    └── ConfigError
        └── ScenarioError            a scenario file is malformed; the message names the field
"""

from __future__ import annotations

from patterns.core.exceptions import (
    AuthenticationError,
    ConfigError,
    DeadlineExceededError,
    PermanentError,
    RetryableError,
)


class ApiUnavailableError(RetryableError):
    """The API server could not be reached, or answered 429 or 5xx."""


class ApiTimeoutError(DeadlineExceededError):
    """A request to the API server did not finish within its timeout."""


class ConflictError(RetryableError):
    """HTTP 409: the object was modified concurrently, or already exists."""


class ApiForbiddenError(PermanentError):
    """HTTP 403: the service account may not do this (RBAC)."""


class ApiUnauthorizedError(AuthenticationError):
    """HTTP 401: the credentials were rejected."""


class ObjectNotFoundError(PermanentError):
    """HTTP 404: the object (or its kind) does not exist."""


class InvalidObjectError(PermanentError):
    """HTTP 400 or 422: the object or patch is invalid."""


class WatchExpiredError(PermanentError):
    """HTTP 410: the watch resourceVersion is too old; the caller must list again."""


class ActionRefusedError(PermanentError):
    """A write outside the allowlist of verbs, kinds and namespaces."""


class RevisionNotFoundError(PermanentError):
    """A rollout undo names a revision that is not in the deployment's history."""


class ScenarioError(ConfigError):
    """A scenario file is malformed; the message names the file and the field."""


class InvalidActionError(PermanentError):
    """An action (e.g. parsed from a model's answer) does not fit the typed action schema."""
