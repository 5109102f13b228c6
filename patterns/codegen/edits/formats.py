"""Which format an edit is in, and the applier of each format."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from patterns.codegen.edits.lazy import apply_lazy, parse_segments
from patterns.codegen.edits.search_replace import (
    REPLACE_RE,
    SEARCH_RE,
    apply_search_replace,
    parse_blocks,
)
from patterns.codegen.edits.text import Applied, Document, edit_lines
from patterns.codegen.edits.unified_diff import HUNK_RE, apply_unified_diff, parse_hunks
from patterns.codegen.exceptions import EditParseError
from patterns.codegen.records import EditFormat

Applier = Callable[[Document, str], Applied]

APPLIERS: Mapping[EditFormat, Applier] = {
    EditFormat.LAZY: apply_lazy,
    EditFormat.SEARCH_REPLACE: apply_search_replace,
    EditFormat.UNIFIED_DIFF: apply_unified_diff,
}


def detect_format(edit: str) -> EditFormat:
    """The format of ``edit``.

    A ``<<<<<<< SEARCH`` or ``>>>>>>> REPLACE`` fence line makes it SEARCH_REPLACE;
    otherwise an ``@@ -a,b +c,d @@`` hunk header makes it UNIFIED_DIFF; anything
    else is a LAZY snippet (with or without markers).
    """
    hunk = False
    for line in edit_lines(edit):
        head = line[:2]
        if (head == "<<" and SEARCH_RE.match(line)) or (head == ">>" and REPLACE_RE.match(line)):
            return EditFormat.SEARCH_REPLACE
        if head == "@@" and not hunk and HUNK_RE.match(line):
            hunk = True
    return EditFormat.UNIFIED_DIFF if hunk else EditFormat.LAZY


def resolve_format(edit: str, format: EditFormat | str | None) -> EditFormat:
    """``format`` as an EditFormat (by value or name, any case), or the detected one.

    Raises:
        EditParseError: an unknown format name.
    """
    if format is None:
        return detect_format(edit)
    if isinstance(format, EditFormat):
        return format
    key = format.strip().lower().replace("-", "_")
    for member in EditFormat:
        if key in (member.value, member.name.lower()):
            return member
    raise EditParseError(
        f"unknown edit format {format!r}; use one of {[m.value for m in EditFormat]}"
    )


def count_hunks(edit: str, format: EditFormat) -> int:
    """Hunks / blocks / segments of ``edit`` (0 when it does not parse)."""
    parsers: dict[EditFormat, Callable[[str], Sequence[object]]] = {
        EditFormat.LAZY: parse_segments,
        EditFormat.SEARCH_REPLACE: parse_blocks,
        EditFormat.UNIFIED_DIFF: parse_hunks,
    }
    parse = parsers[format]
    try:
        return len(parse(edit))
    except EditParseError:
        return 0
