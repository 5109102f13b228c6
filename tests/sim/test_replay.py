"""A failing seeded test prints its seed and a command that replays exactly that seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAILING = """
import pytest

@pytest.mark.seeds(6)
def test_fails_on_seed_four(sim_seed):
    assert sim_seed != 4
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SWARMKIT_TEST_PREFECT_HARNESS": "0",
        "SWARMKIT_TEST_SEED_SCALE": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_failure_prints_seed_and_replay_runs_only_that_seed(tmp_path: Path) -> None:
    (tmp_path / "test_seeded.py").write_text(FAILING)
    first = _pytest(tmp_path, "test_seeded.py")
    assert first.returncode == 1, first.stdout
    assert "1 failed, 5 passed" in first.stdout
    assert (
        "seed=4; replay with: make replay TEST='test_seeded.py::test_fails_on_seed_four' SEED=4"
        in first.stdout
    )

    replay = _pytest(tmp_path, "test_seeded.py::test_fails_on_seed_four", "--seed=4")
    assert replay.returncode == 1 and "1 failed" in replay.stdout and "passed" not in replay.stdout
    other = _pytest(tmp_path, "test_seeded.py::test_fails_on_seed_four", "--seed=2")
    assert other.returncode == 0 and "1 passed" in other.stdout
