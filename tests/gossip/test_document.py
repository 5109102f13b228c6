"""ReplicatedDoc: local transactions yield exact updates; bad update bytes never touch the document."""

from __future__ import annotations

import random

import pytest

from patterns.core.exceptions import ConfigError
from patterns.gossip.document import ReplicatedDoc, RootKind
from patterns.gossip.exceptions import MalformedUpdateError
from patterns.gossip.statevec import checksum

SHORT_ROOTS = {"m": RootKind.MAP, "a": RootKind.ARRAY, "t": RootKind.TEXT}
# Found by fuzzing: a bit-flipped update (valid CRC) that makes yrs 0.28 panic while
# integrating it into a document holding PANIC_BASE (client 1's first transaction).
PANIC_UPDATE = bytes.fromhex(
    "010001000101017403840102086c6f207f6f726c642501016d017801a8010b017c4000000001010200030b01"
)


def _base() -> tuple[ReplicatedDoc, bytes]:
    src = ReplicatedDoc(1, SHORT_ROOTS)

    def first(_doc: object) -> None:
        src.text("t").insert(0, "hello world")
        src.map("m")["x"] = 1

    _, update = src.transact(first)
    assert update is not None
    return src, update


def test_transaction_update_reproduces_exactly_that_change() -> None:
    src, first = _base()
    _, second = src.transact(lambda d: src.array("a").extend([1, "two"]))
    assert second is not None
    dst = ReplicatedDoc(2, SHORT_ROOTS)
    assert dst.apply_remote(first, checksum(first)) is True
    assert dst.snapshot() == {"m": {"x": 1.0}, "a": [], "t": "hello world"}
    assert dst.apply_remote(second, checksum(second)) is True
    assert dst.snapshot() == src.snapshot()
    assert dst.apply_remote(second) is False  # a duplicate changes nothing
    assert src.transact(lambda d: None) == (None, None)  # an empty transaction has no update


def test_redundant_deletions_are_not_reported_as_changes() -> None:
    src, first = _base()
    dst = ReplicatedDoc(2, SHORT_ROOTS)
    dst.apply_remote(first)
    _, delete = src.transact(lambda d: src.map("m").pop("x"))
    assert delete is not None
    assert dst.apply_remote(delete) is True
    # pycrdt fires a transaction event again here; the document did not change
    assert dst.apply_remote(delete) is False
    assert dst.apply_remote(src.full_update()) is False


def test_unknown_root_is_a_config_error() -> None:
    doc = ReplicatedDoc(3)
    with pytest.raises(ConfigError, match="no text root named 'nope'"):
        doc.text("nope")
    with pytest.raises(ConfigError):
        doc.map("text")  # exists, but is a text
    with pytest.raises(ConfigError):
        ReplicatedDoc(3, {})


def _assert_rejected_and_unchanged(doc: ReplicatedDoc, update: bytes, crc: int | None) -> None:
    state, content, fp = doc.state, doc.snapshot(), doc.fingerprint
    with pytest.raises(MalformedUpdateError):
        doc.apply_remote(update, crc)
    assert (doc.state, doc.snapshot(), doc.fingerprint) == (state, content, fp)


def test_corrupted_bytes_fail_the_checksum_and_change_nothing() -> None:
    src, first = _base()
    _, second = src.transact(lambda d: src.map("m").update({"y": "z" * 40}))
    assert second is not None
    dst = ReplicatedDoc(2, SHORT_ROOTS)
    dst.apply_remote(first)
    rng = random.Random(5)
    for _ in range(200):
        bad = bytearray(second)
        i = rng.randrange(len(bad))
        bad[i] ^= 1 << rng.randrange(8)
        _assert_rejected_and_unchanged(dst, bytes(bad), checksum(second))


def test_every_truncation_is_rejected_even_with_a_matching_checksum() -> None:
    src, _ = _base()
    full = src.full_update()
    dst = ReplicatedDoc(2, SHORT_ROOTS)
    for cut in range(len(full)):
        part = full[:cut]
        _assert_rejected_and_unchanged(dst, part, checksum(part))
        _assert_rejected_and_unchanged(dst, part, checksum(full))
    assert dst.snapshot() == {"m": {}, "a": [], "t": ""}


def test_pycrdt_panic_on_garbage_is_mapped_and_the_document_stays_usable() -> None:
    _, first = _base()
    dst = ReplicatedDoc(3, SHORT_ROOTS)
    dst.apply_remote(first)
    _assert_rejected_and_unchanged(dst, PANIC_UPDATE, checksum(PANIC_UPDATE))
    _, more = dst.transact(lambda d: dst.map("m").update({"after": True}))
    assert more is not None
    assert dst.snapshot()["m"] == {"x": 1.0, "after": True}


def test_fuzzed_updates_with_valid_checksums_never_half_apply() -> None:
    # Bit flips that still decode are valid (if odd) updates; the rest must be refused
    # without touching the document.
    src, first = _base()
    full = src.full_update()
    rng = random.Random(11)
    rejected = 0
    for _ in range(300):
        dst = ReplicatedDoc(4, SHORT_ROOTS)
        dst.apply_remote(first)
        bad = bytearray(full)
        for _ in range(rng.randint(1, 3)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        state, content = dst.state, dst.snapshot()
        try:
            dst.apply_remote(bytes(bad), checksum(bytes(bad)))
        except MalformedUpdateError:
            rejected += 1
            assert (dst.state, dst.snapshot()) == (state, content)
    assert rejected > 50


def test_rotating_the_client_id_keeps_the_content() -> None:
    src, _ = _base()
    before = src.snapshot()
    src.rotate_client_id(99)
    assert src.client_id == 99
    assert src.snapshot() == before
    _, update = src.transact(lambda d: src.map("m").update({"new": 1}))
    assert update is not None and 99 in src.state_vector
