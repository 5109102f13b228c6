"""The command line: files named after the sequence, bad input refused before folding."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.folding.__main__ import main
from apps.folding.sequence import sequence_name

FAST = ["--budget", "3000", "--epochs", "1", "--agents", "1"]


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_FOLDING__ISOLATION", "task")


def test_two_sequences_into_one_directory_keep_both(tmp_path: Path) -> None:
    a, b = "HPHPPHHPHPPHPHHPPHPH", "HHPPHPPHPPHPPHPPHPPHPPHHPHPP"
    assert main(["fold", "--sequence", a, "--out", str(tmp_path), *FAST]) == 0
    assert main(["fold", "--sequence", b, "--out", str(tmp_path), *FAST]) == 0
    jsons = sorted(p.name for p in tmp_path.glob("*.json"))
    assert jsons == sorted([f"{a}-2d.json", f"{sequence_name(b)}-2d.json"])
    assert a in (tmp_path / f"{a}-2d.json").read_text()
    assert b in (tmp_path / f"{sequence_name(b)}-2d.json").read_text()
    assert main(["fold", "--sequence", a, "--name", "mine", "--out", str(tmp_path), *FAST]) == 0
    assert (tmp_path / "mine-2d.json").exists()


def test_long_sequences_get_distinct_short_names() -> None:
    x, y = "H" * 30 + "P" * 30, "H" * 30 + "P" * 29 + "H"
    assert sequence_name(x) != sequence_name(y) and len(sequence_name(x)) == 25
    assert sequence_name("hp ph") == "HPPH"


def test_an_output_path_that_is_a_file_is_refused_before_folding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["fold", "--sequence", "HPHPPHHPHPPHPHHPPHPH", "--out", str(afile), *FAST]) == 2
    captured = capsys.readouterr()
    assert f"--out {afile} is a file" in captured.err and "epoch" not in captured.err
    assert afile.read_text() == "x"


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--agents", "0"], "error: --agents=0: Input should be greater than or equal to 1")],
)
def test_bad_options_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["fold", "--sequence", "HPPH", "--out", str(tmp_path), *extra]) == 2
    assert capsys.readouterr().err.startswith(message)
