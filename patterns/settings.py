"""Project settings: every pattern's pydantic group under one env prefix.

Every field is described and bounded. Environment variables use the prefix
``SWARMKIT_`` and ``__`` between a group and its field, for example
``SWARMKIT_QUIC__CONNECT_TIMEOUT_S=2.5`` or ``SWARMKIT_GOSSIP__FANOUT=4``.
This module sits above the patterns (it imports each one's settings group);
the kernel's own groups live in :mod:`patterns.core.settings`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from patterns.byzantine.settings import ByzantineSettings
from patterns.codegen.bank.settings import BankSettings
from patterns.consensus_router.settings import RouterSettings
from patterns.core.settings import ENV_PREFIX, QuicSettings, SimSettings, WireSettings
from patterns.ephemeral.settings import EphemeralSettings
from patterns.gossip.settings import GossipSettings
from patterns.memory.settings import MemorySettings


class Settings(BaseSettings):
    """All settings of the project, by group."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    wire: WireSettings = Field(default_factory=WireSettings, description="Wire codec.")
    quic: QuicSettings = Field(default_factory=QuicSettings, description="QUIC runtime.")
    sim: SimSettings = Field(default_factory=SimSettings, description="Simulator.")
    memory: MemorySettings = Field(default_factory=MemorySettings, description="Vector memory.")
    gossip: GossipSettings = Field(
        default_factory=GossipSettings, description="Gossip replication."
    )
    byzantine: ByzantineSettings = Field(
        default_factory=ByzantineSettings, description="PBFT replicas and clients."
    )
    router: RouterSettings = Field(
        default_factory=RouterSettings, description="Multi-model consensus router."
    )
    ephemeral: EphemeralSettings = Field(
        default_factory=EphemeralSettings, description="Ephemeral agent pools."
    )
    bank: BankSettings = Field(
        default_factory=BankSettings, description="Reasoning bank of the code generation pattern."
    )


def get_settings() -> Settings:
    """Read settings from the environment (fresh each call)."""
    return Settings()
