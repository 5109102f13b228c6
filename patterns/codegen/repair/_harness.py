"""Child side of the test sandbox: runs one candidate program against one problem's tests.

Started by :mod:`patterns.codegen.repair.sandbox` as ``python -I -S _harness.py`` in a
fresh empty directory, it imports nothing but the standard library. It reads a JSON
payload from stdin, limits its own resources (before any candidate code runs, so
the limits cover everything the candidate does), replaces the socket constructors
with a function that raises, loads the candidate, runs the (rewritten) ``check``
and writes JSON lines carrying the parent's nonce to a file descriptor the parent
passed (never stdout, which the candidate owns): ``{"phase": "ready"}`` just before
the candidate's code first runs, then ``{"phase": "done", ...}``.

The network guard is a Python-level guard, not a kernel sandbox: code that reaches
``os.system`` or ctypes can still do anything the user running the sandbox can.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

CANDIDATE_FILE = "<candidate>"
CHECK_FILE = "<check>"
MAX_RECORDS = 5000  # per-assertion records kept (totals keep counting beyond)
MESSAGE_CHARS = 300
NETWORK_MESSAGE = "network access is disabled in the sandbox"


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    """Lower one resource limit, never above the current hard limit."""
    try:
        _cur_soft, cur_hard = resource.getrlimit(kind)
        want_hard = soft if hard is None else hard
        if cur_hard != resource.RLIM_INFINITY:
            soft, want_hard = min(soft, cur_hard), min(want_hard, cur_hard)
        resource.setrlimit(kind, (soft, want_hard))
    except (ValueError, OSError):
        pass


def _set_limits(limits: dict[str, int]) -> None:
    _limit(resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1)
    _limit(resource.RLIMIT_AS, limits["address_space_bytes"])
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, limits["file_size_bytes"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead


def _install_network_guard() -> None:
    """Replace every way to make a socket or resolve a name with a raising function."""
    import _socket
    import socket

    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise PermissionError(NETWORK_MESSAGE)

    for module in (socket, _socket):
        for name in (
            "socket",
            "SocketType",
            "create_connection",
            "create_server",
            "socketpair",
            "fromfd",
            "getaddrinfo",
            "gethostbyname",
            "gethostbyname_ex",
            "gethostbyaddr",
            "getnameinfo",
        ):
            if hasattr(module, name):
                setattr(module, name, refuse)


class _Tracer:
    """Lines of the candidate executed since the last assertion (``sys.settrace``)."""

    def __init__(self) -> None:
        self.lines: set[int] = set()

    def global_trace(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        if frame.f_code.co_filename == CANDIDATE_FILE:
            return self.local_trace
        return None

    def local_trace(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        if event == "line":
            self.lines.add(frame.f_lineno)
        return self.local_trace

    def take(self) -> list[int]:
        lines = sorted(self.lines)
        self.lines = set()
        return lines


def _describe(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc)[:MESSAGE_CHARS]


def traceback_shape(exc: BaseException) -> tuple[int, int]:
    """(innermost candidate line, candidate frames on the stack) of an exception; (0, 0): none."""
    line = depth = 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_FILE:
            line = tb.tb_lineno
            depth += 1
        tb = tb.tb_next
    return line, depth


def _number_shape(actual: float, expected: float) -> list[str]:
    diff = actual - expected
    out = ["num:too-high" if diff > 0 else "num:too-low"]
    if abs(diff) == 1:
        out.append("num:off-by-one")
    elif expected != 0 and actual == -expected:
        out.append("num:negated")
    elif actual == 0:
        out.append("num:zero-for-nonzero")
    elif expected == 0:
        out.append("num:nonzero-for-zero")
    elif abs(diff) <= 0.1 * abs(expected):
        out.append("num:close")
    elif expected != 0 and (actual / expected in (2, 0.5)):
        out.append("num:factor-2")
    else:
        out.append("num:far")
    return out


def _sequence_shape(actual: Any, expected: Any) -> list[str]:
    la, le = len(actual), len(expected)
    a, e = list(actual), list(expected)
    out: list[str] = []
    if la == 0:
        return ["seq:empty-for-nonempty"]
    if le == 0:
        return ["seq:nonempty-for-empty"]
    if la == le:
        if a == e[::-1]:
            out.append("seq:reversed")
        else:
            with contextlib.suppress(TypeError):
                if sorted(a) == sorted(e):
                    out.append("seq:permuted")
            differing = [(x, y) for x, y in zip(a, e, strict=True) if x != y]
            if len(differing) == 1:
                out.append("seq:one-item-differs")
            elif all(
                isinstance(x, int | float) and isinstance(y, int | float) and abs(x - y) == 1
                for x, y in differing
            ):
                out.append("seq:items-off-by-one")
            if not out:
                out.append("seq:same-length")
    else:
        out.append(
            "seq:one-extra"
            if la == le + 1
            else "seq:one-missing"
            if la == le - 1
            else ("seq:longer" if la > le else "seq:shorter")
        )
        if la < le and (e[:la] == a or e[le - la :] == a):
            out.append("seq:part-of-expected")
        elif la > le and (a[:le] == e or a[la - le :] == e):
            out.append("seq:contains-expected")
    return out


def failure_shape(actual: object, expected: object) -> list[str]:
    """How a returned value differs from the expected one, as a few generic tokens.

    ``bool:inverted``, ``none-returned``, ``type:<got>-for-<expected>``, numbers
    (``num:too-high``/``num:too-low`` plus ``num:off-by-one``, ``num:negated``,
    ``num:close``...), sequences and strings (``seq:reversed``, ``seq:permuted``,
    ``seq:one-extra``, ``seq:empty-for-nonempty``...), ``dict:...`` and ``other``.
    Never raises.
    """
    try:
        if isinstance(expected, bool) and isinstance(actual, bool):
            return ["bool:inverted"]
        if actual is None and expected is not None:
            return ["none-returned"]
        number = (int, float)
        if isinstance(actual, number) and isinstance(expected, number):
            if isinstance(actual, bool) or isinstance(expected, bool):
                return [f"type:{type(actual).__name__}-for-{type(expected).__name__}"]
            shape = _number_shape(float(actual), float(expected))
            if type(actual) is not type(expected):
                shape.append(f"type:{type(actual).__name__}-for-{type(expected).__name__}")
            return shape
        if type(actual) is not type(expected):
            return [f"type:{type(actual).__name__}-for-{type(expected).__name__}"]
        if isinstance(expected, str | list | tuple):
            prefix = "str:" if isinstance(expected, str) else ""
            return [prefix + s for s in _sequence_shape(actual, expected)]
        if isinstance(expected, dict) and isinstance(actual, dict):
            if set(actual) == set(expected):
                return ["dict:values-differ"]
            return ["dict:keys-differ"]
        if isinstance(expected, set | frozenset) and isinstance(actual, set | frozenset):
            return [
                "set:superset"
                if actual > expected
                else "set:subset"
                if actual < expected
                else "set:differs"
            ]
    except Exception:
        return ["other"]
    return ["other"]


class _Recorder:
    """Counts assertions; the rewritten ``check`` calls it instead of asserting."""

    def __init__(self, texts: list[str], tracer: _Tracer | None) -> None:
        self.texts = texts
        self.tracer = tracer
        self.total = 0
        self.failed = 0
        self.first: tuple[str, str] | None = None
        self.records: list[list[Any]] = []
        self.shapes: dict[str, int] = {}  # failure shape -> failing assertions showing it
        self.fault: tuple[int, int] = (0, 0)  # first exception's (candidate line, depth)

    def _shape(self, tokens: list[str]) -> None:
        for token in tokens:
            self.shapes[token] = self.shapes.get(token, 0) + 1

    def _exception(self, exc: BaseException) -> tuple[str, str]:
        kind = type(exc).__name__
        self._shape([f"raised:{kind}"])
        if self.fault == (0, 0):
            self.fault = traceback_shape(exc)
        return _describe(exc)

    def _add(self, index: int, ok: bool, failure: tuple[str, str] | None) -> None:
        lines = self.tracer.take() if self.tracer is not None else []
        self.total += 1
        if not ok:
            self.failed += 1
            if self.first is None and failure is not None:
                self.first = failure
        if len(self.records) < MAX_RECORDS:
            self.records.append([index, ok, None if failure is None else failure[0], lines])

    def _failed_assert(self, index: int) -> tuple[str, str]:
        text = self.texts[index] if 0 <= index < len(self.texts) else "assert"
        return ("AssertionError", f"assert {text}"[:MESSAGE_CHARS])

    def check(self, index: int, value: object) -> None:
        try:
            ok = bool(value)
        except Exception as exc:
            self._add(index, False, self._exception(exc))
            return
        if not ok:
            self._shape(["assert:falsy"])
        self._add(index, ok, None if ok else self._failed_assert(index))

    def equal(self, index: int, left: object, right: object, swapped: bool) -> None:
        """``assert left == right``; on failure, the shape of actual against expected."""
        try:
            ok = bool(left == right)
        except Exception as exc:
            self._add(index, False, self._exception(exc))
            return
        if not ok:
            actual, expected = (right, left) if swapped else (left, right)
            self._shape(failure_shape(actual, expected))
        self._add(index, ok, None if ok else self._failed_assert(index))

    def raised(self, index: int, exc: BaseException) -> None:
        self._add(index, False, self._exception(exc))

    def outside(self, exc: BaseException) -> None:
        """An exception outside any assertion stopped ``check``: one more failed test."""
        self._add(-1, False, self._exception(exc))


def main() -> None:
    payload = json.loads(sys.stdin.buffer.read().decode())
    dumps, write, fd, nonce = json.dumps, os.write, int(payload["result_fd"]), payload["nonce"]
    exit_now = os._exit

    def emit(record: dict[str, Any]) -> None:
        record["nonce"] = nonce
        data = (dumps(record) + "\n").encode()
        while data:
            data = data[write(fd, data) :]

    def finish(record: dict[str, Any]) -> None:
        sys.settrace(None)
        record["phase"] = "done"
        emit(record)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        exit_now(0)  # no atexit handlers, no waiting for the candidate's threads

    _set_limits(payload["limits"])
    _install_network_guard()
    coverage = bool(payload["coverage"])
    tracer = _Tracer() if coverage else None
    recorder = _Recorder(list(payload["assert_texts"]), tracer)
    namespace: dict[str, Any] = {"__name__": "candidate", "__builtins__": __builtins__}
    emit({"phase": "ready"})
    try:
        code = compile(payload["source"], CANDIDATE_FILE, "exec")
        exec(code, namespace)
        entry = payload["entry_point"]
        if entry not in namespace:
            raise NameError(f"name {entry!r} is not defined")
        candidate = namespace[entry]
        test_namespace = dict(namespace)  # the candidate's globals never see the recorder
        test_namespace["__sk_rec__"] = recorder
        exec(compile(payload["test"], CHECK_FILE, "exec"), test_namespace)
        check = test_namespace["check"]
    except BaseException as exc:
        kind, message = _describe(exc)
        finish(
            {
                "status": "load_error",
                "error_type": kind,
                "error_message": message,
                "fault": list(traceback_shape(exc)),
            }
        )
        return
    if tracer is not None:
        sys.settrace(tracer.global_trace)
    try:
        check(candidate)
        if not payload["counted"]:
            recorder.check(0, True)
    except BaseException as exc:
        sys.settrace(None)
        if payload["counted"]:
            recorder.outside(exc)
        else:
            recorder.raised(0, exc)
    sys.settrace(None)
    first_type: str | None = None
    first_message = ""
    if recorder.first is not None:
        first_type, first_message = recorder.first
    finish(
        {
            "status": "ok",
            "total": recorder.total,
            "failed": recorder.failed,
            "error_type": first_type,
            "error_message": first_message,
            "records": recorder.records if coverage else [],
            "shapes": recorder.shapes,
            "fault": list(recorder.fault),
        }
    )


if __name__ == "__main__":
    main()
