"""Fault plans: the declared, seeded faults a simulation injects.

A :class:`FaultPlan` is plain data (a msgspec Struct), so a plan can be
written in JSON or YAML, stored beside a failing seed and replayed exactly.
The simulator (:mod:`patterns.net.sim`) is the only thing that reads it.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import msgspec

from patterns.core.exceptions import ConfigError


class LatencyDistribution(enum.StrEnum):
    """Shape of one-way message latency."""

    FIXED = "fixed"  # always `mean`
    UNIFORM = "uniform"  # uniform on [min, 2*mean - min]
    EXPONENTIAL = "exponential"  # min + Exp(mean - min)


class PartitionMode(enum.StrEnum):
    """How a random partition splits the nodes."""

    ISOLATE = "isolate"  # one node cut off from all others, both directions
    HALVES = "halves"  # nodes split into two random halves
    ASYMMETRIC = "asymmetric"  # one node can send but not receive


class ByzantineKind(enum.StrEnum):
    """What a Byzantine wrapper does to a node's outgoing messages."""

    DROP = "drop"  # drop the message
    DELAY = "delay"  # add up to `max_delay_s`
    CORRUPT = "corrupt"  # flip bytes of the encoded message
    FORGE = "forge"  # change a field of the message
    EQUIVOCATE = "equivocate"  # send different versions of a broadcast to different peers
    REPLAY = "replay"  # also resend an earlier message of this node
    SILENT = "silent"  # send nothing at all


class Latency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One-way latency in virtual seconds."""

    min_s: float = 0.001
    mean_s: float = 0.005
    distribution: LatencyDistribution = LatencyDistribution.EXPONENTIAL


class RandomPartitions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Partitions that start at random fault ticks.

    At each tick with no partition of this spec active, one starts with
    ``probability`` and lasts a duration uniform in ``[min_duration_s, max_duration_s]``.
    """

    mode: PartitionMode
    probability: float
    min_duration_s: float
    max_duration_s: float


class ScheduledPartition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A partition at a fixed virtual time: ``groups`` cannot talk to each other.

    With ``one_way`` set, only messages from ``groups[0]`` to the other groups are cut.
    """

    at_s: float
    duration_s: float
    groups: list[list[int]]
    one_way: bool = False


class RandomCrashes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Crashes that start at random fault ticks; the node restarts after a random downtime."""

    probability: float
    min_down_s: float
    max_down_s: float
    max_concurrent: int = 1
    nodes: list[int] | None = None  # candidates (default: all)


class ScheduledCrash(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Crash ``node`` at ``at_s``; restart it at ``restart_at_s`` (never if ``None``)."""

    node: int
    at_s: float
    restart_at_s: float | None = None


class ClockSkew(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-node clock error: local = virtual * (1 + drift) + offset."""

    max_offset_s: float = 0.0
    max_drift_ppm: float = 0.0


class ByzantineBehavior(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One misbehaviour of a Byzantine node, applied to each outgoing message with ``probability``."""

    kind: ByzantineKind
    probability: float = 1.0
    max_delay_s: float = 1.0


class ByzantineNode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The behaviours of one Byzantine node, applied in order."""

    node: int
    behaviors: list[ByzantineBehavior]


class FaultPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a simulation run injects, with the seed that drives it.

    Random faults (loss, duplication, reordering, random partitions and crashes)
    are active from ``faults_from_s`` until ``faults_until_s`` (forever if
    ``None``); after that the network is reliable, so liveness and
    convergence can be checked. Scheduled partitions and crashes happen when
    they say, whatever the window.
    """

    seed: int = 0
    latency: Latency = Latency()
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_window_s: float = 0.05
    partitions: list[RandomPartitions] = []
    scheduled_partitions: list[ScheduledPartition] = []
    crashes: list[RandomCrashes] = []
    scheduled_crashes: list[ScheduledCrash] = []
    clock_skew: ClockSkew = ClockSkew()
    byzantine: list[ByzantineNode] = []
    fault_tick_s: float = 0.1
    faults_from_s: float = 0.0
    faults_until_s: float | None = None

    def validate(self) -> FaultPlan:
        """Check every number is in range; returns ``self``.

        Raises:
            ConfigError: naming the first invalid field.
        """
        _prob("loss", self.loss)
        _prob("duplicate", self.duplicate)
        _prob("reorder", self.reorder)
        _nonneg("reorder_window_s", self.reorder_window_s)
        if not 0 <= self.seed < 2**64:
            raise ConfigError(f"seed must be in 0..2**64-1, got {self.seed}")
        lat = self.latency
        _nonneg("latency.min_s", lat.min_s)
        if lat.mean_s < lat.min_s:
            raise ConfigError(f"latency.mean_s={lat.mean_s} is below latency.min_s={lat.min_s}")
        _pos("fault_tick_s", self.fault_tick_s)
        for i, p in enumerate(self.partitions):
            _prob(f"partitions[{i}].probability", p.probability)
            _pos(f"partitions[{i}].min_duration_s", p.min_duration_s)
            if p.max_duration_s < p.min_duration_s:
                raise ConfigError(f"partitions[{i}].max_duration_s is below min_duration_s")
        for i, sp in enumerate(self.scheduled_partitions):
            _nonneg(f"scheduled_partitions[{i}].at_s", sp.at_s)
            _pos(f"scheduled_partitions[{i}].duration_s", sp.duration_s)
            if len(sp.groups) < 2:
                raise ConfigError(f"scheduled_partitions[{i}] needs at least two groups")
        for i, c in enumerate(self.crashes):
            _prob(f"crashes[{i}].probability", c.probability)
            _pos(f"crashes[{i}].min_down_s", c.min_down_s)
            if c.max_down_s < c.min_down_s:
                raise ConfigError(f"crashes[{i}].max_down_s is below min_down_s")
            if c.max_concurrent < 1:
                raise ConfigError(f"crashes[{i}].max_concurrent must be >= 1")
        for i, sc in enumerate(self.scheduled_crashes):
            _nonneg(f"scheduled_crashes[{i}].at_s", sc.at_s)
            if sc.restart_at_s is not None and sc.restart_at_s <= sc.at_s:
                raise ConfigError(f"scheduled_crashes[{i}].restart_at_s must be after at_s")
        _nonneg("clock_skew.max_offset_s", self.clock_skew.max_offset_s)
        if not 0 <= self.clock_skew.max_drift_ppm <= 100_000:
            raise ConfigError("clock_skew.max_drift_ppm must be in 0..100000")
        for b in self.byzantine:
            for j, beh in enumerate(b.behaviors):
                _prob(f"byzantine[node={b.node}].behaviors[{j}].probability", beh.probability)
                _nonneg(f"byzantine[node={b.node}].behaviors[{j}].max_delay_s", beh.max_delay_s)
        return self

    def faults_active(self, t: float) -> bool:
        """True if random faults apply at virtual time ``t``."""
        return t >= self.faults_from_s and (self.faults_until_s is None or t < self.faults_until_s)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        """Build and validate a plan from plain data (as read from JSON or YAML).

        Raises:
            ConfigError: unknown fields, wrong types or out-of-range values.
        """
        try:
            plan = msgspec.convert(data, cls)
        except msgspec.ValidationError as err:
            raise ConfigError(f"invalid fault plan: {err}") from err
        return plan.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON or YAML."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def with_seed(self, seed: int) -> FaultPlan:
        """A copy of this plan with another seed."""
        return msgspec.structs.replace(self, seed=seed)


def _prob(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value}")


def _nonneg(name: str, value: float) -> None:
    if not (value >= 0.0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value}")


def _pos(name: str, value: float) -> None:
    if not (value > 0.0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a finite number > 0, got {value}")
