"""Lazy edit snippets: changed regions only, unchanged code elided by marker lines.

Markers
    A marker is a whole line matching :data:`MARKER_RE`: optional indentation, an
    optional comment opener (``#``, ``//``, ``/*``, ``<!--``, ``--``), three or more
    dots (or ``…``), optionally words naming the elided code that include one of
    ``existing``, ``rest``, ``unchanged``, ``remaining``, ``same``, ``omitted``,
    ``previous``, ``other``, ``original``, ``more`` (``existing code``, ``rest of
    code``...), optional closing dots and an optional closer (``*/``, ``-->``). A
    line needs the opener or the words: a bare ``...`` is Python's Ellipsis, never a
    marker. So ``# ... existing code ...``, ``// ...``, ``/* ... existing code ... */``,
    ``<!-- ... existing code ... -->`` and ``...rest of code...`` are markers. An
    original line that itself looks like a marker cannot be used as context.

Segments
    The text between markers is a segment; blank-only segments are ignored.
    Segments are located in order: each one entirely after the previous one's last
    matched line (its *floor*).

Anchoring (one segment)
    1. Lines are compared without trailing whitespace. Every non-blank segment line
       that occurs in the original at or after the floor seeds a *run*: the longest
       stretch of consecutive segment lines equal to consecutive original lines,
       trimmed to start and end on non-blank lines.
    2. The segment's anchors are the chain of runs, increasing in both the segment
       and the original, with the most matched non-blank lines; ties go to the chain
       whose gaps (lines between consecutive runs) differ least in size between
       segment and original. If several chains still tie and the segment's first
       (last) line is a changed line right next to the chain, the one chain whose
       neighbouring original line the similarity rule reads as replaced by it wins
       (a changed ``def`` line above a bare docstring quote line, say). If two chains
       still tie, the context matches
       more than one place: :class:`AmbiguousAnchorError` with the 1-based original
       line of each chain's first anchor. No run at all: :class:`AnchorNotFoundError`.
    3. Between two consecutive anchors, the segment's lines replace the original's
       (lines the segment omits there are deleted). Anchor lines keep their
       original bytes.
    4. Lines before the first anchor (after the last anchor):
       - at an unmarked edge (the snippet does not start / end with a marker) the
         snippet reaches the file's edge: they replace all original lines between
         the file edge and the anchor. If those original lines hold more non-blank
         lines than the snippet has edge lines, a marker was probably forgotten:
         :class:`AmbiguousAnchorError` (low confidence) rather than deleting them.
       - only blank lines: matched against blank original lines next to the anchor;
         extra ones are inserted.
       - exactly one non-blank line (a changed line next to an anchor, such as a
         changed ``def`` signature): by the similarity rule below it replaces the
         adjacent original line, is inserted, or the merge is low confidence
         (:class:`AmbiguousAnchorError`).
       - several lines: inserted next to the anchor.
    5. Original lines covered by markers are kept byte for byte.

Similarity rule (a segment's single edge line ``new`` against the adjacent original line ``old``)
    - either blank, or different indentation: insertion;
    - both ``def``/``class`` headers of the same name: replacement;
    - otherwise ``difflib.SequenceMatcher`` ratio of the stripped lines (two short
      strings only): >= :data:`REPLACE_RATIO` replacement, < :data:`INSERT_RATIO`
      insertion, in between low confidence.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import pairwise

from patterns.codegen.edits.text import (
    Applied,
    Document,
    Replacement,
    edit_lines,
    is_blank,
    line_index,
    trimmed,
)
from patterns.codegen.exceptions import AmbiguousAnchorError, AnchorNotFoundError, EditParseError

MARKER_RE = re.compile(
    r"""^\s*
    (?P<open>\#+|//+|/\*+|<!--|--)?\s*
    (?:\.{3,}|…)\s*
    (?P<words>[^.…\n]*?\b(?:existing|rest|unchanged|remaining|same|omitted|previous|other|original|more)\b[^.…\n]*?)?
    \s*(?:\.{3,}|…)?\s*
    (?:\*+/|-->)?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
REPLACE_RATIO = 0.75  # similarity at or above which an edge line replaces its neighbour
INSERT_RATIO = 0.45  # similarity below which an edge line is an insertion
MAX_CANDIDATES = 10  # candidate lines reported in an AmbiguousAnchorError
_HEADER_RE = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)")


def is_marker(line: str) -> bool:
    """True when ``line`` is an elision marker (see :data:`MARKER_RE`)."""
    if "..." not in line and "…" not in line:
        return False
    match = MARKER_RE.match(line)
    return match is not None and bool(match.group("open") or match.group("words"))


def has_markers(edit: str) -> bool:
    """True when some line of ``edit`` is a marker."""
    return any(is_marker(line) for line in edit_lines(edit))


class Verdict(StrEnum):
    """How the similarity rule reads a changed edge line."""

    REPLACE = "replace"
    INSERT = "insert"
    UNSURE = "unsure"


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def similarity(new: str, old: str) -> Verdict:
    """The similarity rule for a segment's edge line ``new`` next to original ``old``."""
    a, b = new.strip(), old.strip()
    if not a or not b or _indent(new) != _indent(old):
        return Verdict.INSERT
    head_a, head_b = _HEADER_RE.match(a), _HEADER_RE.match(b)
    if head_a and head_b:
        return Verdict.REPLACE if head_a.group(1) == head_b.group(1) else Verdict.INSERT
    if bool(head_a) != bool(head_b):
        return Verdict.INSERT
    ratio = SequenceMatcher(None, a, b, autojunk=False).ratio()
    if ratio >= REPLACE_RATIO:
        return Verdict.REPLACE
    return Verdict.INSERT if ratio < INSERT_RATIO else Verdict.UNSURE


@dataclass(frozen=True, slots=True)
class Segment:
    """Snippet lines between markers; ``marked_before``/``after``: a marker is on that side."""

    index: int
    lines: list[str]
    marked_before: bool
    marked_after: bool


def parse_segments(edit: str) -> list[Segment]:
    """The snippet's non-blank segments, in order.

    Raises:
        EditParseError: the snippet has no code at all.
    """
    lines = edit_lines(edit)
    groups: list[tuple[list[str], bool, bool]] = []
    current: list[str] = []
    marked = False
    for line in lines:
        if is_marker(line):
            if any(not is_blank(x) for x in current):
                groups.append((current, marked, True))
            current, marked = [], True
        else:
            current.append(line)
    if any(not is_blank(x) for x in current):
        groups.append((current, marked, False))
    if not groups:
        raise EditParseError("the lazy snippet holds no code, only markers and blank lines")
    return [Segment(i, body, before, after) for i, (body, before, after) in enumerate(groups)]


@dataclass(frozen=True, slots=True)
class _Run:
    j: int  # first segment line
    p: int  # first original line
    size: int  # lines
    weight: int  # non-blank lines


@dataclass(slots=True)
class _Best:
    weight: int
    drift: int
    count: int
    firsts: set[int]
    previous: int  # index of the previous run in the chain, -1 for none


def _runs(keys: list[str], okeys: list[str], index: dict[str, list[int]], floor: int) -> list[_Run]:
    m, n = len(keys), len(okeys)
    covered: set[tuple[int, int]] = set()
    runs: list[_Run] = []
    for j, key in enumerate(keys):
        if not key:
            continue
        found = index.get(key)
        if not found:
            continue
        for p in found[bisect_left(found, floor) :]:
            if (j, p) in covered:
                continue
            size, weight, last_weight_size = 1, 1, 1
            while j + size < m and p + size < n and keys[j + size] == okeys[p + size]:
                if keys[j + size]:
                    covered.add((j + size, p + size))
                    weight += 1
                    last_weight_size = size + 1
                size += 1
            runs.append(_Run(j, p, last_weight_size, weight))
    return runs


@dataclass(frozen=True, slots=True)
class _Choice:
    """The best chain, and where the equally good chains start and end."""

    chain: list[_Run]
    ways: int
    firsts: set[int]  # first anchor line of each best chain
    lasts: set[int]  # one past the last anchor line of each best chain


def _chain(runs: list[_Run]) -> _Choice:
    """The best chain of runs (see the module docstring, rule 2)."""
    runs = sorted(runs, key=lambda r: (r.j, r.p))
    best: list[_Best] = []
    for r in runs:
        top = _Best(r.weight, 0, 1, {r.p}, -1)
        for qi in range(len(best)):
            q = runs[qi]
            if q.j + q.size > r.j or q.p + q.size > r.p:
                continue
            bq = best[qi]
            weight = bq.weight + r.weight
            drift = bq.drift + abs((r.j - q.j - q.size) - (r.p - q.p - q.size))
            if weight > top.weight or (weight == top.weight and drift < top.drift):
                top = _Best(weight, drift, bq.count, set(bq.firsts), qi)
            elif weight == top.weight and drift == top.drift:
                top.count += bq.count
                top.firsts |= bq.firsts
        best.append(top)
    winner = -1
    ways = 0
    firsts: set[int] = set()
    lasts: set[int] = set()
    for i, b in enumerate(best):
        lead = best[winner] if winner >= 0 else None
        if (
            lead is None
            or b.weight > lead.weight
            or (b.weight == lead.weight and b.drift < lead.drift)
        ):
            winner, ways, firsts = i, b.count, set(b.firsts)
            lasts = {runs[i].p + runs[i].size}
        elif b.weight == lead.weight and b.drift == lead.drift:
            ways += b.count
            firsts |= b.firsts
            lasts.add(runs[i].p + runs[i].size)
    chain: list[_Run] = []
    i = winner
    while i >= 0:
        chain.append(runs[i])
        i = best[i].previous
    chain.reverse()
    return _Choice(chain, ways, firsts, lasts)


def _by_edge_line(
    runs: list[_Run], lines: list[str], olines: list[str], floor: int, choice: _Choice
) -> _Choice | None:
    """Rule 2's last resort: of equally good chains, the one whose changed first (last)
    segment line the similarity rule reads as a replacement of its neighbour."""
    if not is_blank(lines[0]):
        good = [
            p
            for p in choice.firsts
            if p - 1 >= floor and similarity(lines[0], olines[p - 1]) is Verdict.REPLACE
        ]
        first = next((r for r in runs if len(good) == 1 and r.p == good[0] and r.j == 1), None)
        if first is not None:
            again = _chain(
                [first]
                + [r for r in runs if r.j >= first.j + first.size and r.p >= first.p + first.size]
            )
            if again.ways == 1 and again.chain[0] is first:
                return again
    if not is_blank(lines[-1]):
        good = [
            e
            for e in choice.lasts
            if e < len(olines) and similarity(lines[-1], olines[e]) is Verdict.REPLACE
        ]
        last = next(
            (
                r
                for r in runs
                if len(good) == 1 and r.p + r.size == good[0] and r.j + r.size == len(lines) - 1
            ),
            None,
        )
        if last is not None:
            again = _chain(
                [r for r in runs if r.j + r.size <= last.j and r.p + r.size <= last.p] + [last]
            )
            if again.ways == 1 and again.chain[-1] is last:
                return again
    return None


def _ambiguous(hunk: int, detail: str, lines: set[int] | list[int]) -> AmbiguousAnchorError:
    candidates = tuple(sorted(x + 1 for x in lines)[:MAX_CANDIDATES])
    return AmbiguousAnchorError(
        f"{detail} (candidate lines {', '.join(map(str, candidates))})",
        hunk=hunk,
        candidates=candidates,
    )


class _Merger:
    """One lazy merge: the original's keys and index, computed once."""

    def __init__(self, doc: Document) -> None:
        self.olines = doc.original
        self.okeys = [line.rstrip() for line in self.olines]
        self.index = line_index(self.okeys)
        self.tolerant = False

    def locate(self, seg: Segment, floor: int, out: list[Replacement]) -> int:
        """Append the segment's replacements; return the new floor."""
        lines = seg.lines
        keys = [line.rstrip() for line in lines]
        n = len(self.okeys)
        runs = _runs(keys, self.okeys, self.index, floor)
        if not runs:
            earlier = any(self.index.get(k) for k in keys if k)
            where = "only before the previous segment (segments must be in file order)"
            raise AnchorNotFoundError(
                f"no line of this segment occurs in the file after line {floor}"
                + (f"; its context occurs {where}" if earlier else ""),
                hunk=seg.index,
            )
        choice = _chain(runs)
        if choice.ways > 1:
            resolved = _by_edge_line(runs, lines, self.olines, floor, choice)
            if resolved is None:
                raise _ambiguous(
                    seg.index,
                    f"its context matches {choice.ways} places after line {floor}",
                    choice.firsts,
                )
            choice = resolved
            self.tolerant = True
        chain = choice.chain
        okeys, olines = self.okeys, self.olines
        for run in chain:
            for k in range(run.size):
                if lines[run.j + k] != olines[run.p + k]:
                    self.tolerant = True
        reps: list[Replacement] = []
        first, last = chain[0], chain[-1]
        # rule 4, leading edge
        head = lines[: first.j]
        p0 = first.p
        if not seg.marked_before:
            old = olines[floor:p0]
            if sum(1 for x in old if not is_blank(x)) > len(head):
                raise _ambiguous(
                    seg.index,
                    f"the snippet does not start with a marker but its first anchor is line {p0 + 1}; "
                    f"deleting the {p0 - floor} lines before it looks unintended",
                    [p0],
                )
            reps.append(trimmed(floor, p0, old, head, seg.index))
        elif head and all(is_blank(x) for x in head):
            t = 0
            while t < len(head) and p0 - 1 - t >= floor and not okeys[p0 - 1 - t]:
                t += 1
            if t < len(head):
                reps.append(Replacement(p0 - t, p0 - t, tuple(head[t:]), seg.index))
        elif len(head) == 1 and p0 - 1 >= floor:
            verdict = similarity(head[0], olines[p0 - 1])
            if verdict is Verdict.UNSURE:
                raise _ambiguous(
                    seg.index,
                    f"cannot tell whether its first line {head[0].strip()!r} replaces line {p0} "
                    f"{olines[p0 - 1].strip()!r} or is inserted before it",
                    [p0 - 1],
                )
            if verdict is Verdict.REPLACE:
                self.tolerant = True
                reps.append(Replacement(p0 - 1, p0, (head[0],), seg.index))
            else:
                reps.append(Replacement(p0, p0, (head[0],), seg.index))
        elif head:
            reps.append(Replacement(p0, p0, tuple(head), seg.index))
        # rule 3, between anchors
        for q, r in pairwise(chain):
            qe, pe = q.j + q.size, q.p + q.size
            rep = trimmed(pe, r.p, olines[pe : r.p], lines[qe : r.j], seg.index)
            if rep.lines or rep.start != rep.end:
                reps.append(rep)
        # rule 4, trailing edge
        je, pe = last.j + last.size, last.p + last.size
        tail = lines[je:]
        new_floor = pe
        if not seg.marked_after:
            old = olines[pe:n]
            if sum(1 for x in old if not is_blank(x)) > len(tail):
                raise _ambiguous(
                    seg.index,
                    f"the snippet does not end with a marker but its last anchor is line {pe}; "
                    f"deleting the {n - pe} lines after it looks unintended",
                    [pe - 1],
                )
            reps.append(trimmed(pe, n, old, tail, seg.index))
            new_floor = n
        elif tail and all(is_blank(x) for x in tail):
            t = 0
            while t < len(tail) and pe + t < n and not okeys[pe + t]:
                t += 1
            if t < len(tail):
                reps.append(Replacement(pe + t, pe + t, tuple(tail[t:]), seg.index))
            new_floor = pe + t
        elif len(tail) == 1 and pe < n:
            verdict = similarity(tail[0], olines[pe])
            if verdict is Verdict.UNSURE:
                raise _ambiguous(
                    seg.index,
                    f"cannot tell whether its last line {tail[0].strip()!r} replaces line {pe + 1} "
                    f"{olines[pe].strip()!r} or is inserted after line {pe}",
                    [pe],
                )
            if verdict is Verdict.REPLACE:
                self.tolerant = True
                reps.append(Replacement(pe, pe + 1, (tail[0],), seg.index))
                new_floor = pe + 1
            else:
                reps.append(Replacement(pe, pe, (tail[0],), seg.index))
        elif tail:
            reps.append(Replacement(pe, pe, tuple(tail), seg.index))
        out.extend(r for r in reps if r.lines or r.start != r.end)
        return new_floor


def apply_lazy(doc: Document, edit: str) -> Applied:
    """Merge a lazy snippet into ``doc`` (see the module docstring for the rules).

    Raises:
        EditParseError: the snippet holds no code.
        AnchorNotFoundError: a segment's context is not in the file (after the previous one).
        AmbiguousAnchorError: a segment's place or an edge line's role is not certain.
    """
    segments = parse_segments(edit)
    merger = _Merger(doc)
    replacements: list[Replacement] = []
    floor = 0
    for seg in segments:
        floor = merger.locate(seg, floor, replacements)
    doc.apply(replacements)
    return Applied(hunks=len(segments), tolerant=merger.tolerant)
