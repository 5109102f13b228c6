"""Run a candidate program against a HumanEval problem's tests in a fresh, limited subprocess.

Every run gets a new temporary directory and a new interpreter
(``sys.executable -I -S``: no user site, no ``PYTHONPATH``, no environment
variables honoured, standard library only) started in a new session with a
stripped environment. The child (:mod:`patterns.codegen.repair._harness`) limits
itself with ``resource.setrlimit`` before any candidate code runs: CPU seconds,
address space (1 GiB), no core files, file size. The limits are set inside the
child rather than in a ``preexec_fn`` because ``preexec_fn`` is not safe when the
parent has threads (Prefect's task runners do); the effect is the same since no
candidate code runs before them. At the wall-clock deadline the parent kills the
whole process group.

Network access is refused by replacing the ``socket`` constructors and resolvers
with a raising function inside the child: a Python-level guard, not a kernel
sandbox (no seccomp, no network namespace).

The problem's ``check(candidate)`` is rewritten with ``ast`` so every ``assert``
is counted instead of stopping at the first failure (``total``, ``failed``, the
first failure's type and message); other statements run normally, and an
exception outside any assertion counts as one more failed test. When the rewrite
fails, ``check`` runs as written and counts as a single test.

Results travel as JSON lines, tagged with a per-run random nonce, on a file
descriptor the parent passes; the candidate's stdout and stderr go to files. A
line the candidate prints therefore cannot pose as the result.

With ``coverage=True`` each assertion also records which lines of the candidate
executed since the previous assertion (``sys.settrace`` on Python 3.11, restricted
to the candidate's code), the input of spectrum-based fault localization:
:func:`suspiciousness` computes Ochiai (Abreu et al., "On the Accuracy of
Spectrum-based Fault Localization", 2007) per line.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, overload

from patterns.codegen.exceptions import SandboxError
from patterns.codegen.humaneval import Problem
from patterns.codegen.records import TestOutcome

HARNESS_PATH = Path(__file__).with_name("_harness.py")
DEFAULT_TIMEOUT_S = 5.0
ADDRESS_SPACE_BYTES = 1 << 30  # 1 GiB
FILE_SIZE_BYTES = 16 << 20  # 16 MiB per file written by the candidate
OUTPUT_TAIL_CHARS = 500  # stderr kept in crash messages
MESSAGE_CHARS = 300
ASSERT_TEXT_CHARS = 120  # asserted expression text kept per assertion
RECORDER = "__sk_rec__"
MAX_SHAPES = 8  # failure-shape tokens kept per outcome
SHAPE_CHARS = 60


@dataclass(frozen=True, slots=True)
class AssertionRecord:
    """One counted test assertion of a coverage run.

    Attributes:
        index: the assertion's position in ``check`` (-1: an exception outside any assertion).
        passed: it held.
        error_type: why not (``AssertionError``, ``IndexError``...), or None.
        lines: 1-based candidate lines executed since the previous assertion.
    """

    index: int
    passed: bool
    error_type: str | None = None
    lines: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SpectrumOutcome:
    """A test outcome plus the per-assertion coverage spectrum.

    Attributes:
        outcome: the plain test outcome.
        assertions: the counted assertions, in execution order (at most 5,000 kept).
    """

    outcome: TestOutcome
    assertions: tuple[AssertionRecord, ...] = field(default_factory=tuple)

    # read-only views of ``outcome`` so a SpectrumOutcome reads like a TestOutcome
    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def total(self) -> int:
        return self.outcome.total

    @property
    def failed(self) -> int:
        return self.outcome.failed

    @property
    def error_type(self) -> str | None:
        return self.outcome.error_type

    @property
    def error_message(self) -> str:
        return self.outcome.error_message

    @property
    def timed_out(self) -> bool:
        return self.outcome.timed_out

    @property
    def duration_s(self) -> float:
        return self.outcome.duration_s

    @property
    def signature(self) -> str:
        return self.outcome.signature

    @property
    def spectrum(self) -> SpectrumOutcome:
        """Itself (``getattr(result, "spectrum", None)`` works on either result type)."""
        return self


def suspiciousness(spectrum: SpectrumOutcome) -> dict[int, float]:
    """Ochiai suspiciousness per candidate line: ``ef / sqrt(F * (ef + ep))``.

    ``ef``/``ep``: failing/passing assertions that executed the line; ``F``: all
    failing assertions. Lines no assertion executed are absent (suspiciousness 0).

    Args:
        spectrum: a coverage run.

    Returns:
        1-based line -> suspiciousness in [0, 1].
    """
    failing_total = sum(1 for a in spectrum.assertions if not a.passed)
    executed_failing: dict[int, int] = {}
    executed_passing: dict[int, int] = {}
    for record in spectrum.assertions:
        counts = executed_passing if record.passed else executed_failing
        for line in record.lines:
            counts[line] = counts.get(line, 0) + 1
    scores: dict[int, float] = {}
    for line in sorted(set(executed_failing) | set(executed_passing)):
        ef = executed_failing.get(line, 0)
        ep = executed_passing.get(line, 0)
        denominator = math.sqrt(failing_total * (ef + ep))
        scores[line] = ef / denominator if denominator else 0.0
    return scores


class _CountAsserts(ast.NodeTransformer):
    """``assert t`` -> ``try: v = t / except Exception as e: rec.raised(i, e) / else: rec.check(i, v)``."""

    def __init__(self, test_source: str) -> None:
        self.source = test_source
        self.texts: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node  # nested functions keep their asserts

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        index = len(self.texts)
        text = ast.get_source_segment(self.source, node.test) or ast.unparse(node.test)
        text = " ".join(text.split())
        if len(text) > ASSERT_TEXT_CHARS:
            text = text[: ASSERT_TEXT_CHARS - 3] + "..."
        if isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str):
            text = f"{text}, {node.msg.value!r}"[: ASSERT_TEXT_CHARS * 2]
        self.texts.append(text)
        value, error = "__sk_v__", "__sk_e__"
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            return ast.copy_location(self._equality(index, test, error), node)

        def rec(method: str, *args: ast.expr) -> ast.stmt:
            call = ast.Call(
                func=ast.Attribute(
                    value=ast.Name(RECORDER, ast.Load()), attr=method, ctx=ast.Load()
                ),
                args=[ast.Constant(index), *args],
                keywords=[],
            )
            return ast.Expr(call)

        replacement = ast.Try(
            body=[ast.Assign(targets=[ast.Name(value, ast.Store())], value=test)],
            handlers=[
                ast.ExceptHandler(
                    type=ast.Name("Exception", ast.Load()),
                    name=error,
                    body=[rec("raised", ast.Name(error, ast.Load()))],
                )
            ],
            orelse=[rec("check", ast.Name(value, ast.Load()))],
            finalbody=[],
        )
        return ast.copy_location(replacement, node)

    def _equality(self, index: int, test: ast.Compare, error: str) -> ast.stmt:
        """``assert a == b`` -> both sides evaluated in order, compared by the recorder.

        The recorder then knows the value the program returned and the one the test
        expected (the side calling ``candidate`` is the actual one), and records the
        failure's shape (:func:`patterns.codegen.repair._harness.failure_shape`).
        """
        left, right = "__sk_l__", "__sk_r__"
        swapped = _calls_candidate(test.comparators[0]) and not _calls_candidate(test.left)
        call = ast.Call(
            func=ast.Attribute(value=ast.Name(RECORDER, ast.Load()), attr="equal", ctx=ast.Load()),
            args=[
                ast.Constant(index),
                ast.Name(left, ast.Load()),
                ast.Name(right, ast.Load()),
                ast.Constant(swapped),
            ],
            keywords=[],
        )
        raised = ast.Call(
            func=ast.Attribute(value=ast.Name(RECORDER, ast.Load()), attr="raised", ctx=ast.Load()),
            args=[ast.Constant(index), ast.Name(error, ast.Load())],
            keywords=[],
        )
        return ast.Try(
            body=[
                ast.Assign(targets=[ast.Name(left, ast.Store())], value=test.left),
                ast.Assign(targets=[ast.Name(right, ast.Store())], value=test.comparators[0]),
            ],
            handlers=[
                ast.ExceptHandler(
                    type=ast.Name("Exception", ast.Load()), name=error, body=[ast.Expr(raised)]
                )
            ],
            orelse=[ast.Expr(call)],
            finalbody=[],
        )


def _calls_candidate(node: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "candidate"
        for n in ast.walk(node)
    )


@lru_cache(maxsize=512)
def rewrite_check(test_source: str) -> tuple[str, tuple[str, ...]] | None:
    """The test source with ``check``'s assertions counted, and each assertion's text.

    Returns:
        (rewritten source, assertion texts), or None when the rewrite is not possible
        (no ``check`` function, or the source does not parse).
    """
    try:
        tree = ast.parse(test_source)
        checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
        if not checks:
            return None
        counter = _CountAsserts(test_source)
        for check in checks:
            check.body = [counter.visit(stmt) for stmt in check.body]
        ast.fix_missing_locations(tree)
        rewritten = ast.unparse(tree)
        compile(rewritten, "<check>", "exec")
    except (SyntaxError, ValueError, RecursionError, TypeError):
        return None
    return rewritten, tuple(counter.texts)


def _child_env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(home),
    }


@dataclass(slots=True)
class _Run:
    """One prepared sandbox run (its directory and files)."""

    tmp: tempfile.TemporaryDirectory[str]
    work: Path
    payload_path: Path
    result_path: Path
    stdout_path: Path
    stderr_path: Path
    result_fd: int
    nonce: str
    coverage: bool
    argv: list[str]

    def cleanup(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.result_fd)
        self.tmp.cleanup()


def _prepare(problem: Problem, source: str, timeout_s: float, coverage: bool) -> _Run:
    try:
        tmp = tempfile.TemporaryDirectory(prefix="swarmkit-sandbox-")
        root = Path(tmp.name)
        io_dir, work = root / "io", root / "work"
        io_dir.mkdir(mode=0o700)
        work.mkdir(mode=0o700)
        result_path = io_dir / "result"
        result_fd = os.open(result_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise SandboxError(f"cannot prepare the sandbox directory: {err}") from err
    nonce = secrets.token_hex(16)
    rewritten = rewrite_check(problem.test)
    test, texts, counted = (
        (rewritten[0], list(rewritten[1]), True) if rewritten else (problem.test, [], False)
    )
    payload = {
        "nonce": nonce,
        "result_fd": result_fd,
        "source": source,
        "test": test,
        "assert_texts": texts,
        "counted": counted,
        "entry_point": problem.entry_point,
        "coverage": coverage,
        "limits": {
            "cpu_s": math.ceil(timeout_s) + 1,
            "address_space_bytes": ADDRESS_SPACE_BYTES,
            "file_size_bytes": FILE_SIZE_BYTES,
        },
    }
    payload_path = io_dir / "payload.json"
    payload_path.write_text(json.dumps(payload))
    return _Run(
        tmp=tmp,
        work=work,
        payload_path=payload_path,
        result_path=result_path,
        stdout_path=io_dir / "stdout",
        stderr_path=io_dir / "stderr",
        result_fd=result_fd,
        nonce=nonce,
        coverage=coverage,
        argv=[sys.executable, "-I", "-S", str(HARNESS_PATH)],
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()[-OUTPUT_TAIL_CHARS:]
    except OSError:
        return ""
    return data.decode(errors="replace").strip()


def _records(run: _Run) -> list[dict[str, Any]]:
    """The harness's lines carrying this run's nonce (anything else on the fd is ignored)."""
    try:
        raw = run.result_path.read_bytes()
    except OSError as err:
        raise SandboxError(f"cannot read the sandbox result: {err}") from err
    found: list[dict[str, Any]] = []
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("nonce") == run.nonce:
            found.append(record)
    return found


def _finish(
    run: _Run, returncode: int | None, timed_out: bool, duration_s: float
) -> TestOutcome | SpectrumOutcome:
    records = _records(run)
    done = next((r for r in reversed(records) if r.get("phase") == "done"), None)
    ready = any(r.get("phase") == "ready" for r in records)
    cpu_killed = returncode is not None and returncode == -signal.SIGXCPU
    if done is None:
        if timed_out or cpu_killed:
            outcome = TestOutcome(
                passed=False,
                error_type="Timeout",
                error_message="killed at the deadline" if timed_out else "CPU time limit exceeded",
                timed_out=True,
                duration_s=duration_s,
            )
        elif ready:  # the candidate took the process down (os._exit, signal, memory)
            how = (
                f"killed by {signal.Signals(-returncode).name}"
                if returncode is not None and returncode < 0
                else f"exited with status {returncode} before reporting"
            )
            tail = _tail(run.stderr_path)
            outcome = TestOutcome(
                passed=False,
                error_type="Crash",
                error_message=f"{how}: {tail}"[:MESSAGE_CHARS] if tail else how,
                duration_s=duration_s,
            )
        else:
            raise SandboxError(
                f"the sandbox harness never started (exit {returncode}): {_tail(run.stderr_path)}"
            )
        return SpectrumOutcome(outcome) if run.coverage else outcome
    try:
        fault_line, fault_depth = (int(n) for n in done.get("fault") or (0, 0))
        if done.get("status") == "load_error":
            outcome = TestOutcome(
                passed=False,
                total=0,
                failed=0,
                error_type=str(done["error_type"]),
                error_message=str(done.get("error_message", ""))[:MESSAGE_CHARS],
                duration_s=duration_s,
                shapes=(f"load:{done['error_type']}",),
                fault_line=fault_line,
                fault_depth=fault_depth,
            )
            assertions: tuple[AssertionRecord, ...] = ()
        else:
            total, failed = int(done["total"]), int(done["failed"])
            error_type = done.get("error_type")
            outcome = TestOutcome(
                passed=failed == 0,
                total=total,
                failed=failed,
                error_type=None if error_type is None else str(error_type),
                error_message=str(done.get("error_message") or "")[:MESSAGE_CHARS],
                duration_s=duration_s,
                shapes=_ranked_shapes(done.get("shapes") or {}),
                fault_line=fault_line,
                fault_depth=fault_depth,
            )
            assertions = tuple(
                AssertionRecord(
                    index=int(index),
                    passed=bool(ok),
                    error_type=None if kind is None else str(kind),
                    lines=frozenset(int(n) for n in lines),
                )
                for index, ok, kind, lines in done.get("records", [])
            )
    except (KeyError, TypeError, ValueError) as err:
        raise SandboxError(f"the sandbox returned a malformed result: {err}") from err
    return SpectrumOutcome(outcome, assertions) if run.coverage else outcome


def _ranked_shapes(counts: dict[str, Any]) -> tuple[str, ...]:
    """Shape tokens, most frequent first (ties by name), at most ``MAX_SHAPES``."""
    ranked = sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))
    return tuple(k[:SHAPE_CHARS] for k, _ in ranked[:MAX_SHAPES])


def _spawn_kwargs(run: _Run) -> dict[str, Any]:
    return {
        "cwd": run.work,
        "env": _child_env(run.work),
        "start_new_session": True,
        "pass_fds": (run.result_fd,),
        "close_fds": True,
    }


@overload
def run_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: Literal[False] = ...
) -> TestOutcome: ...
@overload
def run_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: Literal[True]
) -> SpectrumOutcome: ...
@overload
def run_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: bool = ...
) -> TestOutcome | SpectrumOutcome: ...
def run_tests(
    problem: Problem, source: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, coverage: bool = False
) -> TestOutcome | SpectrumOutcome:
    """Run ``problem``'s tests on the program ``source`` in a fresh sandboxed subprocess.

    Args:
        problem: supplies ``test`` and ``entry_point``.
        source: the whole candidate module (prompt plus body, possibly edited).
        timeout_s: wall-clock deadline; the process group is killed at it.
        coverage: also record the per-assertion line spectrum.

    Returns:
        A :class:`TestOutcome`, or with ``coverage=True`` a :class:`SpectrumOutcome`.
        A program that does not load gives ``passed=False, total=0`` and the load
        error's type; a run killed at the deadline gives ``timed_out=True,
        error_type="Timeout"``.

    Raises:
        SandboxError: the sandbox itself failed (spawn, I/O, harness never started).
    """
    run = _prepare(problem, source, timeout_s, coverage)
    try:
        started = time.monotonic()
        timed_out = False
        try:
            with (
                run.payload_path.open("rb") as stdin,
                run.stdout_path.open("wb") as stdout,
                run.stderr_path.open("wb") as stderr,
            ):
                proc = subprocess.Popen(
                    run.argv, stdin=stdin, stdout=stdout, stderr=stderr, **_spawn_kwargs(run)
                )
        except OSError as err:
            raise SandboxError(f"cannot start the sandbox: {err}") from err
        try:
            returncode: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            returncode = proc.wait()
        _kill_group(proc.pid)  # the candidate's leftover children, if any
        return _finish(run, returncode, timed_out, time.monotonic() - started)
    finally:
        run.cleanup()


@overload
async def arun_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: Literal[False] = ...
) -> TestOutcome: ...
@overload
async def arun_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: Literal[True]
) -> SpectrumOutcome: ...
@overload
async def arun_tests(
    problem: Problem, source: str, *, timeout_s: float = ..., coverage: bool = ...
) -> TestOutcome | SpectrumOutcome: ...
async def arun_tests(
    problem: Problem, source: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, coverage: bool = False
) -> TestOutcome | SpectrumOutcome:
    """:func:`run_tests` without blocking the event loop (run several under a semaphore).

    Raises:
        SandboxError: the sandbox itself failed.
    """
    run = _prepare(problem, source, timeout_s, coverage)
    try:
        started = time.monotonic()
        timed_out = False
        try:
            with (
                run.payload_path.open("rb") as stdin,
                run.stdout_path.open("wb") as stdout,
                run.stderr_path.open("wb") as stderr,
            ):
                proc = await asyncio.create_subprocess_exec(
                    *run.argv, stdin=stdin, stdout=stdout, stderr=stderr, **_spawn_kwargs(run)
                )
        except OSError as err:
            raise SandboxError(f"cannot start the sandbox: {err}") from err
        try:
            returncode: int | None = await asyncio.wait_for(proc.wait(), timeout=timeout_s)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            returncode = await proc.wait()
        except BaseException:
            _kill_group(proc.pid)  # cancelled: never leave the child running
            raise
        _kill_group(proc.pid)
        return _finish(run, returncode, timed_out, time.monotonic() - started)
    finally:
        run.cleanup()
