"""Settings of the self-healing loop: the ``selfheal`` group (mode, allowlist, risk, timing)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from apps.k8s.actions import ACTION_TYPES

DEFAULT_ALLOWED_ACTIONS: tuple[str, ...] = (
    "rollout_undo",
    "scale",
    "patch_resources",
    "patch_env",
    "patch_probe",
    "patch_configmap",
    "patch_secret",
    "patch_pdb",
    "suspend_job",
    "scale_job",
    "patch_scheduling",
    "delete_evicted_pods",
    "patch_hpa",
    "patch_service_selector",
    "patch_resource_quota",
    "recreate_pvc",
    "drain_node",
    "cordon_node",
    "delete_pod",
    "restart",
)


ACTION_KINDS: tuple[str, ...] = tuple(str(t.__struct_config__.tag) for t in ACTION_TYPES)
"""Every action type the healer knows (the ``type`` of a typed action)."""


class HealMode(StrEnum):
    """Whether the healer persists its writes."""

    DRY_RUN = "dry-run"
    APPLY = "apply"


class SelfHealSettings(BaseModel):
    """The self-healing loop: what it may do, how sure it must be, how long it waits."""

    mode: HealMode | None = Field(
        None,
        description="'dry-run' or 'apply'; None: apply on the simulated cluster, dry-run on a real one.",
    )
    allowed_actions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_ACTIONS),
        max_length=32,
        description="Action types the healer may carry out (the action allowlist).",
    )
    protected_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-public", "kube-node-lease"],
        max_length=64,
        description="Namespaces the healer never writes to, whatever the other allowlists say.",
    )
    critical_namespaces: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Namespaces whose actions count as critical (higher risk).",
    )
    risk_threshold: float = Field(
        0.6, ge=0, le=1, description="Actions riskier than this need a Byzantine quorum of voters."
    )
    max_risk: float = Field(
        0.9, ge=0, le=1, description="Actions riskier than this are never carried out."
    )
    min_confidence: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Below this root-cause confidence the incident is reported, not acted on.",
    )
    max_blast_radius_pods: int = Field(
        50, ge=1, le=100000, description="Most pods one action may disrupt."
    )
    max_attempts: int = Field(
        3, ge=1, le=10, description="Actions tried per incident before it is escalated to a person."
    )
    poll_interval_s: float = Field(
        15.0, gt=0, le=3600, description="Seconds between two observations of the loop."
    )
    confirm_polls: int = Field(
        3,
        ge=1,
        le=20,
        description="Observations a problem must persist before it is an incident (fewer when memory recognises it).",
    )
    verify_window_s: float = Field(
        240.0, gt=0, le=7200, description="How long to wait for a remediation to clear problems."
    )
    verify_stable_polls: int = Field(
        2, ge=1, le=20, description="Consecutive healthy observations that confirm a fix."
    )
    node_pressure_hold_s: float = Field(
        300.0,
        ge=0,
        le=3600,
        description="How long a kubelet keeps a node pressure condition after the pressure ends "
        "(its --eviction-pressure-transition-period); verification waits it out.",
    )
    settle_s: float = Field(
        30.0, ge=0, le=3600, description="Grace after a write before its effect is judged."
    )
    replicas: int = Field(
        4, ge=4, le=31, description="Healer replicas validating an action (PBFT)."
    )
    monitors_tree_fanout: int = Field(
        4, ge=2, le=64, description="Fan-out of the tree the monitors' summaries merge up."
    )
    gossip_peers: int = Field(
        0, ge=0, le=256, description="Gossip peers of the incident document; 0: one per monitor."
    )
    baseline_window: int = Field(
        20, ge=3, le=1000, description="Observations in a metric's rolling baseline."
    )
    z_threshold: float = Field(
        6.0, gt=0, le=100, description="Robust z-score above which a metric is anomalous."
    )
    memory_dir: Path = Field(
        Path(".data/selfheal"), description="LanceDB directory of trajectories and the bank."
    )
    model_voters: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="litellm model names that also vote (empty: policy, memory and heuristic voters).",
    )
    model_proposers: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="litellm model names asked for a remediation too (parsed into typed actions).",
    )
    schedule_interval_s: int = Field(
        60, ge=5, le=86400, description="Interval of the scheduled deployment, seconds."
    )

    @field_validator("allowed_actions")
    @classmethod
    def _known_actions(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in ACTION_KINDS]
        if unknown:
            raise ValueError(
                f"unknown action type(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(ACTION_KINDS)}"
            )
        return kinds


class _SelfHealEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    selfheal: SelfHealSettings = Field(
        default_factory=SelfHealSettings, description="Self-healing loop."
    )


def get_selfheal_settings() -> SelfHealSettings:
    """Read the ``selfheal`` group from the environment (``SWARMKIT_SELFHEAL__MODE=apply`` ...)."""
    return _SelfHealEnv().selfheal
