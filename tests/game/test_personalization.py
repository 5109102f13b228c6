"""The per-player bandit lifts ratings of simulated players above random offers; ratings live in memory."""

from __future__ import annotations

from pathlib import Path

from apps.game.bandit import PlayerModel
from apps.game.memory import GameMemory
from apps.game.personalize import run_personalization


def test_bandit_beats_random_and_rehydrates_from_memory(tmp_path: Path) -> None:
    memory = GameMemory(tmp_path / "mem")
    try:
        bandit = run_personalization(
            "bandit", players=8, sessions=5, per_session=5, seed=2, memory=memory
        )
        rand = run_personalization("random", players=8, sessions=5, per_session=5, seed=2)
        assert bandit.gain >= 1.15, bandit.session_means
        assert 0.8 <= rand.gain <= 1.2, rand.session_means
        assert bandit.session_means[-1] > rand.session_means[-1]
        rows = memory.ratings("sim-2-bandit-0")
        assert len(rows) == 5 * 5
        model = PlayerModel.from_ratings("sim-2-bandit-0", rows)
        assert model.n == 25
    finally:
        memory.close()
