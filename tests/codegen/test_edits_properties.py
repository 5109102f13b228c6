"""Property: on non-Python files every original line outside the replaced spans is
byte-identical (terminator included) in the output, in every format, for LF, CRLF and
mixed files with or without a final newline."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.codegen.edits import EditEngine, EditFormat

ENGINE = EditEngine()
MARKER = "// ... existing code ..."


@st.composite
def files_and_edits(
    draw: st.DrawFn,
) -> tuple[list[str], list[str], list[tuple[int, int, list[str]]]]:
    n = draw(st.integers(min_value=6, max_value=40))
    pads = draw(st.lists(st.sampled_from(["", " ", "\t", "  "]), min_size=n, max_size=n))
    lines = [f"line {i} {'x' * (i % 5)}{pads[i]}" for i in range(n)]
    eol_style = draw(st.sampled_from(["lf", "crlf", "mixed"]))
    if eol_style == "mixed":
        eols = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=n, max_size=n))
    else:
        eols = ["\n" if eol_style == "lf" else "\r\n"] * n
    if not draw(st.booleans()):
        eols[-1] = ""
    spans: list[tuple[int, int, list[str]]] = []
    cursor = 1
    for k in range(draw(st.integers(min_value=1, max_value=3))):
        if cursor + 1 >= n - 1:
            break
        start = draw(st.integers(min_value=cursor, max_value=n - 2))
        end = draw(st.integers(min_value=start, max_value=min(start + 3, n - 1)))
        new = [f"new {k}.{j}" for j in range(draw(st.integers(min_value=0, max_value=3)))]
        if start == end and not new:
            new = [f"new {k}.0"]
        spans.append((start, end, new))
        cursor = end + 3
    return lines, eols, spans


def expected_text(
    lines: list[str], eols: list[str], spans: list[tuple[int, int, list[str]]]
) -> str:
    """The model: kept lines with their own terminators, inserted ones with the file's style."""
    terminated = [e for e in eols if e]
    default = "\r\n" if terminated.count("\r\n") * 2 > len(terminated) else "\n"
    out: list[tuple[str, str]] = []
    cursor = 0
    for start, end, new in spans:
        out += [(lines[i], eols[i] or default) for i in range(cursor, start)]
        out += [(x, default) for x in new]
        cursor = end
    out += [(lines[i], eols[i] or default) for i in range(cursor, len(lines))]
    text = "".join(a + b for a, b in out)
    return text if eols[-1] else text[: -len(out[-1][1])]


def render(fmt: EditFormat, lines: list[str], spans: list[tuple[int, int, list[str]]]) -> str:
    if fmt is EditFormat.SEARCH_REPLACE:
        return "".join(
            "<<<<<<< SEARCH\n"
            + "".join(x + "\n" for x in lines[start - 1 : end + 1])
            + "=======\n"
            + "".join(x + "\n" for x in [lines[start - 1], *new, lines[end]])
            + ">>>>>>> REPLACE\n"
            for start, end, new in spans
        )
    if fmt is EditFormat.LAZY:
        out = [MARKER]
        for start, end, new in spans:
            out += [lines[start - 1], *new, lines[end], MARKER]
        return "\n".join(out) + "\n"
    after = list(lines)
    for start, end, new in reversed(spans):
        after[start:end] = new
    return "\n".join(difflib.unified_diff(lines, after, "a/f.txt", "b/f.txt", lineterm="")) + "\n"


def kept_lines_identical(
    lines: list[str], eols: list[str], spans: list[tuple[int, int, list[str]]], out: str
) -> bool:
    """Every line outside the spans, with its terminator (the last one aside), is in the
    output in order."""
    pos = 0
    cursor = 0
    kept: list[int] = []
    for start, end, _ in spans:
        kept += range(cursor, start)
        cursor = end
    kept += range(cursor, len(lines))
    for i in kept:
        piece = lines[i] + (eols[i] if i < len(lines) - 1 else "")
        found = out.find(piece, pos)
        if found < 0 or (found > 0 and out[found - 1] != "\n"):
            return False
        pos = found + len(piece)
    return True


@settings(max_examples=120, deadline=None)
@given(case=files_and_edits(), fmt=st.sampled_from(list(EditFormat)))
def test_untouched_lines_are_byte_identical(
    case: tuple[list[str], list[str], list[tuple[int, int, list[str]]]], fmt: EditFormat
) -> None:
    lines, eols, spans = case
    original = "".join(a + b for a, b in zip(lines, eols, strict=True))
    result = ENGINE.merge(original, render(fmt, lines, spans), fmt, path="f.txt")
    assert result.text == expected_text(lines, eols, spans)
    assert kept_lines_identical(lines, eols, spans, result.text)
    assert result.text.endswith("\n") == original.endswith("\n")
