"""Fast deterministic edit application: lazy snippets, SEARCH/REPLACE blocks, unified diffs.

No model rewrites the file unless a merge is low confidence and a fallback is
configured (:meth:`EditEngine.amerge`). The rules of each format are in the
docstrings of :mod:`~patterns.codegen.edits.lazy`,
:mod:`~patterns.codegen.edits.search_replace` and
:mod:`~patterns.codegen.edits.unified_diff`; :mod:`~patterns.codegen.edits.text`
states the line-ending and kept-lines guarantees.
"""

from __future__ import annotations

from patterns.codegen.edits.engine import (
    DEFAULT_MAX_OFFSET_LINES,
    Confidence,
    EditEngine,
    MergeResult,
    is_python,
)
from patterns.codegen.edits.formats import detect_format, resolve_format
from patterns.codegen.edits.lazy import MARKER_RE, is_marker
from patterns.codegen.edits.merger import MergedFile, ModelMerger, RouterMerger
from patterns.codegen.exceptions import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    EditError,
    EditParseError,
    OffsetTooLargeError,
    SyntaxCheckError,
)
from patterns.codegen.records import EditFormat

__all__ = [
    "DEFAULT_MAX_OFFSET_LINES",
    "MARKER_RE",
    "AmbiguousAnchorError",
    "AnchorNotFoundError",
    "Confidence",
    "EditEngine",
    "EditError",
    "EditFormat",
    "EditParseError",
    "MergeResult",
    "MergedFile",
    "ModelMerger",
    "OffsetTooLargeError",
    "RouterMerger",
    "SyntaxCheckError",
    "detect_format",
    "is_marker",
    "is_python",
    "resolve_format",
]
