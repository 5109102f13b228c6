"""The command line: outputs land where asked, bad input is one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.causal.__main__ import main


def test_simulate_creates_the_output_directory(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "m.csv"
    assert main(["simulate", "--series", "3", "--steps", "200", "--out", str(out)]) == 0
    assert out.read_text().startswith("t,A00,A01,A02\n")
    assert out.with_suffix(".truth.txt").read_text().startswith("first hit: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "10"], "n_steps=10 is too short"),
        (["--series", "1"], "n_series must be in 2..200, got 1"),
        (["--out", "{t}"], "is a directory; give a CSV file path"),
    ],
)
def test_bad_simulate_arguments_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    args = [a.format(t=tmp_path) for a in argv]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "m.csv")]
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "m.csv").exists()


def test_a_negative_seed_is_refused_when_parsed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--seed", "-3"])
    assert exc.value.code == 2
    assert "--seed: must be at least 0, got -3" in capsys.readouterr().err


def test_analyze_checks_the_output_directory_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "m.csv"
    assert main(["simulate", "--series", "3", "--steps", "200", "--out", str(data)]) == 0
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    capsys.readouterr()
    assert main(["analyze", str(data), "--out-dir", str(blocker)]) == 2
    captured = capsys.readouterr()
    assert f"--out-dir {blocker}: cannot create it" in captured.err
    assert "calibrat" not in captured.err  # refused before any work
