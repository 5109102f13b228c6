"""App 11: the self-healing Kubernetes loop (pure logic; the Prefect flow is ``flows/self_healing.py``)."""

from __future__ import annotations

from apps.selfheal.alerts import AlertHint, parse_alert
from apps.selfheal.loop import Case, Healer, HealerFaults
from apps.selfheal.records import (
    Execution,
    HealthSummary,
    Hypothesis,
    Incident,
    Outcome,
    Proposal,
    Trajectory,
    Validation,
    VoteRecord,
)
from apps.selfheal.settings import HealMode, SelfHealSettings, get_selfheal_settings

__all__ = [
    "AlertHint",
    "Case",
    "Execution",
    "HealMode",
    "Healer",
    "HealerFaults",
    "HealthSummary",
    "Hypothesis",
    "Incident",
    "Outcome",
    "Proposal",
    "SelfHealSettings",
    "Trajectory",
    "Validation",
    "VoteRecord",
    "get_selfheal_settings",
    "parse_alert",
]
