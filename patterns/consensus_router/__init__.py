"""Pattern 5: multi-model consensus through a litellm Router with cost-aware escalation.

Names are imported lazily, so ``patterns.consensus_router.settings`` (needed by the
project settings) loads without litellm. litellm is made offline-safe here: unless the
user says otherwise, it reads its bundled model cost map instead of fetching one.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from patterns.consensus_router.callables import CallableReply, CallableVoter, VoterFn
    from patterns.consensus_router.consensus import ALL_RULES, ConsensusRouter
    from patterns.consensus_router.evaluation import (
        EvaluationReport,
        LabeledItem,
        evaluate,
        load_labeled,
        parse_labeled,
    )
    from patterns.consensus_router.exceptions import (
        MissingSecretError,
        ModelListError,
        QuorumConfigError,
        SchemaError,
        UnknownVoterError,
    )
    from patterns.consensus_router.model_list import (
        ModelList,
        VoterSpec,
        load_model_list,
        parse_model_list,
    )
    from patterns.consensus_router.pool import VoterPool
    from patterns.consensus_router.records import (
        Decision,
        Mode,
        Outcome,
        Question,
        StageRecord,
        Tally,
        Vote,
        VoteStatus,
    )
    from patterns.consensus_router.reliability import ReliabilityLearner
    from patterns.consensus_router.reputation import AgreementMonitor
    from patterns.consensus_router.schema import AnswerSchema, LabelSchema, ObjectSchema
    from patterns.consensus_router.settings import RouterSettings
    from patterns.consensus_router.stacking import StackedCombiner
    from patterns.consensus_router.voting import (
        byzantine_quorum,
        confidence_weighted,
        majority,
        plurality,
        reliable_quorum,
        trimmed_weighted,
        weighted,
    )

_LAZY: dict[str, str] = {
    "ALL_RULES": "patterns.consensus_router.consensus",
    "AgreementMonitor": "patterns.consensus_router.reputation",
    "AnswerSchema": "patterns.consensus_router.schema",
    "CallableReply": "patterns.consensus_router.callables",
    "CallableVoter": "patterns.consensus_router.callables",
    "ConsensusRouter": "patterns.consensus_router.consensus",
    "Decision": "patterns.consensus_router.records",
    "EvaluationReport": "patterns.consensus_router.evaluation",
    "LabelSchema": "patterns.consensus_router.schema",
    "LabeledItem": "patterns.consensus_router.evaluation",
    "MissingSecretError": "patterns.consensus_router.exceptions",
    "Mode": "patterns.consensus_router.records",
    "ModelList": "patterns.consensus_router.model_list",
    "ModelListError": "patterns.consensus_router.exceptions",
    "ObjectSchema": "patterns.consensus_router.schema",
    "Outcome": "patterns.consensus_router.records",
    "Question": "patterns.consensus_router.records",
    "QuorumConfigError": "patterns.consensus_router.exceptions",
    "ReliabilityLearner": "patterns.consensus_router.reliability",
    "RouterSettings": "patterns.consensus_router.settings",
    "SchemaError": "patterns.consensus_router.exceptions",
    "StackedCombiner": "patterns.consensus_router.stacking",
    "StageRecord": "patterns.consensus_router.records",
    "Tally": "patterns.consensus_router.records",
    "UnknownVoterError": "patterns.consensus_router.exceptions",
    "Vote": "patterns.consensus_router.records",
    "VoteStatus": "patterns.consensus_router.records",
    "VoterFn": "patterns.consensus_router.callables",
    "VoterPool": "patterns.consensus_router.pool",
    "VoterSpec": "patterns.consensus_router.model_list",
    "byzantine_quorum": "patterns.consensus_router.voting",
    "confidence_weighted": "patterns.consensus_router.voting",
    "evaluate": "patterns.consensus_router.evaluation",
    "load_labeled": "patterns.consensus_router.evaluation",
    "load_model_list": "patterns.consensus_router.model_list",
    "majority": "patterns.consensus_router.voting",
    "parse_labeled": "patterns.consensus_router.evaluation",
    "parse_model_list": "patterns.consensus_router.model_list",
    "plurality": "patterns.consensus_router.voting",
    "reliable_quorum": "patterns.consensus_router.voting",
    "trimmed_weighted": "patterns.consensus_router.voting",
    "weighted": "patterns.consensus_router.voting",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ALL_RULES",
    "AgreementMonitor",
    "AnswerSchema",
    "CallableReply",
    "CallableVoter",
    "ConsensusRouter",
    "Decision",
    "EvaluationReport",
    "LabelSchema",
    "LabeledItem",
    "MissingSecretError",
    "Mode",
    "ModelList",
    "ModelListError",
    "ObjectSchema",
    "Outcome",
    "Question",
    "QuorumConfigError",
    "ReliabilityLearner",
    "RouterSettings",
    "SchemaError",
    "StackedCombiner",
    "StageRecord",
    "Tally",
    "UnknownVoterError",
    "Vote",
    "VoteStatus",
    "VoterFn",
    "VoterPool",
    "VoterSpec",
    "byzantine_quorum",
    "confidence_weighted",
    "evaluate",
    "load_labeled",
    "load_model_list",
    "majority",
    "parse_labeled",
    "parse_model_list",
    "plurality",
    "reliable_quorum",
    "trimmed_weighted",
    "weighted",
]
