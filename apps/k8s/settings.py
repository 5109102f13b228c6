"""Settings of the Kubernetes layer: the ``k8s`` group (backend, credentials, write allowlist)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"

# Every write the typed actions can make, as "<verb> <resource>" (RBAC resource names).
DEFAULT_WRITE_RULES: tuple[str, ...] = (
    "patch deployments",
    "patch deployments/scale",
    "patch configmaps",
    "patch secrets",
    "patch services",
    "patch resourcequotas",
    "patch horizontalpodautoscalers",
    "delete pods",
    "create pods/eviction",
    "delete persistentvolumeclaims",
    "create persistentvolumeclaims",
    "patch nodes",
    "patch poddisruptionbudgets",
    "patch jobs",
)


class ClusterBackend(StrEnum):
    """Which cluster the healer talks to."""

    SIM = "sim"
    REAL = "real"


class K8sSettings(BaseModel):
    """The Kubernetes layer: which backend, how to reach a real cluster, what it may change."""

    backend: ClusterBackend = Field(
        ClusterBackend.SIM, description="'sim' (embedded simulated cluster) or 'real'."
    )
    kubeconfig: Path | None = Field(
        None,
        description="Kubeconfig file for the real backend; None: $KUBECONFIG or ~/.kube/config.",
    )
    kubeconfig_content: SecretStr | None = Field(
        None, description="Kubeconfig YAML itself (e.g. from a Prefect Secret); wins over the path."
    )
    context: str | None = Field(
        None, min_length=1, max_length=253, description="Kubeconfig context; None: current."
    )
    in_cluster: bool = Field(
        False,
        description="Use the pod's service account (in-cluster config) instead of kubeconfig.",
    )
    api_url: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="API server URL used with bearer_token instead of a kubeconfig.",
    )
    bearer_token: SecretStr | None = Field(
        None, description="Bearer token for api_url (never logged)."
    )
    verify_tls: bool = Field(True, description="Verify the API server certificate (api_url mode).")
    write_namespaces: list[str] = Field(
        default_factory=lambda: ["shop"],
        min_length=0,
        max_length=256,
        description="Namespaces the healer may write to (allowlist); '*' allows every namespace.",
    )
    read_namespaces: list[str] | None = Field(
        None, max_length=256, description="Namespaces an observation reads; None: all."
    )
    write_rules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WRITE_RULES),
        max_length=64,
        description="Allowed writes as '<verb> <resource>' (e.g. 'patch deployments').",
    )
    allowed_verbs: list[str] = Field(
        default_factory=lambda: ["patch", "create", "delete"],
        max_length=8,
        description="Write verbs allowed at all; narrows write_rules (e.g. ['patch']).",
    )
    read_secrets: bool = Field(
        True,
        description=(
            "Read Secrets (the healer keeps only digests of their values) so it can tell a changed "
            "key and put it back; false keeps them out (drop them from the RBAC too)."
        ),
    )
    allow_node_operations: bool = Field(
        True, description="Allow cluster-scoped node writes (cordon, drain)."
    )
    dry_run_default: bool = Field(
        True, description="Real-cluster writes are server-side dry runs unless asked otherwise."
    )
    field_manager: str = Field(
        "swarmkit-healer", min_length=1, max_length=128, description="fieldManager of writes."
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Timeout of one API request, seconds."
    )
    watch_timeout_s: int = Field(
        5, ge=1, le=600, description="Server-side timeout of one watch call, seconds."
    )
    prometheus_url: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="Prometheus base URL for service request, error and latency metrics.",
    )
    prometheus_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Timeout of one Prometheus query, seconds."
    )
    sim_seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed of the simulated cluster.")
    scenarios_dir: Path = Field(SCENARIOS_DIR, description="Directory of scenario YAML files.")
    default_scenario: str = Field(
        "bad-image-tag", min_length=1, max_length=128, description="Scenario the demo runs."
    )


class _K8sEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    k8s: K8sSettings = Field(default_factory=K8sSettings, description="Kubernetes layer.")


def get_k8s_settings() -> K8sSettings:
    """Read the ``k8s`` group from the environment (``SWARMKIT_K8S__BACKEND=real`` ...)."""
    return _K8sEnv().k8s
