"""lib0 state vectors and delete sets: decoding, canonical forms, fingerprints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patterns.gossip.document import ReplicatedDoc
from patterns.gossip.exceptions import MalformedUpdateError
from patterns.gossip.statevec import (
    canonical_delete_set,
    decode_state_vector,
    dominates,
    encode_state_vector,
    fingerprint,
    has_structs_missing_from,
    read_var_uints,
    write_var_uint,
)

U64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(st.lists(U64, max_size=20))
def test_varuints_round_trip(values: list[int]) -> None:
    assert read_var_uints(b"".join(write_var_uint(v) for v in values)) == values


@given(st.dictionaries(st.integers(1, 2**53), st.integers(0, 2**32), max_size=30))
def test_state_vectors_round_trip(sv: dict[int, int]) -> None:
    assert decode_state_vector(encode_state_vector(sv)) == sv


def test_every_truncation_of_a_state_vector_is_rejected() -> None:
    data = encode_state_vector({2**50 + 3: 700, 9: 1, 2**40: 2**30})
    for cut in range(len(data)):
        with pytest.raises(MalformedUpdateError):
            decode_state_vector(data[:cut])
    with pytest.raises(MalformedUpdateError):
        decode_state_vector(data + b"\x00")
    with pytest.raises(MalformedUpdateError):
        read_var_uints(b"\xff" * 11)  # a varuint longer than 64 bits


def _ds_update(entries: list[tuple[int, list[tuple[int, int]]]]) -> bytes:
    parts = [write_var_uint(0), write_var_uint(len(entries))]
    for client, ranges in entries:
        parts += [write_var_uint(client), write_var_uint(len(ranges))]
        for clock, length in ranges:
            parts += [write_var_uint(clock), write_var_uint(length)]
    return b"".join(parts)


def test_delete_sets_are_canonical_whatever_the_client_order_and_range_split() -> None:
    a = _ds_update([(7, [(0, 2), (2, 3)]), (3, [(10, 1)])])
    b = _ds_update([(3, [(10, 1)]), (7, [(0, 5)])])
    c = _ds_update([(3, [(10, 1)]), (7, [(0, 4)])])
    assert a != b
    assert canonical_delete_set(a) == canonical_delete_set(b)
    assert canonical_delete_set(c) != canonical_delete_set(b)
    with pytest.raises(MalformedUpdateError):
        canonical_delete_set(b"\x01" + a[1:])  # carries structs
    with pytest.raises(MalformedUpdateError):
        canonical_delete_set(a[:-1])


def test_fingerprints_of_equal_documents_match_and_deletions_change_them() -> None:
    x, y = ReplicatedDoc(11), ReplicatedDoc(12)
    ux = x.transact(lambda d: x.map().update({"a": 1, "b": 2}))[1]
    uy = y.transact(lambda d: y.text().insert(0, "hello"))[1]
    assert ux is not None and uy is not None
    x.apply_remote(uy)
    y.apply_remote(ux)
    assert x.snapshot() == y.snapshot()
    assert x.fingerprint == y.fingerprint
    assert x.fingerprint == fingerprint(x.state, x.delete_set)
    before_sv = dict(x.state_vector)
    x.transact(lambda d: x.map().pop("a"))
    assert x.state_vector == before_sv  # a deletion does not move the state vector ...
    assert x.fingerprint != y.fingerprint  # ... but it changes the fingerprint
    assert x.ds_crc != y.ds_crc


def test_dominance() -> None:
    assert dominates({1: 5, 2: 3}, {1: 5})
    assert not dominates({1: 4}, {1: 5})
    assert has_structs_missing_from({3: 1}, {1: 9})
    assert not has_structs_missing_from({}, {1: 9})
