"""Aider-style SEARCH/REPLACE blocks, applied in order against the evolving text.

Format
    ::

        path/to/file.py            (optional, ignored: any text outside blocks is)
        <<<<<<< SEARCH
        lines to find
        =======
        lines to put there
        >>>>>>> REPLACE

    The fences are whole lines of 5 to 9 ``<``, ``=`` and ``>`` (``<<<<<<< SEARCH``,
    ``=======``, ``>>>>>>> REPLACE``); trailing whitespace is ignored. A block
    without its divider or closing fence is an :class:`EditParseError`.

Matching (each block against the text as the previous blocks left it)
    1. exact: the SEARCH lines equal consecutive lines of the text (terminators
       aside);
    2. tolerant, trailing whitespace: equal after ``rstrip`` of every line;
    3. tolerant, indentation: equal after ``strip``, and every non-blank line's
       indentation differs from the text's by one and the same prefix added or
       removed; that shift is then applied to the REPLACE lines too.
    The first pass with any match decides: one match is applied, several are an
    :class:`AmbiguousAnchorError` (candidate line numbers in the text at that
    point), none after all passes is an :class:`AnchorNotFoundError`.

Empty SEARCH
    A block whose SEARCH part is empty (or blank) appends its REPLACE lines at the
    end of the file (aider's convention; on an empty file that creates the content).

Lines of the REPLACE part equal to the lines they replace, at the block's start
and end, are not rewritten: they keep their original bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from patterns.codegen.edits.text import Applied, Document, edit_lines, is_blank, trimmed
from patterns.codegen.exceptions import AmbiguousAnchorError, AnchorNotFoundError, EditParseError

SEARCH_RE = re.compile(r"^<{5,9} ?SEARCH\s*$")
DIVIDER_RE = re.compile(r"^={5,9}\s*$")
REPLACE_RE = re.compile(r"^>{5,9} ?REPLACE\s*$")
MAX_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class Block:
    """One SEARCH/REPLACE block."""

    index: int
    search: list[str]
    replace: list[str]


def parse_blocks(edit: str) -> list[Block]:
    """The blocks of ``edit``, in order.

    Raises:
        EditParseError: no block, or a block without its divider or closing fence.
    """
    lines = edit_lines(edit)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not SEARCH_RE.match(lines[i]):
            if DIVIDER_RE.match(lines[i]) or REPLACE_RE.match(lines[i]):
                raise EditParseError(
                    f"line {i + 1}: {lines[i].strip()!r} outside a block",
                    hunk=len(blocks),
                )
            i += 1
            continue
        start = i
        i += 1
        search: list[str] = []
        while i < len(lines) and not DIVIDER_RE.match(lines[i]):
            if SEARCH_RE.match(lines[i]) or REPLACE_RE.match(lines[i]):
                raise EditParseError(
                    f"block opened at line {start + 1} has no ======= divider", hunk=len(blocks)
                )
            search.append(lines[i])
            i += 1
        if i == len(lines):
            raise EditParseError(
                f"block opened at line {start + 1} has no ======= divider", hunk=len(blocks)
            )
        i += 1
        replace: list[str] = []
        while i < len(lines) and not REPLACE_RE.match(lines[i]):
            if SEARCH_RE.match(lines[i]) or DIVIDER_RE.match(lines[i]):
                raise EditParseError(
                    f"block opened at line {start + 1} is not closed by >>>>>>> REPLACE",
                    hunk=len(blocks),
                )
            replace.append(lines[i])
            i += 1
        if i == len(lines):
            raise EditParseError(
                f"block opened at line {start + 1} is not closed by >>>>>>> REPLACE",
                hunk=len(blocks),
            )
        i += 1
        blocks.append(Block(len(blocks), search, replace))
    if not blocks:
        raise EditParseError("no <<<<<<< SEARCH block in the edit")
    return blocks


def _find_all(haystack: str, needle: str) -> list[int]:
    """Character offsets where ``needle`` occurs as whole lines of ``haystack``."""
    found: list[int] = []
    size = len(needle)
    total = len(haystack)
    pos = haystack.find(needle)
    while pos >= 0:
        end = pos + size
        if (pos == 0 or haystack[pos - 1] == "\n") and (end == total or haystack[end] == "\n"):
            found.append(pos)
        pos = haystack.find(needle, pos + 1)
    return found


def _match_rows(lines: list[str], search: list[str]) -> list[int]:
    """0-based rows where ``search`` occurs as consecutive lines of ``lines``."""
    haystack = "\n".join(lines)
    return [haystack.count("\n", 0, pos) for pos in _find_all(haystack, "\n".join(search))]


def _shift(text_line: str, search_line: str) -> tuple[str, str] | None:
    """(removed, added) indentation turning ``search_line``'s into ``text_line``'s."""
    have = text_line[: len(text_line) - len(text_line.lstrip())]
    want = search_line[: len(search_line) - len(search_line.lstrip())]
    if have.endswith(want):
        return "", have[: len(have) - len(want)]
    if want.endswith(have):
        return want[: len(want) - len(have)], ""
    return None


def _reindent(line: str, removed: str, added: str) -> str:
    if is_blank(line):
        return line
    if removed:
        line = line[len(removed) :] if line.startswith(removed) else line.lstrip()
    return added + line


def _ambiguous(block: Block, rows: list[int], how: str) -> AmbiguousAnchorError:
    candidates = tuple(r + 1 for r in rows[:MAX_CANDIDATES])
    return AmbiguousAnchorError(
        f"its SEARCH text occurs {len(rows)} times{how} (lines {', '.join(map(str, candidates))})",
        hunk=block.index,
        candidates=candidates,
    )


def _locate(doc: Document, block: Block) -> tuple[int, list[str], bool]:
    """(first line, replacement lines, tolerant) for one block in the current text."""
    lines = doc.lines
    search = block.search
    rows = _match_rows(lines, search)
    if len(rows) > 1:
        raise _ambiguous(block, rows, "")
    if rows:
        return rows[0], block.replace, False
    stripped = [line.rstrip() for line in lines]
    rows = _match_rows(stripped, [s.rstrip() for s in search])
    if len(rows) > 1:
        raise _ambiguous(block, rows, " ignoring trailing whitespace")
    if rows:
        return rows[0], block.replace, True
    bare = [line.strip() for line in stripped]
    rows = _match_rows(bare, [s.strip() for s in search])
    shifted: list[tuple[int, tuple[str, str]]] = []
    for row in rows:
        shift: tuple[str, str] | None = None
        for k, s in enumerate(search):
            if is_blank(s):
                continue
            this = _shift(lines[row + k], s)
            if this is None or (shift is not None and this != shift):
                shift = None
                break
            shift = this
        if shift is not None:
            shifted.append((row, shift))
    if len(shifted) > 1:
        raise _ambiguous(block, [r for r, _ in shifted], " ignoring indentation")
    if shifted:
        row, (removed, added) = shifted[0]
        return row, [_reindent(x, removed, added) for x in block.replace], True
    hint = ""
    if rows:
        hint = " (it matches ignoring indentation, but the indentation change is not uniform)"
    raise AnchorNotFoundError(
        f"its SEARCH text ({len(search)} lines, first {search[0].strip()!r}) is not in the file{hint}",
        hunk=block.index,
    )


def apply_search_replace(doc: Document, edit: str) -> Applied:
    """Apply the blocks of ``edit`` to ``doc`` in order (see the module docstring).

    Raises:
        EditParseError: malformed blocks.
        AnchorNotFoundError: a block's SEARCH text is not in the text.
        AmbiguousAnchorError: a block's SEARCH text occurs more than once.
    """
    blocks = parse_blocks(edit)
    tolerant = False
    for block in blocks:
        if all(is_blank(s) for s in block.search):
            end = len(doc.lines)
            doc.splice(end, end, block.replace, block.index)
            continue
        row, replace, loose = _locate(doc, block)
        tolerant = tolerant or loose
        end = row + len(block.search)
        rep = trimmed(row, end, doc.lines[row:end], replace, block.index)
        doc.splice(rep.start, rep.end, rep.lines, block.index)
    return Applied(hunks=len(blocks), tolerant=tolerant)
