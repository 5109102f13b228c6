"""Resource accounting of a pool: agent-seconds, peak, spawns and reaps, and the always-on baseline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EndReason(StrEnum):
    """Why an agent ended."""

    IDLE = "idle"  # idle for max_idle_s
    TTL = "ttl"  # lived ttl_s
    CRASHED = "crashed"  # its handler raised or hung
    CLOSED = "closed"  # the pool closed


@dataclass(frozen=True, slots=True)
class PoolAccount:
    """A snapshot of a pool's resource use.

    ``always_on_agent_seconds`` is what a pool that keeps ``peak_agents``
    agents alive for the whole span would have used on the same work;
    ``saving_pct`` is the share of it the ephemeral pool did not use.
    """

    span_s: float
    agent_seconds: float
    busy_seconds: float
    live_agents: int
    peak_agents: int
    spawns: int
    reaps_idle: int
    reaps_ttl: int
    crashes: int
    closed: int
    retries: int
    completed: int
    failed: int
    rejected: int
    memories_flushed: int
    memories_lost: int
    memories_unpersisted: int = 0  # remember()ed under a spec without a namespace (warned)

    @property
    def reaps(self) -> int:
        """Agents reaped for idleness or age."""
        return self.reaps_idle + self.reaps_ttl

    @property
    def always_on_agent_seconds(self) -> float:
        """Agent-seconds of an always-on pool sized for the peak over the same span."""
        return self.peak_agents * self.span_s

    @property
    def saving_pct(self) -> float:
        """Percent of the always-on pool's agent-seconds saved (0 when it used none)."""
        base = self.always_on_agent_seconds
        return 0.0 if base <= 0 else 100.0 * (1.0 - self.agent_seconds / base)

    def as_dict(self) -> dict[str, float]:
        """Every figure, derived ones included, as a flat dict of numbers."""
        out = {name: float(getattr(self, name)) for name in self.__dataclass_fields__}
        out["reaps"] = float(self.reaps)
        out["always_on_agent_seconds"] = self.always_on_agent_seconds
        out["saving_pct"] = self.saving_pct
        return out
