"""Answer schemas: what a voter's reply must parse into, or it is an abstention."""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError, create_model

from patterns.consensus_router.exceptions import SchemaError

ANSWER_KEYS = ("answer", "label")  # JSON fields a reply may carry its answer in
CONFIDENCE_KEY = "confidence"
FIELD_TYPES: Mapping[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
_STRIP = " \t\r\n.!?\"'`*:;,()[]"


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A reply that parsed: its canonical key (what votes compare), value and confidence."""

    key: str
    value: object
    confidence: float | None = None


def _confidence(raw: object) -> float | None:
    """A self-reported confidence in [0, 1], or None when absent or malformed."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (code fences allowed), or None."""
    cleaned = _FENCE.sub("", text)
    start = cleaned.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(cleaned, start)
        except json.JSONDecodeError:
            start = cleaned.find("{", start + 1)
            continue
        return obj if isinstance(obj, dict) else None
    return None


class AnswerSchema(ABC):
    """How replies to one question parse, and how the prompt describes them."""

    kind: ClassVar[str]

    @abstractmethod
    def parse(self, text: str) -> ParsedReply | None:
        """The parsed reply, or None when ``text`` does not parse (an abstention)."""

    @abstractmethod
    def instructions(self) -> str:
        """What the prompt tells a model about the reply's form."""

    @abstractmethod
    def answer_space(self, distinct_answers: int) -> int:
        """Number of possible answers K, used by the reliability-weighted rule."""

    def candidates(self) -> tuple[str, ...]:
        """Every possible answer key when the set is finite, else empty."""
        return ()

    @abstractmethod
    def encode(self, value: object) -> str:
        """A reply text that parses back to ``value`` (used by Python-callable voters)."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The schema as a JSON object (the ``schema`` field of a labeled JSONL row)."""


class LabelSchema(AnswerSchema):
    """One label out of a fixed set; matching ignores case and surrounding punctuation.

    A free-text reply parses when exactly one label occurs in it as a whole word
    (a label found only inside a longer matching label does not count); a reply
    naming two labels, or none, is an abstention.
    """

    kind = "label"

    def __init__(self, labels: tuple[str, ...] | list[str]) -> None:
        """Args:
        labels: the distinct, non-empty labels.

        Raises:
            SchemaError: fewer than two labels, an empty one, or duplicates ignoring case.
        """
        cleaned = tuple(str(label).strip() for label in labels)
        folded = [label.casefold() for label in cleaned]
        if (
            len(cleaned) < 2
            or any(not label for label in cleaned)
            or len(set(folded)) != len(folded)
        ):
            raise SchemaError(f"a label schema needs two or more distinct labels, got {labels!r}")
        self.labels = cleaned
        self._by_fold = dict(zip(folded, cleaned, strict=True))
        self._patterns = {
            label: re.compile(rf"(?<!\w){re.escape(label.casefold())}(?!\w)") for label in cleaned
        }

    def __repr__(self) -> str:
        return f"LabelSchema({list(self.labels)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSchema) and other.labels == self.labels

    def __hash__(self) -> int:
        return hash(self.labels)

    def _exact(self, raw: object) -> str | None:
        if not isinstance(raw, str):
            return None
        return self._by_fold.get(raw.strip(_STRIP).casefold())

    def parse(self, text: str) -> ParsedReply | None:
        obj = _json_object(text)
        if obj is not None:
            raw = next((obj[k] for k in ANSWER_KEYS if k in obj), None)
            label = self._exact(raw)
            if label is None:
                return None
            return ParsedReply(label, label, _confidence(obj.get(CONFIDENCE_KEY)))
        label = self._exact(text)
        if label is not None:
            return ParsedReply(label, label)
        folded = text.casefold()
        spans = {
            label: [m.span() for m in pattern.finditer(folded)]
            for label, pattern in self._patterns.items()
        }
        spans = {label: found for label, found in spans.items() if found}
        inner = {
            label
            for label, found in spans.items()
            for other, other_found in spans.items()
            if other != label
            and all(any(a <= s and e <= b for a, b in other_found) for s, e in found)
        }
        found = [label for label in spans if label not in inner]
        return ParsedReply(found[0], found[0]) if len(found) == 1 else None

    def instructions(self) -> str:
        return "Answer with exactly one of: " + ", ".join(self.labels) + "."

    def answer_space(self, distinct_answers: int) -> int:
        return len(self.labels)

    def candidates(self) -> tuple[str, ...]:
        return self.labels

    def encode(self, value: object) -> str:
        label = self._exact(value)
        if label is None:
            raise SchemaError(f"{value!r} is not one of {list(self.labels)}")
        return label

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "labels": list(self.labels)}


class ObjectSchema(AnswerSchema):
    """A typed object: the first JSON object of the reply, validated by a pydantic model.

    Two replies vote for the same answer when their validated objects dump to the
    same canonical JSON. A ``confidence`` field in [0, 1] beside the model's own
    fields is read as the voter's self-reported confidence.
    """

    kind = "object"

    def __init__(self, model: type[BaseModel]) -> None:
        """Args:
        model: the pydantic model each reply must validate against.
        """
        self.model = model

    def __repr__(self) -> str:
        return f"ObjectSchema({self.model.__name__})"

    @classmethod
    def from_fields(cls, name: str, fields: Mapping[str, str]) -> ObjectSchema:
        """A schema of a flat object, fields typed by name (``str``, ``int``, ``float``, ``bool``).

        Raises:
            SchemaError: no fields, or a type name outside :data:`FIELD_TYPES`.
        """
        if not fields or any(t not in FIELD_TYPES for t in fields.values()):
            raise SchemaError(f"fields must map names to one of {sorted(FIELD_TYPES)}: {fields}")
        spec: dict[str, Any] = {k: (FIELD_TYPES[t], ...) for k, t in fields.items()}
        return cls(create_model(name, **spec))

    def _validated(self, obj: Mapping[str, Any]) -> BaseModel | None:
        fields = {k: v for k, v in obj.items() if k != CONFIDENCE_KEY}
        try:
            return self.model.model_validate(fields)
        except ValidationError:
            return None

    def parse(self, text: str) -> ParsedReply | None:
        obj = _json_object(text)
        if obj is None:
            return None
        inner = obj.get("answer")
        value = self._validated(inner if isinstance(inner, dict) else obj)
        if value is None:
            return None
        return ParsedReply(self.encode(value), value, _confidence(obj.get(CONFIDENCE_KEY)))

    def instructions(self) -> str:
        schema = json.dumps(self.model.model_json_schema(), separators=(",", ":"))
        return f"Reply with one JSON object only, matching this JSON schema: {schema}"

    def answer_space(self, distinct_answers: int) -> int:
        return max(2, distinct_answers + 1)

    def encode(self, value: object) -> str:
        model = value if isinstance(value, self.model) else self.model.model_validate(value)
        return json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def to_json(self) -> dict[str, Any]:
        props = self.model.model_json_schema().get("properties", {})
        names = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
        return {
            "type": self.kind,
            "name": self.model.__name__,
            "fields": {k: names.get(v.get("type", ""), "str") for k, v in props.items()},
        }


def schema_from_json(data: Mapping[str, Any]) -> AnswerSchema:
    """The schema a JSONL row describes: ``{"type": "label", "labels": [...]}`` or
    ``{"type": "object", "name": ..., "fields": {"field": "int", ...}}``.

    Raises:
        SchemaError: an unknown type or malformed fields.
    """
    kind = data.get("type")
    if kind == LabelSchema.kind:
        labels = data.get("labels")
        if not isinstance(labels, list):
            raise SchemaError(f"a label schema needs a 'labels' list: {data}")
        return LabelSchema(labels)
    if kind == ObjectSchema.kind:
        fields = data.get("fields")
        if not isinstance(fields, dict):
            raise SchemaError(f"an object schema needs a 'fields' mapping: {data}")
        return ObjectSchema.from_fields(str(data.get("name", "Answer")), fields)
    raise SchemaError(f"unknown answer schema type {kind!r}")
