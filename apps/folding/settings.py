"""Settings of the folding app: the ``folding`` group (``SWARMKIT_FOLDING__*``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Lattice(StrEnum):
    """The lattice a chain folds on."""

    SQUARE = "2d"
    CUBIC = "3d"

    @property
    def dim(self) -> int:
        """2 or 3."""
        return 2 if self is Lattice.SQUARE else 3


class FoldingSettings(BaseModel):
    """The folding swarm: its agents, their search, the budget, agreement and outputs."""

    lattice: Lattice = Field(Lattice.SQUARE, description="'2d' (square) or '3d' (cubic) lattice.")
    agents: int = Field(4, ge=1, le=64, description="Folding agents in the swarm.")
    temperatures: int = Field(
        6, ge=1, le=64, description="Replicas (temperatures) of each agent's replica exchange."
    )
    t_min: float = Field(
        0.25, gt=0, le=10, description="Coldest temperature of the ladder (energy units)."
    )
    t_max: float = Field(0.9, gt=0, le=50, description="Hottest temperature of the ladder.")
    ladder_jitter: float = Field(
        0.15,
        ge=0,
        le=0.9,
        description="Agents' ladders differ: each end is scaled by a seeded factor in 1 ± this.",
    )
    steps_per_exchange: int = Field(
        500, ge=1, le=1_000_000, description="Moves per replica between two replica exchanges."
    )
    p_local: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of end/corner/crankshaft moves; the rest are pull moves.",
    )
    budget_moves: int = Field(
        120_000_000,
        ge=1000,
        le=10**12,
        description="Monte Carlo moves per sequence for the whole swarm (split evenly over agents).",
    )
    epochs: int = Field(
        8,
        ge=1,
        le=1000,
        description="Rounds in which agents search, then publish their best to the shared document.",
    )
    restart_from_shared: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Chance per epoch that an agent behind the shared best restarts its coldest replica from it.",
    )
    pbft_replicas: int = Field(
        4, ge=4, le=31, description="PBFT replicas that re-score and agree on the final fold."
    )
    tree_fanout: int = Field(
        4, ge=2, le=64, description="Fan-out of the tree the agents' statistics merge up."
    )
    gossip_peers: int = Field(
        0, ge=0, le=256, description="Replicas of the shared best-folds document; 0: one per agent."
    )
    isolation: str = Field(
        "process",
        pattern="^(process|task)$",
        description="'process': agents run in worker processes (one core each); 'task': in this process.",
    )
    workers: int = Field(
        2, ge=1, le=256, description="Worker processes the agents run in (one core each)."
    )
    max_length: int = Field(
        200, ge=3, le=1000, description="Longest chain accepted (3D is capped at 125)."
    )
    output_dir: Path = Field(
        Path(".data/folding"), description="Where folds, pictures and curves are written."
    )

    @model_validator(mode="after")
    def _ladder(self) -> FoldingSettings:
        if self.temperatures > 1 and self.t_max <= self.t_min:
            raise ValueError(f"t_max={self.t_max} must be above t_min={self.t_min}")
        return self


class _FoldingEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    folding: FoldingSettings = Field(default_factory=FoldingSettings, description="Folding swarm.")


def get_folding_settings(**overrides: object) -> FoldingSettings:
    """Read the ``folding`` group from the environment, then apply ``overrides``.

    Raises:
        pydantic.ValidationError: a value is out of bounds (the field is named).
    """
    base = _FoldingEnv().folding
    if not overrides:
        return base
    return FoldingSettings.model_validate({**base.model_dump(), **overrides})
