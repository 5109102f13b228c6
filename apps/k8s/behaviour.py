"""Behaviour models of container images: what an image needs to start, uses, answers and calls."""

from __future__ import annotations

from typing import Annotated

import msgspec

NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class _Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ConfigKeyRef(_Model, frozen=True, kw_only=True):
    """A key the application reads from a config map (mounted or as env)."""

    configmap: str
    key: str


class SecretKeyRef(_Model, frozen=True, kw_only=True):
    """A key the application reads from a secret (mounted or as env)."""

    secret: str
    key: str


class Requirements(_Model, frozen=True, kw_only=True):
    """What the application needs at start; a missing one makes it exit with code 1."""

    env: list[str] = []
    config_keys: list[ConfigKeyRef] = []
    secret_keys: list[SecretKeyRef] = []
    services: list[str] = []


class MemoryProfile(_Model, frozen=True, kw_only=True):
    """Resident memory: ``base + leak * minutes_up + per_rps * load`` (MiB)."""

    base_mib: NonNeg = 64.0
    leak_mib_per_min: NonNeg = 0.0
    per_rps_mib: NonNeg = 0.0


class CpuProfile(_Model, frozen=True, kw_only=True):
    """CPU demand: ``base + per_rps * load`` (millicores)."""

    base_millicores: NonNeg = 20.0
    per_rps_millicores: NonNeg = 2.0


class LatencyProfile(_Model, frozen=True, kw_only=True):
    """Own service time at low load; queueing and CPU throttling stretch it."""

    base_ms: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    p99_factor: Annotated[float, msgspec.Meta(ge=1)] = 3.0


class StorageProfile(_Model, frozen=True, kw_only=True):
    """Ephemeral storage a container writes on the node (logs, writable layer, emptyDir), MiB.

    ``base + growth * minutes_up``; it goes when the container restarts or the pod goes.
    """

    base_mib: NonNeg = 0.0
    growth_mib_per_min: NonNeg = 0.0


class PidProfile(_Model, frozen=True, kw_only=True):
    """Processes and threads of a container: ``base + leak * minutes_up`` (a fork leak)."""

    base: NonNeg = 10.0
    leak_per_min: NonNeg = 0.0


class CallSpec(_Model, frozen=True, kw_only=True):
    """A downstream call: ``fraction`` of requests call ``service`` once (``name`` or ``name.ns``)."""

    service: str
    fraction: Fraction = 1.0


class ReadinessDependency(_Model, frozen=True, kw_only=True):
    """The readiness endpoint checks a downstream service (``name`` or ``name.ns``).

    It answers 503 while the service has no ready endpoint, or (with ``max_error_rate``)
    while the service's error rate is above it: the way a ``/ready`` that pings its
    database or cache makes a dependency's outage show upstream.
    """

    service: str
    max_error_rate: Fraction | None = None


class ImageBehaviour(_Model, frozen=True, kw_only=True):
    """How a container image behaves in the simulated cluster. Unknown images do not exist."""

    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    startup_s: NonNeg = 3.0
    health_paths: list[str] = msgspec.field(default_factory=lambda: ["/healthz", "/ready"])
    health_latency_ms: NonNeg = 5.0
    pull_s: NonNeg = 2.0
    crash_after_s: NonNeg = 1.0
    shutdown_s: NonNeg = 1.0
    requires: Requirements = msgspec.field(default_factory=Requirements)
    memory: MemoryProfile = msgspec.field(default_factory=MemoryProfile)
    cpu: CpuProfile = msgspec.field(default_factory=CpuProfile)
    latency: LatencyProfile = msgspec.field(default_factory=LatencyProfile)
    storage: StorageProfile = msgspec.field(default_factory=StorageProfile)
    pids: PidProfile = msgspec.field(default_factory=PidProfile)
    error_rate: Fraction = 0.001
    calls: list[CallSpec] = []
    readiness_depends_on: list[ReadinessDependency] = []
    # Run-to-completion images (init containers, jobs): exit 0 this long after start once
    # every requirement is met. None: a server, which runs until stopped (as an init
    # container it never completes; the kubelet then waits forever, as a real one does).
    completes_after_s: NonNeg | None = None
    # How long a start waits for an unmet requirement before exiting 1 (the
    # ``timeout 30 sh -c 'until nc -z db 5432; do sleep 2; done'`` style of init container);
    # 0 exits after ``crash_after_s``; None waits forever.
    wait_for_requirements_s: NonNeg | None = 0.0
