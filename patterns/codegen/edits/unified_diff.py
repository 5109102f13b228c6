"""Unified diffs (``diff -u``): hunks placed at their stated line, else at the nearest offset.

Parsing
    ``diff ...``, ``index ...``, ``--- old`` and ``+++ new`` header lines and any text
    before the first hunk are ignored; hunks of more than one target file are an
    :class:`EditParseError`. A hunk is ``@@ -a[,b] +c[,d] @@`` (counts default to 1)
    followed by exactly ``b`` old-side lines (`` `` context and ``-`` removed) and
    ``d`` new-side lines (`` `` context and ``+`` added); an empty line counts as an
    empty context line (editors strip the lone space). A body shorter or longer
    than its header says is an :class:`EditParseError`. ``\\ No newline at end of
    file`` after a line marks that side's last line as unterminated.

Placing (like ``patch`` without fuzz)
    The hunk's old lines must equal consecutive lines of the file (terminators
    aside), first exactly, then ignoring trailing whitespace (a tolerant match).
    The stated position (``a``, shifted by the offset at which the previous hunk
    applied) is tried first; otherwise the nearest position with identical
    context, after the previous hunk. Two positions equally near are an
    :class:`AmbiguousAnchorError`, none an :class:`AnchorNotFoundError`. A hunk
    without old lines (pure insertion) goes exactly where it says.

Offsets (``patch`` prints "Hunk #2 succeeded at 140 (offset 95 lines)")
    Every hunk's offset (the line it applied at minus the line its header
    states) is reported in :attr:`Applied.offsets`. A hunk whose context is only
    found more than ``max_offset`` lines from its stated line is an
    :class:`OffsetTooLargeError` (wrong line numbers that far off more likely
    point at the wrong place than at a shifted file); ``None`` places at any
    distance.

Context lines keep their original bytes; only the removed/added runs are replaced.
A new-side ``\\ No newline`` on the hunk reaching the end of the file makes the
result end without a newline; an old-side one alone makes it end with one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from patterns.codegen.edits.text import (
    Applied,
    Document,
    Replacement,
    edit_lines,
    line_index,
    trimmed,
)
from patterns.codegen.exceptions import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    EditParseError,
    OffsetTooLargeError,
)

HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
NO_NEWLINE = "\\ No newline at end of file"


@dataclass(frozen=True, slots=True)
class Hunk:
    """One parsed hunk.

    Attributes:
        index: 0-based position in the diff.
        old_start: ``a`` of the header (1-based; 0 with no old lines at the file start).
        body: (tag, text) pairs, tag one of `` ``, ``-``, ``+``.
        old_no_newline: the old side's last line is marked unterminated.
        new_no_newline: the new side's last line is marked unterminated.
    """

    index: int
    old_start: int
    body: tuple[tuple[str, str], ...]
    old_no_newline: bool
    new_no_newline: bool

    @property
    def old(self) -> list[str]:
        return [text for tag, text in self.body if tag != "+"]


def _is_header_pair(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def parse_hunks(edit: str) -> list[Hunk]:
    """The hunks of ``edit``, in order.

    Raises:
        EditParseError: no hunk, a bad header, a body not matching its counts, or
            hunks for several files.
    """
    lines = edit_lines(edit)
    hunks: list[Hunk] = []
    targets: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_header_pair(lines, i):
            targets.add(lines[i + 1][4:].split("\t")[0].strip())
            if len(targets) > 1:
                raise EditParseError(
                    f"the diff touches several files ({sorted(targets)}); give one file's hunks",
                    hunk=len(hunks),
                )
            i += 2
            continue
        if not line.startswith("@@"):
            i += 1
            continue
        header = HUNK_RE.match(line)
        if header is None:
            raise EditParseError(f"bad hunk header {line!r}", hunk=len(hunks))
        old_start = int(header.group(1))
        old_count = int(header.group(2)) if header.group(2) is not None else 1
        new_count = int(header.group(4)) if header.group(4) is not None else 1
        i += 1
        body: list[tuple[str, str]] = []
        old_seen = new_seen = 0
        old_nl = new_nl = False
        while i < len(lines) and (old_seen < old_count or new_seen < new_count):
            text = lines[i]
            tag = text[:1] if text else " "
            if text.startswith("\\"):
                i += 1
                mark = body[-1][0] if body else " "
                old_nl = old_nl or mark in " -"
                new_nl = new_nl or mark in " +"
                continue
            if tag not in " -+" or text.startswith("@@"):
                break
            if tag != "+":
                old_seen += 1
            if tag != "-":
                new_seen += 1
            body.append((tag, text[1:]))
            i += 1
        if i < len(lines) and lines[i].startswith("\\"):
            mark = body[-1][0] if body else " "
            old_nl = old_nl or mark in " -"
            new_nl = new_nl or mark in " +"
            i += 1
        if old_seen != old_count or new_seen != new_count:
            raise EditParseError(
                f"header {line.strip()!r} announces {old_count} old / {new_count} new lines, "
                f"the body has {old_seen} / {new_seen}",
                hunk=len(hunks),
            )
        if (
            i < len(lines)
            and lines[i][:1] in ("+", "-", " ")
            and lines[i].strip()
            and not _is_header_pair(lines, i)
        ):
            raise EditParseError(
                f"header {line.strip()!r} announces {old_count} old / {new_count} new lines, "
                f"but the body goes on ({lines[i]!r})",
                hunk=len(hunks),
            )
        hunks.append(Hunk(len(hunks), old_start, tuple(body), old_nl, new_nl))
    if not hunks:
        raise EditParseError("no @@ hunk in the diff")
    return hunks


class _Placer:
    def __init__(self, doc: Document) -> None:
        self.lines = doc.original
        self.keys = [line.rstrip() for line in self.lines]
        self.exact = line_index(self.lines)
        self.loose = line_index(self.keys)

    def matches(self, old: list[str], floor: int, loose: bool) -> list[int]:
        """Every position at or after ``floor`` where ``old`` matches."""
        target = [o.rstrip() for o in old] if loose else old
        have = self.keys if loose else self.lines
        index = self.loose if loose else self.exact
        k = next((t for t, line in enumerate(target) if line), None)
        size = len(target)
        limit = len(have) - size
        starts: Iterable[int] = (  # blank-only context: every position
            range(floor, limit + 1) if k is None else [p - k for p in index.get(target[k], ())]
        )
        return [s for s in starts if floor <= s <= limit and have[s : s + size] == target]

    def place(self, hunk: Hunk, floor: int, offset: int) -> tuple[int, bool]:
        """(0-based first old line, tolerant) for ``hunk``."""
        old = hunk.old
        n = len(self.lines)
        want = (hunk.old_start - 1 if old else hunk.old_start) + offset
        if not old:
            if floor <= want <= n:
                return want, False
            raise AnchorNotFoundError(
                f"it inserts after line {hunk.old_start} (shifted {offset:+d}), outside lines "
                f"{floor}..{n} still open to it",
                hunk=hunk.index,
            )
        for loose in (False, True):
            found = self.matches(old, floor, loose)
            if not found:
                continue
            if want in found:
                return want, loose
            nearest = min(abs(s - want) for s in found)
            tied = [s for s in found if abs(s - want) == nearest]
            if len(tied) > 1:
                candidates = tuple(s + 1 for s in tied)
                raise AmbiguousAnchorError(
                    f"its context is not at line {want + 1} but equally near at lines "
                    f"{', '.join(map(str, candidates))}",
                    hunk=hunk.index,
                    candidates=candidates,
                )
            return tied[0], loose
        raise AnchorNotFoundError(
            f"its {len(old)} context/removed lines (first {old[0].strip()!r}) are not in the file "
            f"after line {floor}",
            hunk=hunk.index,
        )


def _replacements(hunk: Hunk, start: int, lines: list[str]) -> list[Replacement]:
    """Replace each removed/added run of the hunk; context lines stay original bytes."""
    out: list[Replacement] = []
    row = start
    old: list[str] = []
    new: list[str] = []
    for tag, text in (*hunk.body, (" ", "")):
        if tag == " ":
            if old or new:
                rep = trimmed(row - len(old), row, lines[row - len(old) : row], new, hunk.index)
                if rep.lines or rep.start != rep.end:
                    out.append(rep)
                old, new = [], []
            row += 1
        elif tag == "-":
            old.append(text)
            row += 1
        else:
            new.append(text)
    return out


def apply_unified_diff(doc: Document, edit: str, *, max_offset: int | None = None) -> Applied:
    """Apply the hunks of ``edit`` to ``doc`` (see the module docstring).

    Args:
        doc: the document.
        edit: the diff.
        max_offset: refuse a hunk placed more than this many lines from its stated
            line; ``None`` for no limit.

    Raises:
        EditParseError: malformed diff.
        AnchorNotFoundError: a hunk's context is not in the file.
        OffsetTooLargeError: a hunk's context is only found beyond ``max_offset``.
        AmbiguousAnchorError: a hunk's context is equally near at two places.
    """
    if max_offset is not None and (isinstance(max_offset, bool) or max_offset < 0):
        raise ValueError(f"max_offset={max_offset!r} must be a non-negative number of lines")
    hunks = parse_hunks(edit)
    placer = _Placer(doc)
    original = doc.original
    replacements: list[Replacement] = []
    floor = offset = 0
    tolerant = False
    final_newline: bool | None = None
    offsets: list[int] = []
    for hunk in hunks:
        start, loose = placer.place(hunk, floor, offset)
        tolerant = tolerant or loose
        stated = hunk.old_start - 1 if hunk.old else hunk.old_start
        offset = start - stated
        if max_offset is not None and abs(offset) > max_offset:
            raise OffsetTooLargeError(
                f"its context is at line {start + 1}, {abs(offset)} lines "
                f"{'after' if offset > 0 else 'before'} the line its header states "
                f"({stated + 1}); refusing beyond max_offset_lines={max_offset}",
                hunk=hunk.index,
                stated=stated + 1,
                found=start + 1,
                limit=max_offset,
            )
        offsets.append(offset)
        replacements.extend(_replacements(hunk, start, original))
        end = start + len(hunk.old)
        floor = end
        if end == len(original):
            if hunk.new_no_newline:
                final_newline = False
            elif hunk.old_no_newline:
                final_newline = True
    doc.apply(replacements)
    return Applied(
        hunks=len(hunks), tolerant=tolerant, final_newline=final_newline, offsets=tuple(offsets)
    )
