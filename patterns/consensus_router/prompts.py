"""Chat messages that put a question to a model voter, from per-voter templates."""

from __future__ import annotations

import json

from patterns.consensus_router.exceptions import SchemaError
from patterns.consensus_router.model_list import VoterSpec
from patterns.consensus_router.records import Question
from patterns.consensus_router.schema import LabelSchema

DEFAULT_SYSTEM_PROMPT = "You are one voter on a panel. Answer accurately and briefly."
DEFAULT_TEMPLATE = "{question}\n\n{instructions}"


class _Payload(dict[str, object]):
    """The question's payload in a template: ``{payload}`` is JSON, ``{payload[key]}`` a field."""

    def __format__(self, spec: str) -> str:
        return json.dumps(dict(self), sort_keys=True, default=str)


def build_messages(question: Question, spec: VoterSpec) -> list[dict[str, str]]:
    """The chat messages for ``spec``: its system prompt (omitted when empty) and the question."""
    schema = question.schema
    fields = {
        "question": question.text,
        "instructions": schema.instructions(),
        "labels": ", ".join(schema.labels) if isinstance(schema, LabelSchema) else "",
        "payload": _Payload(question.payload),
    }
    try:
        user = (spec.prompt or DEFAULT_TEMPLATE).format_map(fields)
    except (KeyError, IndexError) as err:
        raise SchemaError(
            f"{spec.name}: the prompt names a payload field {err} the question lacks"
        ) from err
    system = DEFAULT_SYSTEM_PROMPT if spec.system_prompt is None else spec.system_prompt
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages
