"""The personalization experiment: simulated players with hidden tastes, bandit offers vs random.

Every session each player is offered ``per_session`` levels, plays (the level is really
generated and solved, so its *measured* difficulty is what the player feels) and rates
them. With the bandit policy the player's model is rebuilt from the ratings stored in
memory at the start of each session, then updated as ratings come in; the random
policy offers uniformly random settings. ``gain`` is the mean rating of the last
session over the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from apps.game.bandit import HiddenPreference, PlayerModel, choose, features, random_setting
from apps.game.generators import generate
from apps.game.memory import GameMemory
from apps.game.solver import solve

Policy = Literal["bandit", "random"]


@dataclass
class PersonalizationReport:
    """Mean stars per session and the gain (last session over first)."""

    policy: str
    players: int
    sessions: int
    per_session: int
    session_means: list[float] = field(default_factory=list)

    @property
    def gain(self) -> float:
        """Mean rating of the last session divided by the first's."""
        return self.session_means[-1] / self.session_means[0] if self.session_means else 1.0


def run_personalization(
    policy: Policy = "bandit",
    *,
    players: int = 12,
    sessions: int = 6,
    per_session: int = 5,
    seed: int = 0,
    memory: GameMemory | None = None,
    candidates: int = 24,
    noise: float = 0.8,
    size: tuple[int, int] = (20, 14),
    progress: Callable[[], None] | None = None,
) -> PersonalizationReport:
    """Run the experiment; ratings go to ``memory`` (if given) under ``sim-<seed>-<i>`` players."""
    if policy not in ("bandit", "random"):
        raise ValueError(f"policy must be 'bandit' or 'random', got {policy!r}")
    rng = np.random.default_rng(seed)
    tastes = [HiddenPreference.draw(rng) for _ in range(players)]
    names = [f"sim-{seed}-{policy}-{i}" for i in range(players)]
    models = {n: PlayerModel(n, noise) for n in names}
    report = PersonalizationReport(policy, players, sessions, per_session)
    w, h = size
    for _ in range(sessions):
        stars_all: list[int] = []
        for name, taste in zip(names, tastes, strict=True):
            if memory is not None and policy == "bandit":
                models[name] = PlayerModel.from_ratings(name, memory.ratings(name), noise)
            model = models[name]
            rows = []
            for _ in range(per_session):
                if policy == "bandit":
                    params = choose(model, rng, candidates, w, h)
                else:
                    params = random_setting(rng, w, h)
                level = generate(params, int(rng.integers(2**31)), author="bandit")
                measured = solve(level.grid).difficulty
                stars = taste.rate(params.kind, measured, params.style, rng)
                x = features(params.kind, measured, params.style)
                model.update(x, stars)
                stars_all.append(stars)
                rows.append({"level": level.level_id, "stars": stars, "features": x.tolist()})
            if memory is not None:
                memory.add_ratings(name, rows)
            if progress is not None:
                progress()
        report.session_means.append(float(np.mean(stars_all)))
    return report
