"""Settings of the game: the ``game`` group (``SWARMKIT_GAME__*``): server, limits, vote, players."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from apps.game.exceptions import ParameterError


class GameSettings(BaseModel):
    """The game server, the content limits and the quality vote."""

    host: str = Field("127.0.0.1", min_length=1, max_length=255, description="Web server host.")
    port: int = Field(8765, ge=0, le=65535, description="Web server port (0: a free one).")
    data_dir: Path = Field(
        Path(".data/game"),
        description="Directory of the LanceDB memory (levels, ratings) and the saved world.",
    )
    room: str = Field(
        "world",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Name of the shared world document (the websocket room).",
    )
    gossip_peers: int = Field(
        3,
        ge=0,
        le=64,
        description="Python gossip peers (pattern 3 over QUIC on loopback) the server runs and "
        "bridges to the websocket room; 0: browsers only.",
    )
    max_side: int = Field(48, ge=8, le=256, description="Largest width or height accepted, tiles.")
    max_hazard_share: float = Field(
        0.2, ge=0, le=1, description="Largest share of walkable tiles that may be hazards."
    )
    min_solution_steps: int = Field(
        6, ge=1, le=10_000, description="Shortest solution accepted (trivial levels are refused)."
    )
    difficulty_band: float = Field(
        0.25, gt=0, le=1, description="Accepted distance between requested and measured difficulty."
    )
    max_similarity: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Novelty: a level whose embedding is this similar (cosine) to an accepted "
        "one is not new.",
    )
    width: int = Field(24, ge=8, le=256, description="Width of generated levels, tiles.")
    height: int = Field(16, ge=8, le=256, description="Height of generated levels, tiles.")
    bandit_candidates: int = Field(
        24, ge=2, le=1000, description="Generator settings the bandit scores per offer."
    )
    bandit_noise: float = Field(
        0.8, gt=0, le=10, description="Thompson sampling: rating noise scale of the posterior."
    )

    @model_validator(mode="after")
    def _levels_fit(self) -> Self:
        """Generated levels must pass the size gate, or every level would be refused."""
        for name in ("width", "height"):
            if getattr(self, name) > self.max_side:
                raise ValueError(
                    f"{name} {getattr(self, name)} is larger than max_side {self.max_side}: "
                    "every generated level would be refused"
                )
        return self


class _GameEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    game: GameSettings = Field(default_factory=GameSettings, description="Game.")


def get_game_settings() -> GameSettings:
    """Read the ``game`` group from the environment (``SWARMKIT_GAME__PORT=8080`` ...)."""
    return _GameEnv().game


def check_run_args(
    *,
    peers: int,
    levels_per_peer: int,
    bad_proposals: int,
    dishonest_voter: str | None,
    voters: tuple[str, ...],
    sim_peers: int,
    quic_peers: int,
    players: int,
    sessions: int,
    seed: int,
) -> None:
    """Check the demo flow's arguments before any work; raises :class:`ParameterError` naming one."""
    for name, value, lo in (
        ("peers", peers, 0),
        ("levels_per_peer", levels_per_peer, 0),
        ("bad_proposals", bad_proposals, 0),
        ("sim_peers", sim_peers, 2),  # the partition splits them in halves
        ("quic_peers", quic_peers, 0),
        ("players", players, 1),
        ("sessions", sessions, 2),  # the gain is the last session over the first
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {value!r}")
    if seed >= 2**63:
        raise ParameterError(f"seed must be below 2**63, got {seed}")
    if dishonest_voter is not None and dishonest_voter not in voters:
        raise ParameterError(f"dishonest_voter {dishonest_voter!r} is not one of {list(voters)}")
