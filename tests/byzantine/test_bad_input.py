"""Bad input never crashes a replica: it is dropped and counted. Exactly-once, size limits, keys."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patterns.byzantine.auth import MacKeyring, generate_cluster
from patterns.byzantine.exceptions import RequestTooLargeError
from patterns.byzantine.messages import (
    PBFT_MESSAGES,
    Checkpoint,
    Commit,
    Prepare,
    Request,
    checkpoint_payload,
    commit_payload,
    pbft_codec,
    prepare_payload,
    request_digest_of,
)
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import cluster_keys
from patterns.core.exceptions import CodecError
from patterns.core.keys import SigningKey
from tests.byzantine.helpers import cluster, deliver, get, kv, put, run_ops


def test_oversized_request_is_refused_with_a_clear_error_and_never_sent() -> None:
    c = cluster(settings=ByzantineSettings(max_request_bytes=100))
    client = c.clients[0]
    with pytest.raises(RequestTooLargeError, match="101 bytes exceeds max_request_bytes=100"):
        c.submit(client, b"x" * 101)
    assert c.client(client).idle
    assert c.sim.stats.sent == 3 * 4  # only the replicas' startup status messages


def test_oversized_request_from_a_raw_client_is_dropped_and_counted() -> None:
    c = cluster(settings=ByzantineSettings(max_request_bytes=100))
    cid = c.clients[0]
    ring = MacKeyring(cluster_keys(1, (cid,), 0)[1][cid], c.config)
    op = b"y" * 200
    req = Request(cid, 1, op, False, ring.authenticator(request_digest_of(cid, 1, op, False)))
    deliver(c, 0, cid, req)
    assert c.replica(0).rejected["oversized_request"] == 1
    assert not c.replica(0).waiting


def test_wrongly_signed_unsigned_and_stale_messages_are_counted() -> None:
    c = cluster()
    run_ops(c, c.clients[0], [put("k", "v")] * 3)
    r1 = c.replica(1)
    seq = r1.last_executed + 1
    keys = cluster_keys(1, c.clients, 0)[1]
    sk = keys[2].signing_key
    assert sk is not None
    outsider = SigningKey.from_seed("not-a-replica")
    d = b"\x01" * 32
    ring = MacKeyring(keys[2], c.config)
    cases = [
        # a commit signed by a key that is not replica 2's
        ("bad_signature", Commit(0, seq, d, 2, outsider.sign(commit_payload(0, seq, d, 2)))),
        # an unsigned commit
        ("bad_signature", Commit(0, seq, d, 2, b"")),
        # a commit signed by replica 2 for another statement than the one it carries
        ("bad_signature", Commit(0, seq, d, 2, sk.sign(commit_payload(0, seq + 1, d, 2)))),
        # a prepare whose authenticator entry is not a MAC under the (1, 2) key
        ("bad_mac", Prepare(0, seq, d, 2, (b"\x00" * 16,) * 4)),
        # a prepare with a truncated authenticator
        ("bad_mac", Prepare(0, seq, d, 2, ())),
        # a well-signed checkpoint at or below the low watermark: a replay from the past
        (
            "stale",
            Checkpoint(
                r1.low, b"\x02" * 32, 2, sk.sign(checkpoint_payload(r1.low, b"\x02" * 32, 2))
            ),
        ),
        # a correctly authenticated prepare for a slot below the low watermark
        ("stale", Prepare(0, r1.low, d, 2, ring.authenticator(prepare_payload(0, r1.low, d, 2)))),
    ]
    for reason, msg in cases:
        before = r1.rejected[reason]
        deliver(c, 1, 2, msg)
        assert r1.rejected[reason] == before + 1, (reason, msg)
    assert r1.last_executed == seq - 1
    assert seq not in r1.slots or not r1.slots[seq].commits


def test_a_message_from_a_client_posing_as_a_replica_is_refused() -> None:
    c = cluster()
    cid = c.clients[0]
    deliver(c, 0, cid, Prepare(0, 1, b"\x01" * 32, cid, (b"",) * 4))
    assert c.replica(0).rejected["bad_sender"] == 1


def test_duplicate_request_is_answered_from_the_last_reply_not_re_executed() -> None:
    c = cluster()
    cid = c.clients[0]
    (first,) = run_ops(c, cid, [put("k", "v1")])
    ring = MacKeyring(cluster_keys(1, c.clients, 0)[1][cid], c.config)
    op = put("k", "v1")
    dup = Request(
        cid,
        first.timestamp,
        op,
        False,
        ring.authenticator(request_digest_of(cid, first.timestamp, op, False)),
    )
    applied = {r: c.replica(r).sm.applied for r in range(4)}  # type: ignore[attr-defined]
    c.sim.call(cid, lambda node, now: node.broadcast(dup))
    c.sim.run(max_time=c.sim.now + 1.0)
    for r in range(4):
        rep = c.replica(r)
        assert rep.sm.applied == applied[r]  # type: ignore[attr-defined]
        assert rep.redundant["duplicate_answered"] >= 1
    # an older timestamp than the last executed one is stale
    old_op = get("k")
    stale = Request(
        cid,
        first.timestamp - 1,
        old_op,
        False,
        ring.authenticator(request_digest_of(cid, first.timestamp - 1, old_op, False)),
    )
    deliver(c, 0, cid, stale)
    assert c.replica(0).rejected["stale"] == 1
    (second,) = run_ops(c, cid, [get("k")])
    assert kv(second).value == "v1"


def test_pairwise_mac_keys_are_shared_by_exactly_the_pair() -> None:
    config, keys = generate_cluster(1, [4], seed=3)
    k01 = MacKeyring(keys[0], config).key(1)
    assert k01 == MacKeyring(keys[1], config).key(0)
    assert k01 not in {MacKeyring(keys[2], config).key(p) for p in (0, 1, 3, 4)}
    assert MacKeyring(keys[0], config).key(99) is None
    other, other_keys = generate_cluster(1, [4], seed=4)
    assert MacKeyring(other_keys[0], other).key(1) != k01


message_strategy = st.sampled_from(PBFT_MESSAGES).flatmap(
    lambda cls: st.builds(
        cls,
        **{
            name: st.one_of(
                st.integers(-3, 70),
                st.binary(max_size=40),
                st.booleans(),
                st.just(()),
                st.just(None),
            )
            for name in cls.__struct_fields__
        },
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.data())
def test_random_messages_never_crash_a_replica(raw: st.DataObject) -> None:
    """Whatever decodes under the codec is dropped and counted, never raised."""
    c = _SHARED
    codec = pbft_codec()
    rep = c.replica(1)
    before = sum(rep.rejected.values()) + sum(rep.redundant.values())
    try:
        msg = raw.draw(message_strategy)
        msg = codec.decode(codec.encode(msg))
    except (CodecError, TypeError, msgspec.ValidationError, OverflowError):
        return  # the wire codec refuses it before any replica sees it
    state = (rep.view, rep.last_executed, rep.low)
    deliver(c, 1, 2, msg)
    after = sum(rep.rejected.values()) + sum(rep.redundant.values())
    assert after == before + 1
    assert (rep.view, rep.last_executed, rep.low) == state


def test_codec_refuses_garbage_bytes() -> None:
    codec = pbft_codec()
    with pytest.raises(CodecError):
        codec.decode(b"\x93\xa3zzz\x01\x02")
    with pytest.raises(CodecError):
        codec.decode(bytes(range(64)))


_SHARED = cluster()
