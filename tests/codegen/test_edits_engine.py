"""The engine: format detection, syntax check, atomic file replace, model fallback routing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from patterns.codegen.edits import (
    AmbiguousAnchorError,
    AnchorNotFoundError,
    Confidence,
    EditEngine,
    EditError,
    EditFormat,
    RouterMerger,
    SyntaxCheckError,
    detect_format,
)
from patterns.consensus_router import CallableVoter, Question
from tests.consensus_router.helpers import callable_entry, pool_of

SOURCE = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"
AMBIGUOUS = "def a():\n    return 1\n\n\ndef b():\n    return 1\n"
AMBIGUOUS_EDIT = "<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
MERGED = "def a():\n    return 2\n\n\ndef b():\n    return 1\n"


def sr(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


@pytest.mark.parametrize(
    ("edit", "fmt"),
    [
        (sr("a\n", "b\n"), EditFormat.SEARCH_REPLACE),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", EditFormat.UNIFIED_DIFF),
        ("# ... existing code ...\nx = 1\n", EditFormat.LAZY),
        ("x = 1\n", EditFormat.LAZY),
    ],
)
def test_detect_format(edit: str, fmt: EditFormat) -> None:
    assert detect_format(edit) is fmt
    original = "x = 1\n" if fmt is EditFormat.LAZY else "a\nx = 0\n"
    assert EditEngine().merge(original, edit).format is fmt


def test_format_given_as_string() -> None:
    assert (
        EditEngine()
        .merge(SOURCE, sr("    return x + 1\n", "    return x\n"), "search_replace")
        .text
    )
    with pytest.raises(EditError, match="unknown edit format"):
        EditEngine().merge(SOURCE, "x", "patch")


def test_syntax_error_names_the_nearest_hunk() -> None:
    edit = sr("    return x + 1\n", "    return x + 1\n") + sr(
        "    return y * 2\n", "    return y *\n"
    )
    with pytest.raises(SyntaxCheckError) as info:
        EditEngine().merge(SOURCE, edit, path="m.py")
    assert info.value.hunk == 1 and info.value.lineno == 6 and "hunk 2" in str(info.value)
    assert info.value.path == "m.py"
    # the same edit on a non-Python file, or with the check off, applies
    assert EditEngine().merge(SOURCE, edit, path="m.txt").text.endswith("y *\n")
    assert EditEngine(check_syntax=False).merge(SOURCE, edit, language="python").text


def test_language_overrides_the_path() -> None:
    broken = sr("    return x + 1\n", "    return (\n")
    with pytest.raises(SyntaxCheckError):
        EditEngine().merge(SOURCE, broken, path="notes.txt", language="python")


def _no_temp_files(directory: Path) -> bool:
    return [p.name for p in directory.iterdir()] == ["m.py"]


def test_apply_to_file_replaces_atomically_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(SOURCE.replace("\n", "\r\n").encode())
    target.chmod(0o640)
    result = EditEngine().apply_to_file(target, sr("    return y * 2\n", "    return y * 3\n"))
    assert target.read_bytes() == SOURCE.replace("\n", "\r\n").replace("y * 2", "y * 3").encode()
    assert result.confidence == Confidence.EXACT and result.check_s > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _no_temp_files(tmp_path)


def test_failed_apply_leaves_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(SOURCE.encode())
    engine = EditEngine()
    with pytest.raises(SyntaxCheckError):
        engine.apply_to_file(target, sr("    return y * 2\n", "    return y *\n"))
    with pytest.raises(AnchorNotFoundError):
        engine.apply_to_file(target, sr("    missing\n", "\n"))
    assert target.read_bytes() == SOURCE.encode()
    assert _no_temp_files(tmp_path)


def test_write_failure_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(SOURCE.encode())

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk says no")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk says no"):
        EditEngine().apply_to_file(target, sr("    return y * 2\n", "    return y * 3\n"))
    assert target.read_bytes() == SOURCE.encode()
    assert _no_temp_files(tmp_path)


def test_bom_is_kept_and_non_utf8_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(b"\xef\xbb\xbf" + SOURCE.encode())
    EditEngine().apply_to_file(target, sr("    return x + 1\n", "    return x + 2\n"))
    assert target.read_bytes() == b"\xef\xbb\xbf" + SOURCE.replace("x + 1", "x + 2").encode()
    target.write_bytes(b"x = '\xff'\n")
    with pytest.raises(EditError, match="not UTF-8"):
        EditEngine().apply_to_file(target, sr("x\n", "y\n"))
    assert target.read_bytes() == b"x = '\xff'\n"


class FakeMerger:
    """Records the reasons it was asked for and returns a fixed rewrite."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reasons: list[EditError] = []

    async def rewrite(self, original: str, edit: str, reason: EditError) -> str:
        self.reasons.append(reason)
        return self.text


async def test_amerge_routes_only_ambiguous_merges_to_the_fallback() -> None:
    fake = FakeMerger(MERGED)
    engine = EditEngine(fallback=fake)
    exact = await engine.amerge(SOURCE, sr("    return x + 1\n", "    return x\n"), path="m.py")
    assert exact.confidence == Confidence.EXACT and fake.reasons == []
    with pytest.raises(AnchorNotFoundError):
        await engine.amerge(SOURCE, sr("    nowhere\n", "\n"), path="m.py")
    with pytest.raises(SyntaxCheckError):
        await engine.amerge(SOURCE, sr("    return x + 1\n", "    return (\n"), path="m.py")
    assert fake.reasons == []
    result = await engine.amerge(AMBIGUOUS, AMBIGUOUS_EDIT, path="m.py")
    assert result.confidence == Confidence.MODEL and result.text == MERGED
    assert len(fake.reasons) == 1 and isinstance(fake.reasons[0], AmbiguousAnchorError)
    assert result.hunks == 1 and result.changed_lines == 2


async def test_amerge_without_fallback_reraises_and_model_output_is_checked() -> None:
    with pytest.raises(AmbiguousAnchorError):
        await EditEngine().amerge(AMBIGUOUS, AMBIGUOUS_EDIT)
    broken = EditEngine(fallback=FakeMerger("def a(:\n"))
    with pytest.raises(SyntaxCheckError) as info:
        await broken.amerge(AMBIGUOUS, AMBIGUOUS_EDIT, path="m.py")
    assert info.value.hunk == 0


async def test_aapply_to_file_with_model_keeps_eol_style(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(AMBIGUOUS.replace("\n", "\r\n").encode())
    await EditEngine(fallback=FakeMerger(MERGED)).aapply_to_file(target, AMBIGUOUS_EDIT)
    assert target.read_bytes() == MERGED.replace("\n", "\r\n").encode()


def _merging_voter(question: Question) -> dict[str, str]:
    original = str(question.payload["original"])
    assert "AMBIGUOUS" not in question.text and "return 1" in question.text
    return {"content": original.replace("    return 1\n", "    return 2\n", 1)}


async def test_router_merger_through_a_voter_pool() -> None:
    pool = pool_of(
        [callable_entry("merger"), callable_entry("silent")],
        {
            "merger": CallableVoter(_merging_voter, in_thread=False),
            "silent": CallableVoter(lambda q: None, in_thread=False),
        },
    )
    engine = EditEngine(fallback=RouterMerger(pool, "merger"))
    result = await engine.amerge(AMBIGUOUS, AMBIGUOUS_EDIT, path="m.py")
    assert result.text == MERGED and result.confidence == Confidence.MODEL
    silent = EditEngine(fallback=RouterMerger(pool, "silent"))
    with pytest.raises(AmbiguousAnchorError, match="abstained") as info:
        await silent.amerge(AMBIGUOUS, AMBIGUOUS_EDIT, path="m.py")
    assert info.value.hunk == 0 and info.value.candidates == (2, 6)


def test_edits_package_does_not_import_litellm() -> None:
    import subprocess
    import sys

    code = "import sys, patterns.codegen.edits; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
