"""Source text as lines without their EOL, and output built from keep-spans plus inserted lines.

Every format resolves its hunks to :class:`Replacement` records on the lines of the
text being edited; :class:`Document` splices them and remembers, for every line,
the original line it came from (``origin``) or the hunk that inserted it. The
merged text is assembled from those lines, so an original line outside every
replaced span is copied byte for byte, terminator included. The one exception is
the final line's terminator, which follows the file's final-newline rule: the
merged text ends with a newline exactly when the original did (a unified diff's
``\\ No newline at end of file`` may say otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LF = "\n"
CRLF = "\r\n"
INSERTED = -1  # origin of a line the edit inserted


def split_lines(text: str) -> tuple[list[str], list[str]]:
    """Lines of ``text`` without terminators, and each line's terminator (``\\n``,
    ``\\r\\n`` or ``""`` for a last line without one).

    Only ``\\n`` ends a line (``str.splitlines`` would also split on form feeds and
    other characters that are legal inside a source line).
    """
    if not text:
        return [], []
    parts = text.split(LF)
    last = parts.pop()
    lines: list[str] = []
    eols: list[str] = []
    for part in parts:
        if part.endswith("\r"):
            lines.append(part[:-1])
            eols.append(CRLF)
        else:
            lines.append(part)
            eols.append(LF)
    if last:
        lines.append(last)
        eols.append("")
    return lines, eols


def edit_lines(text: str) -> list[str]:
    """Lines of an edit text (terminators dropped, ``\\r`` too); no final empty line."""
    return split_lines(text)[0]


def dominant_eol(eols: Sequence[str]) -> str:
    """The file's EOL style: CRLF when most terminated lines end in CRLF, else LF."""
    terminated = [e for e in eols if e]
    return CRLF if terminated.count(CRLF) * 2 > len(terminated) else LF


def is_blank(line: str) -> bool:
    return not line or line.isspace()


@dataclass(frozen=True, slots=True)
class Replacement:
    """Original lines ``[start, end)`` become ``lines`` (0-based; ``start == end`` inserts).

    Attributes:
        start: first replaced line.
        end: one past the last replaced line.
        lines: the new lines, without terminators.
        hunk: the hunk / block / segment that asked for it (0-based).
    """

    start: int
    end: int
    lines: tuple[str, ...]
    hunk: int


def trimmed(start: int, end: int, old: Sequence[str], new: Sequence[str], hunk: int) -> Replacement:
    """A replacement of ``old`` (lines ``[start, end)``) by ``new`` without their common
    leading and trailing lines, so those stay original bytes."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return Replacement(start + head, end - tail, tuple(new[head : len(new) - tail]), hunk)


@dataclass(slots=True)
class Span:
    """Where one hunk's result sits in the current text: lines ``[start, end)``."""

    start: int
    end: int
    hunk: int


class Document:
    """The text being edited: lines, their origin in the original, and hunk spans.

    Attributes:
        lines: current lines without terminators.
        origin: per line, its index in the original, or INSERTED.
        spans: where each applied hunk's new lines are (deletions are empty spans).
    """

    __slots__ = ("_eols", "_original", "eol", "final_newline", "lines", "origin", "spans")

    def __init__(self, text: str) -> None:
        lines, eols = split_lines(text)
        self._original = lines
        self._eols = eols
        self.lines = list(lines)
        self.origin = list(range(len(lines)))
        self.eol = dominant_eol(eols)
        self.final_newline = bool(eols) and eols[-1] != ""
        self.spans: list[Span] = []

    @property
    def original(self) -> list[str]:
        """The original lines (do not mutate)."""
        return self._original

    def splice(self, start: int, end: int, new: Sequence[str], hunk: int) -> None:
        """Replace current lines ``[start, end)`` by ``new`` (one hunk, applied now)."""
        delta = len(new) - (end - start)
        self.lines[start:end] = new
        self.origin[start:end] = [INSERTED] * len(new)
        kept: list[Span] = []
        for span in self.spans:
            if span.end <= start:
                kept.append(span)
            elif span.start >= end:
                kept.append(Span(span.start + delta, span.end + delta, span.hunk))
            else:  # overlaps the new splice: widen it over the spliced region
                kept.append(Span(min(span.start, start), max(span.end, end) + delta, span.hunk))
        kept.append(Span(start, start + len(new), hunk))
        kept.sort(key=lambda s: (s.start, s.end))
        self.spans = kept

    def apply(self, replacements: Iterable[Replacement]) -> None:
        """Apply replacements given in original coordinates, sorted and non-overlapping
        (the lazy and unified-diff formats), in one pass."""
        lines: list[str] = []
        origin: list[int] = []
        spans: list[Span] = []
        cursor = 0
        src = self.lines
        src_origin = self.origin
        for rep in replacements:
            lines += src[cursor : rep.start]
            origin += src_origin[cursor : rep.start]
            spans.append(Span(len(lines), len(lines) + len(rep.lines), rep.hunk))
            lines += rep.lines
            origin += [INSERTED] * len(rep.lines)
            cursor = rep.end
        lines += src[cursor:]
        origin += src_origin[cursor:]
        self.lines = lines
        self.origin = origin
        self.spans = spans

    def text(self, final_newline: bool | None = None) -> str:
        """The merged text: original lines with their own terminators, inserted lines
        with the file's EOL style, the last line ending as ``final_newline`` says
        (None: as the original's did)."""
        if not self.lines:
            return ""
        eols = self._eols
        default = self.eol
        out: list[str] = []
        for line, org in zip(self.lines, self.origin, strict=True):
            out.append(line)
            out.append(eols[org] or default if org >= 0 else default)
        final = self.final_newline if final_newline is None else final_newline
        if not self._original and final_newline is None:
            final = True
        if not final:
            out[-1] = ""
        elif not out[-1]:
            out[-1] = default
        return "".join(out)

    def verify_kept(self, text: str) -> bool:
        """Re-split ``text`` and check every kept line is its original line, byte for
        byte, terminator included (except the last line's, which the final-newline rule
        decides), and kept lines stay in their original order."""
        lines, eols = split_lines(text)
        if len(lines) != len(self.origin):
            return False
        last = len(lines) - 1
        previous = -1
        orig_lines = self._original
        orig_eols = self._eols
        for i, org in enumerate(self.origin):
            if org < 0:
                continue
            if org <= previous or lines[i] != orig_lines[org]:
                return False
            if i != last and org != len(orig_lines) - 1 and eols[i] != orig_eols[org]:
                return False
            previous = org
        return True

    def nearest_hunks(self, lineno: int) -> list[int]:
        """The hunks whose spans are nearest to 1-based output line ``lineno``."""
        if not self.spans:
            return []
        row = lineno - 1
        best: list[int] = []
        best_distance = -1
        for span in self.spans:
            if span.start == span.end:  # a deletion: between lines start - 1 and start
                distance = max(0, span.start - 1 - row, row - span.start)
            else:
                distance = max(0, span.start - row, row - (span.end - 1))
            if best_distance < 0 or distance < best_distance:
                best, best_distance = [span.hunk], distance
            elif distance == best_distance and span.hunk not in best:
                best.append(span.hunk)
        return sorted(best)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a format's applier reports besides the edited document.

    Attributes:
        hunks: hunks / blocks / segments in the edit.
        tolerant: some hunk matched only after a documented tolerance (whitespace,
            indentation shift, similarity of a changed edge line).
        final_newline: the edit says whether the result ends with a newline (None: keep
            the original's choice).
        offsets: per hunk, lines between where it applied and where its header said
            (unified diffs only; empty for formats without line numbers).
    """

    hunks: int
    tolerant: bool = False
    final_newline: bool | None = None
    offsets: tuple[int, ...] = ()


def line_index(keys: Sequence[str]) -> dict[str, list[int]]:
    """Positions (ascending) of each non-blank key."""
    index: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key:
            found = index.get(key)
            if found is None:
                index[key] = [i]
            else:
                found.append(i)
    return index
