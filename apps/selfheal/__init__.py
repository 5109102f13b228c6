"""App 11: the self-healing Kubernetes loop (pure logic; the Prefect flow is ``flows/self_healing.py``).

Names are imported on first use: the loop pulls in litellm and LanceDB, which a flow
should not pay for before its first task needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY: dict[str, str] = {
    "AlertHint": "apps.selfheal.alerts",
    "parse_alert": "apps.selfheal.alerts",
    "Case": "apps.selfheal.loop",
    "Healer": "apps.selfheal.loop",
    "HealerFaults": "apps.selfheal.loop",
    "Execution": "apps.selfheal.records",
    "HealthSummary": "apps.selfheal.records",
    "Hypothesis": "apps.selfheal.records",
    "Incident": "apps.selfheal.records",
    "Outcome": "apps.selfheal.records",
    "Proposal": "apps.selfheal.records",
    "Trajectory": "apps.selfheal.records",
    "Validation": "apps.selfheal.records",
    "VoteRecord": "apps.selfheal.records",
    "HealMode": "apps.selfheal.settings",
    "SelfHealSettings": "apps.selfheal.settings",
    "get_selfheal_settings": "apps.selfheal.settings",
}

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


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'apps.selfheal' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
