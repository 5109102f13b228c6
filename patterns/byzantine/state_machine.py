"""The replicated state machine interface and its worked example, a key-value store.

A :class:`StateMachine` is deterministic: the same operations in the same
order give the same results and the same snapshot bytes on every replica
(OSDI section 4: the service is a deterministic state machine). Operations and
results are opaque bytes to the replication layer; the key-value store
encodes them as the msgspec structs below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec


class StateMachine(Protocol):
    """What a replica replicates."""

    def apply(self, op: bytes) -> bytes:
        """Execute one operation and return its result; must be deterministic and total
        (a malformed operation yields an error result, never an exception)."""
        ...

    def snapshot(self) -> bytes:
        """Deterministic bytes of the whole state (equal states give equal bytes)."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the state with one produced by :meth:`snapshot`."""
        ...


StateMachineFactory = Callable[[], StateMachine]
"""Builds a fresh, empty state machine."""


# -- key-value operations ---------------------------------------------------------------
class Put(msgspec.Struct, frozen=True, tag="put", array_like=True):
    """Set ``key`` to ``value``."""

    key: str
    value: str


class Get(msgspec.Struct, frozen=True, tag="get", array_like=True):
    """Read ``key``."""

    key: str


class Delete(msgspec.Struct, frozen=True, tag="delete", array_like=True):
    """Remove ``key``."""

    key: str


class CompareAndSet(msgspec.Struct, frozen=True, tag="cas", array_like=True):
    """Set ``key`` to ``value`` if it currently holds ``expected`` (None: absent)."""

    key: str
    expected: str | None
    value: str


KvOp = Put | Get | Delete | CompareAndSet


class KvResult(msgspec.Struct, frozen=True, array_like=True):
    """The result of one key-value operation.

    ``ok`` is False for a failed compare-and-set or an undecodable operation;
    ``value`` is the value read (Get), the previous value (Put, Delete,
    CompareAndSet), or None when the key was absent. ``error`` explains a
    rejected operation.
    """

    ok: bool
    value: str | None
    error: str = ""


_op_encoder = msgspec.msgpack.Encoder()
_op_decoder: msgspec.msgpack.Decoder[KvOp] = msgspec.msgpack.Decoder(KvOp)
_result_decoder = msgspec.msgpack.Decoder(KvResult)
_state_decoder = msgspec.msgpack.Decoder(list[tuple[str, str]])


def encode_op(op: KvOp) -> bytes:
    """Bytes of a key-value operation, to submit to the cluster."""
    return _op_encoder.encode(op)


def decode_op(data: bytes) -> KvOp:
    """Inverse of :func:`encode_op`.

    Raises:
        msgspec.DecodeError: not a key-value operation.
    """
    return _op_decoder.decode(data)


def decode_result(data: bytes) -> KvResult:
    """Decode a key-value result returned by the cluster.

    Raises:
        msgspec.DecodeError: not a key-value result.
    """
    return _result_decoder.decode(data)


class KeyValueStore:
    """A string-to-string map as a deterministic state machine."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.applied = 0

    def apply(self, op: bytes) -> bytes:
        """Execute one encoded :data:`KvOp`; return an encoded :class:`KvResult`."""
        self.applied += 1
        try:
            cmd = _op_decoder.decode(op)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return _op_encoder.encode(KvResult(False, None, f"bad operation: {err}"))
        data = self.data
        if isinstance(cmd, Get):
            res = KvResult(True, data.get(cmd.key))
        elif isinstance(cmd, Put):
            res = KvResult(True, data.get(cmd.key))
            data[cmd.key] = cmd.value
        elif isinstance(cmd, Delete):
            res = KvResult(True, data.pop(cmd.key, None))
        else:
            current = data.get(cmd.key)
            if current == cmd.expected:
                data[cmd.key] = cmd.value
                res = KvResult(True, current)
            else:
                res = KvResult(False, current)
        return _op_encoder.encode(res)

    def snapshot(self) -> bytes:
        """Sorted ``(key, value)`` pairs as msgpack."""
        return _op_encoder.encode(sorted(self.data.items()))

    def restore(self, data: bytes) -> None:
        """Replace the map with a snapshot's."""
        self.data = dict(_state_decoder.decode(data))
