"""Step 4's optional model proposals, through the pattern-5 router.

Models named in ``SWARMKIT_SELFHEAL__MODEL_PROPOSERS`` (litellm model names) are asked
for one remediation as JSON. Every reply is decoded into the typed action schema
(:func:`apps.k8s.actions.parse_action`); a reply that does not fit is dropped and noted.
Nothing a model says is ever run as code, and its proposals face the same vote,
validation and verification as the templates'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from apps.k8s.actions import ACTION_TYPES, Action, parse_action
from apps.k8s.exceptions import InvalidActionError
from apps.selfheal.records import Hypothesis, Incident
from patterns.consensus_router import (
    ConsensusRouter,
    Mode,
    ObjectSchema,
    Question,
    RouterSettings,
    VoterPool,
    parse_model_list,
)
from patterns.core.loopthread import AsyncRuntime

MODEL_TIMEOUT_S = 60.0


class ProposedAction(BaseModel):
    """What a model must answer: one typed action as JSON (``{"type": "rollout_undo", ...}``)."""

    action: dict[str, Any]


def action_catalogue() -> str:
    """The typed actions a model may propose, with their fields."""
    lines = []
    for cls in ACTION_TYPES:
        tag = cls.__struct_config__.tag
        fields = ", ".join(f for f in cls.__struct_fields__)
        lines.append(f'- {{"type": "{tag}", {fields}}}')
    return "\n".join(lines)


class ModelProposer:
    """Asks models for remediations through a consensus router and keeps the ones that parse."""

    def __init__(self, runtime: AsyncRuntime, entries: Sequence[dict[str, Any]]) -> None:
        self.runtime = runtime
        pool = VoterPool(
            parse_model_list({"model_list": list(entries)}), RouterSettings(num_retries=0)
        )
        self.router = ConsensusRouter(pool)
        self.names = [str(e["model_name"]) for e in entries]

    @classmethod
    def from_models(cls, runtime: AsyncRuntime, models: Sequence[str]) -> ModelProposer:
        """One router entry per litellm model name."""
        return cls(
            runtime,
            [
                {
                    "model_name": f"proposer:{m}",
                    "litellm_params": {"model": m, "timeout": MODEL_TIMEOUT_S},
                }
                for m in models
            ],
        )

    def propose(self, incident: Incident, hyp: Hypothesis) -> tuple[list[Action], list[str]]:
        """Ask every model once; returns the typed actions and notes on replies that did not fit."""
        text = (
            "You are an SRE. A Kubernetes incident needs one remediation.\n"
            f"Signals: {'; '.join(f'{s.kind} {s.object_kind} {s.namespace}/{s.name}: {s.detail}' for s in incident.signals[:8])}\n"
            f"Most likely root cause: {hyp.kind} on {hyp.ref}. Evidence: {'; '.join(hyp.evidence[:6])}\n"
            'Answer with one JSON object {"action": {...}} whose action is one of:\n'
            f"{action_catalogue()}"
        )
        question = Question(
            id=f"propose-{incident.id}", text=text, schema=ObjectSchema(ProposedAction)
        )
        decision = self.runtime.call(
            self.router.decide(question, mode=Mode.ENSEMBLE, rule="plurality")
        )
        actions: list[Action] = []
        notes: list[str] = []
        for vote in decision.votes:
            if not isinstance(vote.value, ProposedAction):
                notes.append(f"{vote.voter}: no usable answer ({vote.status.value})")
                continue
            try:
                action = parse_action(vote.value.action)
            except InvalidActionError as err:
                notes.append(
                    f"{vote.voter}: dropped a proposal that does not fit the action schema: {err}"
                )
                continue
            if action not in actions:
                actions.append(action)
        return actions, notes
