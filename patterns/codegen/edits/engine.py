"""The edit engine: deterministic merge, checks, optional model fallback, atomic file writes."""

from __future__ import annotations

import ast
import codecs
import contextlib
import difflib
import os
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from patterns.codegen.edits.formats import APPLIERS, count_hunks, resolve_format
from patterns.codegen.edits.merger import ModelMerger
from patterns.codegen.edits.text import INSERTED, Document, split_lines
from patterns.codegen.edits.unified_diff import apply_unified_diff
from patterns.codegen.exceptions import (
    AmbiguousAnchorError,
    EditError,
    OffsetTooLargeError,
    SyntaxCheckError,
)
from patterns.codegen.records import EditFormat
from patterns.core.exceptions import ConfigError

PYTHON_SUFFIXES = (".py", ".pyi")
PYTHON_LANGUAGES = frozenset({"python", "python3", "py"})
BOM = "\ufeff"
TEMP_SUFFIX = ".edit-tmp"  # suffix of the temporary file of an atomic replace
# Farthest a unified-diff hunk may be placed from the line its header states, lines. Editors
# and models shift line numbers by a few lines to a few dozen (an earlier hunk, a header
# added); a context found hundreds of lines away is more likely another copy of it.
DEFAULT_MAX_OFFSET_LINES = 100


class Confidence(StrEnum):
    """How a merge was decided."""

    EXACT = "exact"  # every hunk matched exactly
    TOLERANT = "tolerant"  # some hunk needed a documented tolerance
    MODEL = "model"  # a low-confidence merge the fallback model rewrote


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A merged text and how it came about.

    Attributes:
        text: the merged file content.
        format: the edit's format.
        hunks: hunks / blocks / segments in the edit.
        changed_lines: original lines removed plus lines inserted.
        confidence: ``exact``, ``tolerant`` or ``model``.
        merge_s: time to parse and apply the edit (or to get the model's rewrite), seconds.
        check_s: time of the checks (kept-lines invariant or ``ast.parse``), seconds.
        offsets: unified diffs: per hunk, the line it applied at minus the line its header
            states (all 0 when every line number was right); empty for other formats.
    """

    text: str
    format: EditFormat
    hunks: int
    changed_lines: int
    confidence: str
    merge_s: float
    check_s: float
    offsets: tuple[int, ...] = ()

    @property
    def max_offset(self) -> int:
        """The largest hunk offset in lines, absolute (0 without line numbers)."""
        return max((abs(o) for o in self.offsets), default=0)


def is_python(path: str | os.PathLike[str] | None, language: str | None) -> bool:
    """True for ``language="python"`` or a ``.py`` / ``.pyi`` path."""
    if language is not None:
        return language.strip().lower() in PYTHON_LANGUAGES
    return path is not None and os.fspath(path).endswith(PYTHON_SUFFIXES)


def _with_path(err: EditError, path: str | None) -> EditError:
    """``err`` naming ``path`` (a copy of the same type), or ``err`` itself."""
    if path is None or err.path is not None:
        return err
    if isinstance(err, AmbiguousAnchorError):
        return AmbiguousAnchorError(err.detail, hunk=err.hunk, path=path, candidates=err.candidates)
    if isinstance(err, SyntaxCheckError):
        return SyntaxCheckError(err.detail, hunk=err.hunk, path=path, lineno=err.lineno)
    if isinstance(err, OffsetTooLargeError):
        return OffsetTooLargeError(
            err.detail,
            hunk=err.hunk,
            path=path,
            stated=err.stated,
            found=err.found,
            limit=err.limit,
        )
    return type(err)(err.detail, hunk=err.hunk, path=path)


def _parse_error(text: str) -> SyntaxError | ValueError | None:
    source = text[1:] if text.startswith(BOM) else text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (SyntaxError, ValueError) as err:  # ValueError: NUL bytes (Python 3.11)
        return err
    return None


def check_python(text: str, doc: Document | None, fallback_hunk: int | None = None) -> None:
    """``ast.parse`` the merged text.

    Raises:
        SyntaxCheckError: it does not parse; names the hunk(s) nearest to the error line.
    """
    err = _parse_error(text)
    if err is None:
        return
    lineno = getattr(err, "lineno", None) or 0
    message = getattr(err, "msg", None) or str(err)
    hunks = doc.nearest_hunks(lineno) if doc is not None and lineno else []
    hunk = hunks[0] if hunks else fallback_hunk
    near = f"; nearest hunk(s): {', '.join(str(h + 1) for h in hunks)}" if hunks else ""
    raise SyntaxCheckError(
        f"the result does not parse: {message} at line {lineno}{near}", hunk=hunk, lineno=lineno
    )


def _conform(text: str, original: str) -> str:
    """A model's rewrite in the original's EOL style and final-newline choice."""
    doc = Document(original)
    lines, _ = split_lines(text)
    if not lines:
        return ""
    body = doc.eol.join(lines)
    return body + doc.eol if doc.final_newline or not original else body


def _changed(original: str, text: str) -> int:
    a, b = split_lines(original)[0], split_lines(text)[0]
    matched = sum(
        m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    )
    return len(a) + len(b) - 2 * matched


def read_source(path: str | os.PathLike[str]) -> tuple[Path, str, bool]:
    """(real path, text, had a UTF-8 BOM) of ``path`` (symlinks resolved, so the
    atomic replace writes the target, not the link); line endings untouched.

    Raises:
        EditError: the file is not UTF-8.
        OSError: it cannot be read.
    """
    path = Path(os.path.realpath(path))
    data = path.read_bytes()
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise EditError(
            f"not UTF-8 ({err.reason} at byte {err.start}); the engine edits UTF-8 text only",
            path=str(path),
        ) from err
    return path, (text[1:] if bom else text), bom


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically, keeping its mode.

    A temporary file in the same directory is written, fsynced and renamed over
    ``path`` with ``os.replace``; on any error it is removed and ``path`` is untouched.
    """
    data = text.encode("utf-8")
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where directories fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class EditEngine:
    """Applies edits deterministically; a model only rewrites a file when a merge is
    low confidence (:class:`AmbiguousAnchorError`) and a fallback is configured.

    ``merge`` is pure. After merging, a Python result (``.py``/``.pyi`` path or
    ``language="python"``) must ``ast.parse``; any other result is re-split and every
    kept line compared with its original (byte-identical, in order).
    """

    def __init__(
        self,
        *,
        fallback: ModelMerger | None = None,
        check_syntax: bool = True,
        max_offset_lines: int | None = DEFAULT_MAX_OFFSET_LINES,
    ) -> None:
        """Args:
        fallback: asked to rewrite the file when a merge is low confidence (async only).
        check_syntax: ``ast.parse`` Python results.
        max_offset_lines: a unified-diff hunk whose context is only found farther than
            this from its stated line is refused (:class:`OffsetTooLargeError`); ``None``
            places hunks at any distance. Offsets within it are reported in
            :attr:`MergeResult.offsets`.

        Raises:
            ConfigError: a negative ``max_offset_lines``.
        """
        if max_offset_lines is not None and (
            isinstance(max_offset_lines, bool)
            or not isinstance(max_offset_lines, int)
            or max_offset_lines < 0
        ):
            raise ConfigError(
                f"max_offset_lines={max_offset_lines!r} must be a non-negative integer or None"
            )
        self.fallback = fallback
        self.check_syntax = check_syntax
        self.max_offset_lines = max_offset_lines

    def merge(
        self,
        original: str,
        edit: str,
        format: EditFormat | str | None = None,
        *,
        path: str | None = None,
        language: str | None = None,
    ) -> MergeResult:
        """Merge ``edit`` into ``original``; never asks a model.

        Args:
            original: the file's text (any of LF / CRLF; kept as it is).
            edit: the edit text.
            format: its format; None detects it.
            path: the file's path (language detection and error messages).
            language: ``python`` forces the syntax check whatever the path.

        Raises:
            EditParseError, AnchorNotFoundError, AmbiguousAnchorError, SyntaxCheckError:
                the edit cannot be applied safely; each names the failing hunk.
            OffsetTooLargeError: a diff hunk's context is beyond ``max_offset_lines``
                from its stated line.
        """
        try:
            started = time.perf_counter()
            fmt = resolve_format(edit, format)
            doc = Document(original)
            if fmt is EditFormat.UNIFIED_DIFF:
                applied = apply_unified_diff(doc, edit, max_offset=self.max_offset_lines)
            else:
                applied = APPLIERS[fmt](doc, edit)
            text = doc.text(applied.final_newline)
            merged = time.perf_counter()
            if is_python(path, language):
                if self.check_syntax:
                    check_python(text, doc)
            elif not doc.verify_kept(text):
                raise EditError("internal error: a kept line changed (please report this edit)")
            checked = time.perf_counter()
        except EditError as err:
            named = _with_path(err, path)
            if named is err:
                raise
            raise named from err
        inserted = doc.origin.count(INSERTED)
        removed = len(doc.original) - (len(doc.origin) - inserted)
        return MergeResult(
            text=text,
            format=fmt,
            hunks=applied.hunks,
            changed_lines=removed + inserted,
            confidence=Confidence.TOLERANT if applied.tolerant else Confidence.EXACT,
            merge_s=merged - started,
            check_s=checked - merged,
            offsets=applied.offsets,
        )

    async def amerge(
        self,
        original: str,
        edit: str,
        format: EditFormat | str | None = None,
        *,
        path: str | None = None,
        language: str | None = None,
    ) -> MergeResult:
        """:meth:`merge`, then, only for a low-confidence merge (AmbiguousAnchorError)
        and only with a fallback, the fallback's rewrite (confidence ``model``, EOL
        style and final newline conformed to the original, still syntax-checked).

        Raises:
            EditError: as :meth:`merge` (AmbiguousAnchorError without a fallback, or
                whatever the fallback raises).
        """
        try:
            return self.merge(original, edit, format, path=path, language=language)
        except AmbiguousAnchorError as err:
            if self.fallback is None:
                raise
            reason = err
        started = time.perf_counter()
        fmt = resolve_format(edit, format)
        text = _conform(await self.fallback.rewrite(original, edit, reason), original)
        merged = time.perf_counter()
        if self.check_syntax and is_python(path, language):
            try:
                check_python(text, None, reason.hunk)
            except SyntaxCheckError as err:
                raise _with_path(
                    SyntaxCheckError(
                        f"the model's rewrite (after: {reason.detail}) does not parse: {err.detail}",
                        hunk=reason.hunk,
                        lineno=err.lineno,
                    ),
                    path,
                ) from None
        checked = time.perf_counter()
        return MergeResult(
            text=text,
            format=fmt,
            hunks=count_hunks(edit, fmt),
            changed_lines=_changed(original, text),
            confidence=Confidence.MODEL,
            merge_s=merged - started,
            check_s=checked - merged,
        )

    def apply_to_file(
        self, path: str | os.PathLike[str], edit: str, format: EditFormat | str | None = None
    ) -> MergeResult:
        """Read ``path`` (UTF-8, BOM kept), merge, check, then replace it atomically.

        On any error the file is untouched (and no temporary file is left).

        Raises:
            EditError: as :meth:`merge`, or the file is not UTF-8.
            OSError: the file cannot be read or replaced.
        """
        target, original, bom = read_source(path)
        result = self.merge(original, edit, format, path=os.fspath(path))
        if result.text != original:
            write_atomic(target, (BOM if bom else "") + result.text)
        return result

    async def aapply_to_file(
        self, path: str | os.PathLike[str], edit: str, format: EditFormat | str | None = None
    ) -> MergeResult:
        """:meth:`apply_to_file` through :meth:`amerge` (model fallback on low confidence)."""
        target, original, bom = read_source(path)
        result = await self.amerge(original, edit, format, path=os.fspath(path))
        if result.text != original:
            write_atomic(target, (BOM if bom else "") + result.text)
        return result
