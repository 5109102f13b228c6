"""The README's self-healing examples run as written (from the repo root, under the test harness)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("## App 11: the self-healing Kubernetes loop")
    end = text.index("\n## ", start + 10)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_python_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _blocks()[index]
    monkeypatch.chdir(ROOT)
    code = code.replace(".data/selfheal-example", str(tmp_path / "memory"))
    namespace: dict[str, object] = {}
    exec(compile(code, f"README.md[selfheal block {index}]", "exec"), namespace)
    assert (tmp_path / "memory" / "trajectories.jsonl").exists()
    assert os.getcwd() == str(ROOT)
