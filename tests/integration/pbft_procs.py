"""PBFT replicas as OS processes (``python -m patterns.byzantine serve``), for tests and the bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from patterns.byzantine.service import commit
from patterns.byzantine.state_machine import Put, encode_op

ROOT = Path(__file__).resolve().parents[2]
COMMIT_DEADLINE_S = 30.0  # a liveness bound for one commit, not a speed target


class Replicas:
    """One OS process per replica of a cluster directory."""

    def __init__(self, directory: Path, ids: list[int]) -> None:
        self.directory = directory
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.logs = directory / "logs"
        self.logs.mkdir(exist_ok=True)
        for rid in ids:
            self.start(rid)

    def start(self, rid: int) -> None:
        log = (self.logs / f"replica-{rid}.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs[rid] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "patterns.byzantine",
                "serve",
                str(self.directory / "cluster.json"),
                "--replicas",
                str(rid),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self, rid: int) -> None:
        proc = self.procs.pop(rid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait(timeout=10)
        self.procs.clear()

    def tail(self) -> str:
        out = []
        for p in sorted(self.logs.glob("*.log")):
            lines = p.read_text(errors="replace").splitlines()[-15:]
            out.append(f"--- {p.name}\n" + "\n".join(lines))
        return "\n".join(out)


def put(replicas: Replicas, key: str, value: str, deadline_s: float = COMMIT_DEADLINE_S) -> float:
    """Commit one write through a fresh client; return how long it took (seconds)."""
    start = time.monotonic()
    try:
        report = commit(
            [encode_op(Put(key, value))],
            cluster_file=replicas.directory / "cluster.json",
            timeout_s=deadline_s,
        )
    except Exception as err:
        raise AssertionError(f"commit of {key} failed: {err}\n{replicas.tail()}") from err
    assert report.verify(), report
    return time.monotonic() - start
