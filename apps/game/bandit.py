"""Personalization: a per-player contextual bandit over generator parameters (linear Thompson sampling).

The arm is a generator setting (family, difficulty, style); its context vector is
:func:`features` (one-hot family, difficulty and style with their squares, so a
favourite difficulty is a peak the linear model can fit). Each player has a Bayesian
linear regression of rating on features (ridge prior ``lambda I``); an offer draws
``theta ~ N(A^-1 b, v^2 A^-1)`` and takes the best of ``candidates`` random settings
(Agrawal & Goyal, *Thompson Sampling for Contextual Bandits with Linear Payoffs*,
ICML 2013). Ratings are stored in LanceDB memory and a model rehydrates from them.
Simulated players with hidden preferences measure it against random offers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.game.level import GeneratorKind, GenParams

KINDS = tuple(GeneratorKind)
DIM = len(KINDS) + 4  # one-hot family, difficulty, difficulty^2, style, style^2
PRIOR_LAMBDA = 1.0
PRIOR_MEAN_STARS = 3.0  # ratings are centred on this before fitting


def features(kind: GeneratorKind, difficulty: float, style: float) -> NDArray[np.float64]:
    """The context vector of one generator setting (difficulty as measured when known)."""
    x = np.zeros(DIM)
    x[KINDS.index(kind)] = 1.0
    d, s = float(difficulty), float(style)
    x[len(KINDS) :] = (d, d * d, s, s * s)
    return x


@dataclass
class PlayerModel:
    """One player's posterior over rating = theta . features + noise."""

    player: str
    noise: float = 0.8
    a: NDArray[np.float64] = field(default_factory=lambda: PRIOR_LAMBDA * np.eye(DIM))
    b: NDArray[np.float64] = field(default_factory=lambda: np.zeros(DIM))
    n: int = 0

    def update(self, x: NDArray[np.float64], stars: float) -> None:
        """Add one observed rating of a level with features ``x``."""
        self.a += np.outer(x, x)
        self.b += (stars - PRIOR_MEAN_STARS) * x
        self.n += 1

    def mean(self) -> NDArray[np.float64]:
        """Posterior mean of theta."""
        return np.asarray(np.linalg.solve(self.a, self.b), dtype=np.float64)

    def sample(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """One draw of theta from the posterior."""
        cov = self.noise**2 * np.linalg.inv(self.a)
        draw = rng.multivariate_normal(self.mean(), (cov + cov.T) / 2)
        return np.asarray(draw, dtype=np.float64)

    @classmethod
    def from_ratings(
        cls, player: str, rows: Sequence[dict[str, Any]], noise: float = 0.8
    ) -> PlayerModel:
        """Rebuild a model from stored ratings (rows with ``features`` and ``stars``)."""
        model = cls(player, noise)
        for row in rows:
            x = np.asarray(row["features"], dtype=np.float64)
            if x.shape == (DIM,) and np.isfinite(x).all():
                model.update(x, float(row["stars"]))
        return model


def random_setting(rng: np.random.Generator, width: int, height: int) -> GenParams:
    """A uniformly random generator setting."""
    return GenParams(
        kind=KINDS[int(rng.integers(len(KINDS)))],
        width=width,
        height=height,
        difficulty=float(rng.uniform(0.0, 1.0)),
        style=float(rng.uniform(0.0, 1.0)),
    )


def choose(
    model: PlayerModel, rng: np.random.Generator, candidates: int, width: int, height: int
) -> GenParams:
    """Thompson sampling: the candidate setting with the best sampled expected rating."""
    theta = model.sample(rng)
    options = [random_setting(rng, width, height) for _ in range(candidates)]
    scores = [float(theta @ features(o.kind, o.difficulty, o.style)) for o in options]
    return options[int(np.argmax(scores))]


@dataclass(frozen=True, slots=True)
class HiddenPreference:
    """A simulated player's taste (never shown to the bandit).

    Attributes:
        kind: the favourite generator family.
        difficulty: the favourite measured difficulty.
        style: the favourite style.
        noise: standard deviation of the rating noise, stars.
    """

    kind: GeneratorKind
    difficulty: float
    style: float
    noise: float = 0.5

    @classmethod
    def draw(cls, rng: np.random.Generator) -> HiddenPreference:
        """A random taste."""
        return cls(
            kind=KINDS[int(rng.integers(len(KINDS)))],
            difficulty=float(rng.uniform(0.15, 0.85)),
            style=float(rng.uniform(0.0, 1.0)),
        )

    def utility(self, kind: GeneratorKind, difficulty: float, style: float) -> float:
        """How much the player likes a level, 0..1."""
        k = 1.0 if kind == self.kind else 0.25
        d = math.exp(-(((difficulty - self.difficulty) / 0.18) ** 2))
        s = math.exp(-(((style - self.style) / 0.35) ** 2))
        return 0.4 * k + 0.4 * d + 0.2 * s

    def rate(
        self, kind: GeneratorKind, difficulty: float, style: float, rng: np.random.Generator
    ) -> int:
        """Stars 1..5 for a level played."""
        u = self.utility(kind, difficulty, style)
        return int(np.clip(round(1 + 4 * u + rng.normal(0.0, self.noise)), 1, 5))
