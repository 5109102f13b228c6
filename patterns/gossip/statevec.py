"""Yjs state vectors and delete sets (lib0 v1 encoding): decoded, compared, made canonical."""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Mapping
from functools import lru_cache

from patterns.gossip.exceptions import MalformedUpdateError

StateVector = dict[int, int]
"""``client id -> clock``: the number of structs of each client a document has integrated."""

DeleteSet = dict[int, list[tuple[int, int]]]
"""``client id -> [(clock, length), ...]``: the deleted ranges of each client's structs."""

# yrs encodes state vectors and delete sets from hash maps, so two equal documents
# may list clients in different orders. The canonical forms here (clients ascending,
# delete ranges sorted and merged, numbers as little-endian u64) give equal documents
# equal bytes; they feed fingerprints and delete-set CRCs, never pycrdt.
_MAX_VARUINT_SHIFT = 63  # lib0 varuints in Yjs encode at most 64-bit numbers
_MAX_U64 = (1 << 64) - 1
_CACHE_ENTRIES = 8192


def read_var_uints(data: bytes) -> list[int]:
    """Every lib0 variable-length unsigned integer in ``data``, in order.

    Raises:
        MalformedUpdateError: the bytes end inside a number, or one is longer than 64 bits.
    """
    out: list[int] = []
    append = out.append
    value = 0
    shift = 0
    for byte in data:
        if byte < 0x80:
            append(value | (byte << shift))
            value = 0
            shift = 0
        else:
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > _MAX_VARUINT_SHIFT:
                raise MalformedUpdateError("varuint longer than 64 bits")
    if shift:
        raise MalformedUpdateError("truncated varuint")
    return out


def write_var_uint(value: int) -> bytes:
    """Encode ``value`` (>= 0) as a lib0 varuint."""
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _sv_pairs(data: bytes) -> tuple[int, ...]:
    nums = read_var_uints(data)
    if not nums or len(nums) != 1 + 2 * nums[0]:
        raise MalformedUpdateError(f"invalid state vector of {len(data)} bytes")
    return tuple(nums[1:])


def decode_state_vector(data: bytes) -> StateVector:
    """Decode ``Doc.get_state()`` bytes into a fresh dict.

    Raises:
        MalformedUpdateError: truncated, trailing or otherwise invalid bytes.
    """
    pairs = _cached_sv_pairs(data)
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


@lru_cache(maxsize=_CACHE_ENTRIES)
def _cached_sv_pairs(data: bytes) -> tuple[int, ...]:
    return _sv_pairs(data)


def encode_state_vector(sv: Mapping[int, int]) -> bytes:
    """Encode a state vector as lib0 v1 (clients ascending)."""
    parts = [write_var_uint(len(sv))]
    for client in sorted(sv):
        parts.append(write_var_uint(client))
        parts.append(write_var_uint(sv[client]))
    return b"".join(parts)


def decode_delete_set(nums: list[int], pos: int) -> tuple[DeleteSet, int]:
    """Decode a delete set from decoded varuints ``nums`` at ``pos``; returns it and the end.

    Raises:
        MalformedUpdateError: the numbers end early.
    """
    try:
        clients = nums[pos]
        pos += 1
        ds: DeleteSet = {}
        for _ in range(clients):
            client, count = nums[pos], nums[pos + 1]
            pos += 2
            if pos + 2 * count > len(nums):
                raise MalformedUpdateError("delete set ends early")
            ranges = ds.setdefault(client, [])
            ranges.extend(
                zip(
                    nums[pos : pos + 2 * count : 2],
                    nums[pos + 1 : pos + 2 * count : 2],
                    strict=True,
                )
            )
            pos += 2 * count
    except IndexError as err:
        raise MalformedUpdateError("delete set ends early") from err
    return ds, pos


def _canonical_ds_numbers(ds: DeleteSet) -> list[int]:
    flat: list[int] = []
    for client in sorted(ds):
        merged: list[tuple[int, int]] = []
        for clock, length in sorted(ds[client]):
            if length <= 0:
                continue
            if merged and clock <= merged[-1][0] + merged[-1][1]:
                start, old = merged[-1]
                merged[-1] = (start, max(old, clock + length - start))
            else:
                merged.append((clock, length))
        if merged:
            flat.append(client)
            flat.append(len(merged))
            for clock, length in merged:
                flat.append(clock)
                flat.append(length)
    return flat


def _u64_bytes(nums: list[int]) -> bytes:
    if any(n > _MAX_U64 for n in nums):
        raise MalformedUpdateError("number larger than 64 bits")
    arr = array("Q", nums)
    if sys.byteorder == "big":
        arr.byteswap()  # little-endian on every machine, so CRCs agree across platforms
    return arr.tobytes()


@lru_cache(maxsize=_CACHE_ENTRIES)
def canonical_delete_set(structless_update: bytes) -> bytes:
    """Canonical bytes of the delete set of an update without structs (``get_update(own state)``).

    Raises:
        MalformedUpdateError: the update carries structs or does not decode.
    """
    nums = read_var_uints(structless_update)
    if not nums or nums[0] != 0:
        raise MalformedUpdateError("expected an update without structs")
    ds, end = decode_delete_set(nums, 1)
    if end != len(nums):
        raise MalformedUpdateError("trailing bytes after a delete set")
    return _u64_bytes(_canonical_ds_numbers(ds))


@lru_cache(maxsize=_CACHE_ENTRIES)
def canonical_state(state: bytes) -> bytes:
    """Canonical bytes of an encoded state vector (clients ascending)."""
    pairs = _cached_sv_pairs(state)
    flat: list[int] = []
    for client, clock in sorted(zip(pairs[::2], pairs[1::2], strict=True)):
        flat.append(client)
        flat.append(clock)
    return _u64_bytes([len(flat), *flat])


def fingerprint(state: bytes, structless_update: bytes) -> bytes:
    """Equal iff two documents integrated the same structs and deleted the same ranges."""
    return canonical_state(state) + canonical_delete_set(structless_update)


def has_structs_missing_from(mine: Mapping[int, int], theirs: Mapping[int, int]) -> bool:
    """True if ``mine`` counts a struct that ``theirs`` lacks (mine is not dominated)."""
    get = theirs.get
    return any(clock > get(client, 0) for client, clock in mine.items())


def dominates(big: Mapping[int, int], small: Mapping[int, int]) -> bool:
    """True if ``big`` has every struct ``small`` has."""
    return not has_structs_missing_from(small, big)


def checksum(data: bytes) -> int:
    """CRC-32 of ``data``: detects corruption of update bytes in transit."""
    return zlib.crc32(data)
