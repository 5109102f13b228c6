"""Wire messages: what the collector may skip."""

from __future__ import annotations

import gc

import msgspec

from patterns.byzantine.messages import PBFT_MESSAGES, Request, pbft_codec

IMMUTABLE = (
    msgspec.inspect.IntType,
    msgspec.inspect.BoolType,
    msgspec.inspect.BytesType,
    msgspec.inspect.NoneType,
)


def _immutable(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, IMMUTABLE):
        return True
    if isinstance(t, msgspec.inspect.VarTupleType):
        return _immutable(t.item_type)
    if isinstance(t, msgspec.inspect.UnionType):
        return all(_immutable(x) for x in t.types)
    if isinstance(t, msgspec.inspect.StructType):
        return t.cls.__struct_config__.frozen and all(_immutable(f.type) for f in t.fields)
    return False


def test_untracked_messages_cannot_be_part_of_a_reference_cycle() -> None:
    untracked = [m for m in PBFT_MESSAGES if not m.__struct_config__.gc]
    assert Request in untracked
    for cls in untracked:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        assert _immutable(info), f"{cls.__name__} holds a mutable field: it must stay gc=True"


def test_decoded_requests_are_not_tracked() -> None:
    codec = pbft_codec()
    req = codec.decode(codec.encode(Request(5, 1, b"op", False, (b"m" * 16,) * 4)))
    assert isinstance(req, Request) and not gc.is_tracked(req)
