"""SEARCH/REPLACE blocks: exact and tolerant matching, order, ambiguity, parse errors."""

from __future__ import annotations

import pytest

from patterns.codegen.edits import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    Confidence,
    EditEngine,
    EditParseError,
)

ENGINE = EditEngine()
SOURCE = "def f(x):\n    y = x + 1\n    if y > 3:\n        return y\n    return 0\n"


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_exact_block_with_filename_line() -> None:
    edit = "src/f.py\n" + block("    if y > 3:\n", "    if y >= 3:\n")
    result = ENGINE.merge(SOURCE, edit, path="f.py")
    assert result.text == SOURCE.replace("y > 3", "y >= 3")
    assert result.confidence == Confidence.EXACT and result.hunks == 1
    assert result.changed_lines == 2


def test_blocks_apply_in_order_against_the_evolving_text() -> None:
    edit = block("    y = x + 1\n", "    y = x + 2\n") + block("    y = x + 2\n", "    y = x * 2\n")
    assert ENGINE.merge(SOURCE, edit).text == SOURCE.replace("x + 1", "x * 2")


def test_deletion_and_insertion_at_start() -> None:
    delete = block("    if y > 3:\n        return y\n", "")
    assert ENGINE.merge(SOURCE, delete).text == SOURCE.replace(
        "    if y > 3:\n        return y\n", ""
    )
    head = block("def f(x):\n", "import os\n\n\ndef f(x):\n")
    assert ENGINE.merge(SOURCE, head).text == "import os\n\n\n" + SOURCE


def test_empty_search_appends() -> None:
    edit = block("", "\n\nVERSION = 2\n")
    assert ENGINE.merge(SOURCE, edit).text == SOURCE + "\n\nVERSION = 2\n"


def test_trailing_whitespace_is_tolerated() -> None:
    original = SOURCE.replace("    y = x + 1\n", "    y = x + 1   \n")
    result = ENGINE.merge(original, block("    y = x + 1\n", "    y = x + 5\n"))
    assert result.text == SOURCE.replace("x + 1", "x + 5")
    assert result.confidence == Confidence.TOLERANT


def test_uniform_indentation_shift_is_reapplied_to_the_replacement() -> None:
    edit = block("if y > 3:\n    return y\n", "if y > 4:\n    return y - 1\n")
    result = ENGINE.merge(SOURCE, edit)
    assert result.text == SOURCE.replace(
        "y > 3:\n        return y\n", "y > 4:\n        return y - 1\n"
    )
    assert result.confidence == Confidence.TOLERANT


def test_crlf_no_final_newline() -> None:
    original = SOURCE.replace("\n", "\r\n")[:-2]
    result = ENGINE.merge(original, block("    return 0\n", "    return -1\n"))
    assert result.text == original.replace("return 0", "return -1")
    assert not result.text.endswith("\n") and "\r\n" in result.text


def test_ambiguous_block() -> None:
    original = "a = 1\nb = 2\na = 1\n"
    with pytest.raises(AmbiguousAnchorError) as info:
        ENGINE.merge(original, block("b = 2\n", "b = 3\n") + block("a = 1\n", "a = 0\n"))
    assert info.value.hunk == 1 and info.value.candidates == (1, 3)
    assert "hunk 2" in str(info.value)


def test_not_found_names_the_block() -> None:
    with pytest.raises(AnchorNotFoundError) as info:
        ENGINE.merge(SOURCE, block("    y = x + 1\n", "    y = 0\n") + block("    zzz\n", "\n"))
    assert info.value.hunk == 1


@pytest.mark.parametrize(
    "edit",
    [
        "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n",
        "<<<<<<< SEARCH\nx\n=======\ny\n",
        "=======\n>>>>>>> REPLACE\n",
    ],
)
def test_malformed_blocks(edit: str) -> None:
    with pytest.raises(EditParseError) as info:
        ENGINE.merge(SOURCE, edit, "search_replace")
    assert info.value.hunk == 0
