"""The game flow under Prefect, its tasks through ``.fn``, and the settings group."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.game.exceptions import ParameterError
from apps.game.settings import GameSettings, get_game_settings
from flows.game import game
from tasks.game import generate_levels, quality_vote


def test_flow_runs_and_keeps_bad_content_out(tmp_path: Path) -> None:
    out = game(
        peers=3,
        levels_per_peer=2,
        bad_proposals=8,
        sim_peers=6,
        quic_peers=0,
        players=3,
        sessions=2,
        data_dir=str(tmp_path),
    )
    assert out["accepted"] >= 4 and out["bad_content_accepted"] == 0
    assert out["partition_converged"]
    assert (tmp_path / "levels.png").stat().st_size > 5_000


def test_tasks_fn_vote_on_generated_levels(tmp_path: Path) -> None:
    settings = GameSettings()
    proposals, per_s = generate_levels.fn(2, 2, 1, settings)
    assert len(proposals) == 4 and per_s > 0
    rows = quality_vote.fn(proposals, settings, str(tmp_path / "m"), {"size": "reject-all"})
    assert len(rows) == 4
    assert all(r["verdict"]["approvals"] <= 4 for r in rows)  # the liar never approves


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_GAME__PORT", "9123")
    monkeypatch.setenv("SWARMKIT_GAME__HOST", "0.0.0.0")
    monkeypatch.setenv("SWARMKIT_GAME__DATA_DIR", "/tmp/x")
    s = get_game_settings()
    assert (s.port, s.host, str(s.data_dir)) == (9123, "0.0.0.0", "/tmp/x")
    monkeypatch.setenv("SWARMKIT_GAME__PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        get_game_settings()


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"peers": -2}, "peers"),
        ({"sim_peers": 1}, "sim_peers"),
        ({"players": 0}, "players"),
        ({"sessions": 1}, "sessions"),
        ({"seed": -5}, "seed"),
        ({"bad_proposals": -1}, "bad_proposals"),
        ({"dishonest_voter": "bogus"}, "dishonest_voter 'bogus'"),
    ],
)
def test_flow_refuses_bad_arguments_before_any_work(
    tmp_path: Path, change: dict[str, object], name: str
) -> None:
    with pytest.raises(ParameterError, match=name):
        game(**{"quic_peers": 0, "data_dir": str(tmp_path / "out"), **change})  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()  # refused before anything was written
