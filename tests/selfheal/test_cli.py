"""The command line: run and judge scenario files, bad files get exit status 2 and a message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apps.k8s.settings import SCENARIOS_DIR
from apps.selfheal.__main__ import main


def test_run_heals_a_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = shutil.copy(SCENARIOS_DIR / "bad-image-tag.yaml", tmp_path / "bad-image-tag.yaml")
    assert main(["run", "--scenario", str(src), "--memory", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "healed" in out and "rollout undo deployment/checkout" in out


def test_judge_a_folder_of_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("service-selector-mismatch", "kube-system-crashloop"):
        shutil.copy(SCENARIOS_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    assert main(["judge", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "healed  kube-system-crashloop" in out and "heal_rate=1.0" in out


def test_bad_files_exit_2_with_the_field_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\ntitle: t\n")
    (tmp_path / "worse.yaml").write_text("name: worse\n")
    shutil.copy(SCENARIOS_DIR / "bad-image-tag.yaml", tmp_path / "bad-image-tag.yaml")
    assert main(["judge", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "worse.yaml" in err  # every bad file, not the first only
    assert "2 of 3 scenario files are invalid" in err
    (tmp_path / "worse.yaml").unlink()
    assert main(["run", "--scenario", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read scenario" in capsys.readouterr().err
    assert main(["judge", "--dir", str(tmp_path / "empty")]) == 2
