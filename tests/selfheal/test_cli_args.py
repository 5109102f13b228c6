"""The command line refuses bad arguments and settings in one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.selfheal.__main__ import main
from apps.selfheal.settings import ACTION_KINDS, SelfHealSettings


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--scenario", "missing-env-var", "--seed", "-1"], "--seed: must be at least 0"),
        (["run", "--scenario", "missing-env-var", "--horizon", "-5"], "--horizon: must be"),
        (["run", "--scenario", "missing-env-var", "--horizon", "nan"], "--horizon: must be"),
        (["run", "--scenario", "missing-env-var", "--max-incidents", "0"], "--max-incidents"),
        (["judge", "--scenario", "missing-env-var", "--seed", "-2"], "--seed: must be at least 0"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_judge_names_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["judge", "--dir", str(tmp_path / "nowhere")]) == 2
    assert f"--dir {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    (tmp_path / "f.yaml").write_text("name: x\n")
    assert main(["judge", "--dir", str(tmp_path / "f.yaml")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_allowed_actions_are_checked_against_the_action_types() -> None:
    assert SelfHealSettings(allowed_actions=["rollout_undo", "scale"]).allowed_actions == [
        "rollout_undo",
        "scale",
    ]
    assert set(SelfHealSettings().allowed_actions) <= set(ACTION_KINDS)
    with pytest.raises(ValueError, match=r"'rollout_undoo'; known: rollout_undo, restart"):
        SelfHealSettings(allowed_actions=["rollout_undoo"])
