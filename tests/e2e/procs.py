"""Real processes for end-to-end tests: a Prefect server, served deployments, the webhook receiver.

Each process is started with its own environment, and waited for by reading its
output for a readiness line (no fixed delays); every wait has a deadline and a
failure shows the process's last output.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process whose combined output is read line by line in the background."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.name = name
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self.p = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip())
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, marker: str, timeout_s: float) -> str:
        """Block until a line contains ``marker``; raise with the output tail on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        for line in self.lines:
            if marker in line:
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {marker!r} in {timeout_s}s:\n{self.tail()}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"{self.name} exited ({self.p.poll()}):\n{self.tail()}")
            if marker in line:
                return line

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=5)


def base_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """An offline, isolated environment for a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SWARMKIT_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    """Stop the process on the way out, whatever happened."""
    try:
        yield proc
    finally:
        proc.stop()


def poll_until(
    fn: Callable[[], T | None], timeout_s: float, interval_s: float = 0.25, what: str = ""
) -> T:
    """Call ``fn`` until it returns something other than None (an external process's state)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        value = fn()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or fn}")
        pause.wait(interval_s)


def final_run(client: Any, run_id: Any) -> Any:
    """The flow run if it reached a final state, else None (for :func:`poll_until`)."""
    fr = client.read_flow_run(run_id)
    return fr if fr.state and fr.state.is_final() else None


def answers(url: str) -> bool | None:
    """True once ``url`` answers 200, else None (for :func:`poll_until`)."""
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200 or None
    except httpx.HTTPError:
        return None


def start_prefect_server(home: Path) -> tuple[Proc, str, str]:
    """``prefect server start`` on a free port, ready; returns the process, API URL and UI URL."""
    port = free_port()
    api, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"
    prefect = str(Path(PY).with_name("prefect"))
    proc = Proc(
        "prefect-server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        base_env(home) | {"PREFECT_UI_API_URL": api},
    )
    try:
        proc.wait_for("Check out the dashboard", timeout_s=120)
        poll_until(lambda: answers(f"{api}/health"), 60, what="the Prefect server's /api/health")
    except BaseException:
        proc.stop()
        raise
    return proc, api, ui
