"""Unified diffs: stated position, offsets, counts, no-newline markers, ambiguity."""

from __future__ import annotations

import difflib

import pytest

from patterns.codegen.edits import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    EditEngine,
    EditParseError,
)

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
