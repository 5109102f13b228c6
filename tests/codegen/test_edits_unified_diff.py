"""Unified diffs: stated position, offsets, counts, no-newline markers, ambiguity."""

from __future__ import annotations

import difflib

import pytest

from patterns.codegen.edits import (
    DEFAULT_MAX_OFFSET_LINES,
    AmbiguousAnchorError,
    AnchorNotFoundError,
    EditEngine,
    EditParseError,
    OffsetTooLargeError,
)
from patterns.core.exceptions import ConfigError

ENGINE = EditEngine()
LINES = [f"line {i}\n" for i in range(1, 31)]
SOURCE = "".join(LINES)


def diff(a: str, b: str, n: int = 3) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "a/f", "b/f", n=n))


def test_multi_hunk_with_insertion_and_deletion() -> None:
    expected = SOURCE.replace("line 3\n", "").replace("line 20\n", "line 20\nnew\n")
    result = ENGINE.merge(SOURCE, diff(SOURCE, expected))
    assert result.text == expected and result.hunks == 2


def test_insertion_at_start_and_end() -> None:
    expected = "first\n" + SOURCE + "last\n"
    assert ENGINE.merge(SOURCE, diff(SOURCE, expected)).text == expected


def test_hunk_found_at_nearest_offset() -> None:
    expected = SOURCE.replace("line 15\n", "line fifteen\n")
    shifted = "extra 1\nextra 2\n" + SOURCE
    assert ENGINE.merge(shifted, diff(SOURCE, expected)).text == "extra 1\nextra 2\n" + expected


def test_offsets_of_misplaced_hunks_are_reported() -> None:
    # Hunk line numbers are wrong (the file grew 2 lines at the top): placed, and said so.
    expected = SOURCE.replace("line 5\n", "line five\n").replace("line 25\n", "line 25b\n")
    edit = diff(SOURCE, expected)
    shifted = "extra 1\nextra 2\n" + SOURCE
    result = ENGINE.merge(shifted, edit)
    assert result.text == "extra 1\nextra 2\n" + expected
    assert result.offsets == (2, 2) and result.max_offset == 2
    exact = ENGINE.merge(SOURCE, edit)
    assert exact.offsets == (0, 0) and exact.max_offset == 0
    # Line numbers too small: the context is found before the stated line.
    early = "@@ -20,3 +20,3 @@\n line 9\n-line 10\n+line ten\n line 11\n"
    assert ENGINE.merge(SOURCE, early).offsets == (-11,)


def test_a_hunk_beyond_the_offset_limit_is_refused_and_the_limit_is_settable() -> None:
    big = "".join(f"row {i}\n" for i in range(1, 401))
    # The header says line 10, the context is at line 300: 290 lines away.
    edit = "@@ -10,3 +10,3 @@\n row 299\n-row 300\n+row three hundred\n row 301\n"
    with pytest.raises(OffsetTooLargeError) as info:
        ENGINE.merge(big, edit, path="big.txt")
    err = info.value
    assert isinstance(err, AnchorNotFoundError)  # callers catching "not found" still do
    assert (err.hunk, err.stated, err.found, err.offset) == (0, 10, 299, 289)
    assert err.limit == DEFAULT_MAX_OFFSET_LINES and err.path == "big.txt"
    assert "289 lines after the line its header states (10)" in str(err)
    assert "big.txt: hunk 1" in str(err)
    loose = EditEngine(max_offset_lines=None).merge(big, edit)  # placement at any distance
    assert loose.offsets == (289,) and "row three hundred\n" in loose.text
    assert EditEngine(max_offset_lines=289).merge(big, edit).offsets == (289,)
    with pytest.raises(OffsetTooLargeError, match="max_offset_lines=288"):
        EditEngine(max_offset_lines=288).merge(big, edit)
    strict = EditEngine(max_offset_lines=0)
    assert strict.merge(big, edit.replace("-10,3 +10,3", "-299,3 +299,3")).offsets == (0,)
    with pytest.raises(ConfigError, match="max_offset_lines"):
        EditEngine(max_offset_lines=-1)


def test_a_refused_hunk_leaves_the_file_untouched(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "f.txt"
    path.write_text("".join(f"row {i}\n" for i in range(1, 401)))
    before = path.read_bytes()
    edit = "@@ -1,3 +1,3 @@\n row 1\n-row 2\n+two\n row 3\n@@ -10,3 +10,3 @@\n row 349\n-row 350\n+x\n row 351\n"
    with pytest.raises(OffsetTooLargeError) as info:
        ENGINE.apply_to_file(path, edit)
    assert info.value.hunk == 1 and path.read_bytes() == before


def test_equally_near_context_is_ambiguous() -> None:
    original = "a\nb\nc\nx\nx\nx\na\nb\nc\n"
    edit = "@@ -4,3 +4,3 @@\n a\n-b\n+B\n c\n"
    with pytest.raises(AmbiguousAnchorError) as info:
        ENGINE.merge(original, edit)
    assert info.value.hunk == 0 and info.value.candidates == (1, 7)


def test_missing_context() -> None:
    edit = "@@ -1,2 +1,2 @@\n line 1\n-line 2\n+x\n@@ -10,2 +10,2 @@\n nope\n-line 11\n+y\n"
    with pytest.raises(AnchorNotFoundError) as info:
        ENGINE.merge(SOURCE, edit)
    assert info.value.hunk == 1 and "hunk 2" in str(info.value)


@pytest.mark.parametrize(
    "edit",
    [
        "@@ -1,3 +1,3 @@\n line 1\n-line 2\n+x\n",  # body shorter than the header
        "@@ -1,2 +1,2 @@\n line 1\n-line 2\n+x\n line 3\n-line 4\n",  # longer
        "@@ -1,x +1,2 @@\n line 1\n",  # bad header
        "--- a/f\n+++ b/f\n",  # no hunk
    ],
)
def test_malformed_diffs(edit: str) -> None:
    with pytest.raises(EditParseError) as info:
        ENGINE.merge(SOURCE, edit, "unified_diff")
    assert info.value.hunk in (0, None)


def test_no_newline_markers() -> None:
    original = "a\nb"
    edit = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
    assert ENGINE.merge(original, edit).text == "a\nc\n"
    keep = (
        "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
    )
    assert ENGINE.merge(original, keep).text == "a\nc"
    drop = "@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    assert ENGINE.merge("a\nb\n", drop).text == "a\nc"


def test_crlf_file_with_lf_diff() -> None:
    original = SOURCE.replace("\n", "\r\n")
    expected = SOURCE.replace("line 7\n", "seven\n")
    out = ENGINE.merge(original, diff(SOURCE, expected)).text
    assert out == expected.replace("\n", "\r\n")


def test_empty_context_line_without_space() -> None:
    original = "a\n\nb\n"
    edit = "@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n"
    assert ENGINE.merge(original, edit).text == "a\n\nc\n"
