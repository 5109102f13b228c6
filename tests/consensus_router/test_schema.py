"""Answer schemas: replies that parse, and replies that are abstentions."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from patterns.consensus_router import LabelSchema, ObjectSchema, SchemaError
from patterns.consensus_router.schema import schema_from_json

SAFETY = LabelSchema(("safe", "not safe", "unknown"))


@pytest.mark.parametrize(
    ("reply", "key"),
    [
        ("safe", "safe"),
        ("  SAFE.  ", "safe"),
        ("**Not Safe**", "not safe"),
        ("The change is not safe to apply.", "not safe"),  # 'safe' only inside 'not safe'
        ("I think it is safe", "safe"),
        ('{"answer": "unknown"}', "unknown"),
        ('```json\n{"label": "Safe", "confidence": 0.8}\n```', "safe"),
    ],
)
def test_label_replies_that_parse(reply: str, key: str) -> None:
    parsed = SAFETY.parse(reply)
    assert parsed is not None and parsed.key == key


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "maybe",
        "safe or unknown, hard to say",  # two labels: ambiguous
        '{"answer": "perhaps"}',  # JSON with a label outside the set
        '{"answer": 1}',
        "unsafe",  # not a whole-word label
    ],
)
def test_label_replies_that_abstain(reply: str) -> None:
    assert SAFETY.parse(reply) is None


def test_label_confidence_is_read_only_when_in_range() -> None:
    good = SAFETY.parse('{"answer": "safe", "confidence": 0.75}')
    bad = SAFETY.parse('{"answer": "safe", "confidence": 1.5}')
    assert good is not None and good.confidence == 0.75
    assert bad is not None and bad.confidence is None


def test_label_schema_rejects_bad_label_sets() -> None:
    with pytest.raises(SchemaError):
        LabelSchema(("yes",))
    with pytest.raises(SchemaError):
        LabelSchema(("Yes", "yes"))
    with pytest.raises(SchemaError):
        SAFETY.encode("perhaps")


class Scale(BaseModel):
    deployment: str
    replicas: int


def test_object_replies_vote_by_canonical_json() -> None:
    schema = ObjectSchema(Scale)
    a = schema.parse('Sure: {"replicas": 3, "deployment": "web"}')
    b = schema.parse('```json\n{"deployment": "web", "replicas": "3", "confidence": 0.9}\n```')
    assert a is not None and b is not None
    assert a.key == b.key == '{"deployment":"web","replicas":3}'
    assert b.confidence == 0.9 and isinstance(b.value, Scale) and b.value.replicas == 3
    wrapped = schema.parse('{"answer": {"deployment": "web", "replicas": 3}, "confidence": 0.4}')
    assert wrapped is not None and wrapped.key == a.key and wrapped.confidence == 0.4


@pytest.mark.parametrize(
    "reply", ["no json here", '{"deployment": "web"}', '{"deployment": "web", "replicas": "x"}']
)
def test_object_replies_that_abstain(reply: str) -> None:
    assert ObjectSchema(Scale).parse(reply) is None


def test_schemas_round_trip_through_json() -> None:
    labels = schema_from_json(SAFETY.to_json())
    assert labels == SAFETY
    obj = schema_from_json({"type": "object", "name": "Scale", "fields": {"n": "int", "d": "str"}})
    assert isinstance(obj, ObjectSchema)
    again = schema_from_json(obj.to_json())
    parsed = again.parse('{"n": 2, "d": "x"}')
    assert parsed is not None and parsed.key == '{"d":"x","n":2}'
    with pytest.raises(SchemaError):
        schema_from_json({"type": "object", "fields": {"n": "complex"}})
    with pytest.raises(SchemaError):
        schema_from_json({"type": "regex"})
