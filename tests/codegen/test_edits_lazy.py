"""Lazy snippets: anchoring, markers, edges, changed signature lines, ambiguity."""

from __future__ import annotations

import pytest

from patterns.codegen.edits import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    EditEngine,
    EditParseError,
    is_marker,
)

ENGINE = EditEngine()

SOURCE = '''import math


def area(radius):
    """Area of a circle."""
    r2 = radius * radius
    return math.pi * r2


def grow(values, factor):
    """Scale every value."""
    out = []
    for v in values:
        out.append(v * factor)
    return out
'''


def merge(edit: str, original: str = SOURCE, path: str = "m.py") -> str:
    return ENGINE.merge(original, edit, "lazy", path=path).text


@pytest.mark.parametrize(
    "line",
    [
        "# ... existing code ...",
        "    # ... existing code ...",
        "// ... existing code ...",
        "/* ... existing code ... */",
        "<!-- ... existing code ... -->",
        "...rest of code...",
        "# ...",
        "\t# … rest of the function …",
    ],
)
def test_marker_variants(line: str) -> None:
    assert is_marker(line)


@pytest.mark.parametrize("line", ["...", "    ...", "x = ...", "# see ... notes", "print('...')"])
def test_ellipsis_and_prose_are_not_markers(line: str) -> None:
    assert not is_marker(line)


def test_replace_between_anchors() -> None:
    edit = """# ... existing code ...
    out = []
    for v in values:
        out.append(v * factor + 1)
    return out
"""
    assert merge(edit) == SOURCE.replace("v * factor)", "v * factor + 1)")


def test_two_segments_and_deletion() -> None:
    edit = """# ... existing code ...
    \"\"\"Area of a circle.\"\"\"
    return math.pi * radius * radius


def grow(values, factor):
# ... existing code ...
    out = []
    for v in values:
        out.append(v * factor)
    return list(out)
"""
    expected = SOURCE.replace("    r2 = radius * radius\n", "").replace(
        "math.pi * r2", "math.pi * radius * radius"
    )
    expected = expected.replace("    return out\n", "    return list(out)\n")
    assert merge(edit) == expected


def test_changed_signature_line_replaces_the_def() -> None:
    edit = """# ... existing code ...
def grow(values, factor=2):
    \"\"\"Scale every value.\"\"\"
    # ... existing code ...
"""
    assert merge(edit) == SOURCE.replace("def grow(values, factor):", "def grow(values, factor=2):")


def test_new_function_before_an_anchor_is_an_insertion() -> None:
    edit = """# ... existing code ...
def shrink(values):
    return [v / 2 for v in values]


def grow(values, factor):
    # ... existing code ...
"""
    expected = SOURCE.replace(
        "def grow(", "def shrink(values):\n    return [v / 2 for v in values]\n\n\ndef grow("
    )
    assert merge(edit) == expected


def test_insertion_at_file_start_and_end() -> None:
    start = "from __future__ import annotations\nimport math\n# ... existing code ...\n"
    assert merge(start) == "from __future__ import annotations\n" + SOURCE
    end = "# ... existing code ...\n    return out\n\n\nVERSION = 1\n"
    assert merge(end) == SOURCE + "\n\nVERSION = 1\n"


def test_crlf_and_no_final_newline_are_kept() -> None:
    original = SOURCE.replace("\n", "\r\n").rstrip("\r\n")
    edit = "# ... existing code ...\n    r2 = radius ** 2\n    return math.pi * r2\n# ... existing code ..."
    out = merge(edit, original)
    assert out == original.replace("radius * radius", "radius ** 2")
    assert out.count("\r\n") == original.count("\r\n") and not out.endswith("\n")


def test_ambiguous_context_names_hunk_and_candidates() -> None:
    original = "def a():\n    x = 1\n    return x\n\n\ndef b():\n    x = 1\n    return x\n"
    edit = "# ... existing code ...\n    x = 2\n    return x\n# ... existing code ...\n"
    with pytest.raises(AmbiguousAnchorError) as info:
        merge(edit, original)
    assert info.value.hunk == 0 and info.value.candidates == (3, 8)
    assert "hunk 1" in str(info.value)


def test_unsure_edge_line_is_low_confidence() -> None:
    original = "def f(n):\n    total = 0\n    total += n\n    return total\n"
    edit = "# ... existing code ...\n    total = n\n    total += n\n# ... existing code ...\n"
    # "total = n" next to "total = 0": replacement; a mid-similar line is not decided
    assert merge(edit, original) == original.replace("total = 0", "total = n")
    unsure = "# ... existing code ...\n    counter = 0\n    total += n\n# ... existing code ...\n"
    with pytest.raises(AmbiguousAnchorError) as info:
        merge(unsure, original)
    assert info.value.hunk == 0


def test_missing_leading_marker_is_not_a_silent_deletion() -> None:
    edit = 'def grow(values, factor):\n    """Scale every value."""\n    out = ()\n# ... existing code ...\n'
    with pytest.raises(AmbiguousAnchorError, match="does not start with a marker"):
        merge(edit)


def test_segment_not_found_names_its_hunk() -> None:
    edit = "# ... existing code ...\n    r2 = radius * radius\n# ... existing code ...\n    nowhere = True\n    also_missing()\n# ... existing code ...\n"
    with pytest.raises(AnchorNotFoundError) as info:
        merge(edit)
    assert info.value.hunk == 1 and "hunk 2" in str(info.value)


def test_segments_must_be_in_file_order() -> None:
    edit = "# ... existing code ...\n    out = []\n# ... existing code ...\n    r2 = radius * radius\n# ... existing code ...\n"
    with pytest.raises(AnchorNotFoundError, match="segments must be in file order"):
        merge(edit)


def test_markers_only_is_a_parse_error() -> None:
    with pytest.raises(EditParseError):
        merge("# ... existing code ...\n\n# ... existing code ...\n")
