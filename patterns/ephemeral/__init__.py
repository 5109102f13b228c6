"""Pattern 4: ephemeral agents with TTL and idle reaping, scale to zero, persistent vector memory."""

from __future__ import annotations

from patterns.ephemeral.accounting import EndReason, PoolAccount
from patterns.ephemeral.agent import Agent, AgentState
from patterns.ephemeral.exceptions import (
    BadResultError,
    EphemeralError,
    HandlerError,
    HandlerTimeoutError,
    InvalidSpecError,
    MemoryNotPersistedWarning,
    PoolClosedError,
    QueueFullError,
    RehydrationError,
)
from patterns.ephemeral.memory import AgentMemory, StoreMemory
from patterns.ephemeral.outcome import ItemOutcome, ItemStatus
from patterns.ephemeral.pool import AgentPool
from patterns.ephemeral.settings import EphemeralSettings
from patterns.ephemeral.spec import AgentContext, AgentSpec, Isolation, Memory
from patterns.ephemeral.trace import (
    Arrival,
    BurstyTrace,
    ReplayReport,
    VirtualTime,
    bursty_trace,
    replay,
    replay_bursty,
    trace_spec,
)

__all__ = [
    "Agent",
    "AgentContext",
    "AgentMemory",
    "AgentPool",
    "AgentSpec",
    "AgentState",
    "Arrival",
    "BadResultError",
    "BurstyTrace",
    "EndReason",
    "EphemeralError",
    "EphemeralSettings",
    "HandlerError",
    "HandlerTimeoutError",
    "InvalidSpecError",
    "Isolation",
    "ItemOutcome",
    "ItemStatus",
    "Memory",
    "MemoryNotPersistedWarning",
    "PoolAccount",
    "PoolClosedError",
    "QueueFullError",
    "RehydrationError",
    "ReplayReport",
    "StoreMemory",
    "VirtualTime",
    "bursty_trace",
    "replay",
    "replay_bursty",
    "trace_spec",
]
