"""Kubernetes layer of the self-healing app: one ``Cluster`` interface, simulated and real backends."""

from __future__ import annotations

from apps.k8s.actions import (
    ACTION_TYPES,
    Action,
    ApiOp,
    CordonNode,
    DeletePod,
    DrainNode,
    PatchConfigMap,
    PatchEnv,
    PatchHpa,
    PatchProbe,
    PatchResourceQuota,
    PatchResources,
    PatchServiceSelector,
    ProbeKind,
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
    Verb,
    action_to_dict,
    parse_action,
    plan_action,
)
from apps.k8s.cluster import (
    ActionResult,
    ChangeBatch,
    Cluster,
    Observation,
    ServiceCall,
    ServiceMetrics,
    WatchEvent,
    WatchEventType,
)
from apps.k8s.kinds import KINDS, Kind, KindInfo
from apps.k8s.objects import KubeObject
from apps.k8s.policy import WritePolicy
from apps.k8s.real import RealCluster
from apps.k8s.report import HealthReport, health_report
from apps.k8s.scenario import Scenario, load_catalog, load_scenario, scenario_names
from apps.k8s.settings import ClusterBackend, K8sSettings, get_k8s_settings
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import Problem, ProblemKind, find_problems, is_resolved, missing_symptoms

__all__ = [
    "ACTION_TYPES",
    "KINDS",
    "Action",
    "ActionResult",
    "ApiOp",
    "ChangeBatch",
    "Cluster",
    "ClusterBackend",
    "CordonNode",
    "DeletePod",
    "DrainNode",
    "HealthReport",
    "K8sSettings",
    "Kind",
    "KindInfo",
    "KubeObject",
    "Observation",
    "PatchConfigMap",
    "PatchEnv",
    "PatchHpa",
    "PatchProbe",
    "PatchResourceQuota",
    "PatchResources",
    "PatchServiceSelector",
    "ProbeKind",
    "Problem",
    "ProblemKind",
    "RealCluster",
    "RecreatePvc",
    "RestartDeployment",
    "RolloutUndo",
    "ScaleDeployment",
    "Scenario",
    "ServiceCall",
    "ServiceMetrics",
    "SimCluster",
    "Verb",
    "WatchEvent",
    "WatchEventType",
    "WritePolicy",
    "action_to_dict",
    "find_problems",
    "get_k8s_settings",
    "health_report",
    "is_resolved",
    "load_catalog",
    "load_scenario",
    "missing_symptoms",
    "parse_action",
    "plan_action",
    "scenario_names",
]
