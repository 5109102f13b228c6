"""The reasoning bank: trajectories distilled into strategies and pitfalls on the memory store.

Names are imported lazily; nothing here imports litellm until a model distiller or
edit generator builds a question.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patterns.codegen.bank.bank import ReasoningBank
    from patterns.codegen.bank.distill import AsyncDistiller, Distiller, RuleDistiller
    from patterns.codegen.bank.exceptions import (
        BankInputError,
        DistillationError,
        DuplicateTrajectoryError,
        InvalidQueryError,
        InvalidTrajectoryError,
        UnknownItemError,
    )
    from patterns.codegen.bank.model_distiller import DraftItem, DraftList, ModelDistiller
    from patterns.codegen.bank.prompting import EditReply, ModelEditGenerator
    from patterns.codegen.bank.records import (
        BankItem,
        BankStats,
        DistilledItem,
        ItemContext,
        ItemKind,
        RecalledItem,
        RecordReport,
        UsageStats,
    )
    from patterns.codegen.bank.settings import BankSettings

_EXPORTS = {
    "AsyncDistiller": "patterns.codegen.bank.distill",
    "BankInputError": "patterns.codegen.bank.exceptions",
    "BankItem": "patterns.codegen.bank.records",
    "BankSettings": "patterns.codegen.bank.settings",
    "BankStats": "patterns.codegen.bank.records",
    "DistillationError": "patterns.codegen.bank.exceptions",
    "DistilledItem": "patterns.codegen.bank.records",
    "Distiller": "patterns.codegen.bank.distill",
    "DraftItem": "patterns.codegen.bank.model_distiller",
    "DraftList": "patterns.codegen.bank.model_distiller",
    "DuplicateTrajectoryError": "patterns.codegen.bank.exceptions",
    "EditReply": "patterns.codegen.bank.prompting",
    "InvalidQueryError": "patterns.codegen.bank.exceptions",
    "InvalidTrajectoryError": "patterns.codegen.bank.exceptions",
    "ItemContext": "patterns.codegen.bank.records",
    "ItemKind": "patterns.codegen.bank.records",
    "ModelDistiller": "patterns.codegen.bank.model_distiller",
    "ModelEditGenerator": "patterns.codegen.bank.prompting",
    "ReasoningBank": "patterns.codegen.bank.bank",
    "RecalledItem": "patterns.codegen.bank.records",
    "RecordReport": "patterns.codegen.bank.records",
    "RuleDistiller": "patterns.codegen.bank.distill",
    "UnknownItemError": "patterns.codegen.bank.exceptions",
    "UsageStats": "patterns.codegen.bank.records",
}

__all__ = [
    "AsyncDistiller",
    "BankInputError",
    "BankItem",
    "BankSettings",
    "BankStats",
    "DistillationError",
    "DistilledItem",
    "Distiller",
    "DraftItem",
    "DraftList",
    "DuplicateTrajectoryError",
    "EditReply",
    "InvalidQueryError",
    "InvalidTrajectoryError",
    "ItemContext",
    "ItemKind",
    "ModelDistiller",
    "ModelEditGenerator",
    "ReasoningBank",
    "RecalledItem",
    "RecordReport",
    "RuleDistiller",
    "UnknownItemError",
    "UsageStats",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
