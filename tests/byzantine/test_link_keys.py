"""MacKeyring on per-link session keys (what the QUIC runtime installs), without a network."""

from __future__ import annotations

import hmac
import itertools
import random

import pytest

from patterns.byzantine import Put, encode_op
from patterns.byzantine.auth import MAC_BYTES, MacKeyring, _Hmac, generate_cluster
from patterns.byzantine.client import Client
from patterns.byzantine.messages import Prepare, PrePrepare, Status, status_payload
from patterns.byzantine.replica import Replica
from patterns.net.linkkeys import LinkKeys, pair_key


def _counter_source() -> object:
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


def _rings() -> tuple[dict[int, MacKeyring], dict[int, LinkKeys]]:
    config, keys = generate_cluster(1, clients=[4, 5], seed=3, hosts={5: 4})
    links = {node: LinkKeys(_counter_source()) for node in (0, 1, 2, 3, 4)}  # type: ignore[arg-type]
    rings = {}
    for nid, k in keys.items():
        ring = MacKeyring(k, config)
        ring.use_links(links[config.host_of(nid)])
        rings[nid] = ring
    return rings, links


def _connect(links: dict[int, LinkKeys], a: int, b: int) -> None:
    """What a connection from a to b does: b learns a's send key from the Hello."""
    links[b].accept(a, links[a].send_key(b))


def test_macs_check_only_once_the_key_arrived() -> None:
    rings, links = _rings()
    mac = rings[0].mac(1, b"data")
    assert not rings[1].check(0, b"data", mac)  # no Hello from 0 yet: nothing verifies
    _connect(links, 0, 1)
    assert rings[1].check(0, b"data", mac)
    assert not rings[1].check(0, b"other", mac)
    assert not rings[2].check(0, b"data", mac)  # a MAC for 1 is not one for 2


def test_hosted_clients_have_keys_of_their_own() -> None:
    rings, links = _rings()
    _connect(links, 4, 2)
    mac4, mac5 = rings[4].mac(2, b"req"), rings[5].mac(2, b"req")
    assert mac4 != mac5  # two logical clients on one link
    assert rings[2].check(4, b"req", mac4) and rings[2].check(5, b"req", mac5)
    assert not rings[2].check(5, b"req", mac4)  # client 4 cannot speak for client 5
    _connect(links, 2, 4)
    assert rings[5].check(2, b"reply", rings[2].mac(5, b"reply"))


def test_rotation_keeps_the_two_previous_keys() -> None:
    rings, links = _rings()
    _connect(links, 0, 1)
    old = rings[0].mac(1, b"m")
    links[0].rotate(1)
    _connect(links, 0, 1)
    new = rings[0].mac(1, b"m")
    assert new != old
    assert rings[1].check(0, b"m", new) and rings[1].check(0, b"m", old)  # in flight
    for _ in range(2):
        links[0].rotate(1)
        _connect(links, 0, 1)
    assert not rings[1].check(0, b"m", old)  # three reconnects later it is gone


def test_a_restarted_peer_s_old_keys_are_forgotten() -> None:
    rings, links = _rings()
    _connect(links, 0, 1)
    mac = rings[0].mac(1, b"m")
    links[1].forget(0)
    assert not rings[1].check(0, b"m", mac)


def test_static_keys_are_not_used_once_links_are() -> None:
    config, keys = generate_cluster(1, seed=3)
    static = MacKeyring(keys[0], config)
    linked = MacKeyring(keys[1], config)
    linked.use_links(LinkKeys())
    assert not linked.check(0, b"m", static.mac(1, b"m"))


def test_accept_refuses_a_malformed_key() -> None:
    with pytest.raises(ValueError, match="node 7"):
        LinkKeys().accept(7, b"short")


def test_pair_keys_are_directional() -> None:
    k = bytes(32)
    assert pair_key(k, 0, 1) != pair_key(k, 1, 0)


def _cluster_with_a_request(
    late: tuple[int, int] | None = None,
) -> tuple[dict[int, Replica], dict[int, LinkKeys]]:
    """4 replicas and client 4 on link keys, every hello delivered but ``late``; the
    client's first request delivered to the primary."""
    config, keys = generate_cluster(1, clients=[4], seed=9)
    replicas = {r: Replica(r, config, keys[r]) for r in range(4)}
    client = Client(4, config, keys[4])
    links = {n: LinkKeys(random.Random(n).randbytes) for n in range(5)}
    for r, rep in replicas.items():
        rep.use_link_keys(links[r])
        rep.start(0.0)
    client.use_link_keys(links[4])
    for a in range(5):
        for b in range(5):
            if a != b and (a, b) != late:
                links[b].accept(a, links[a].send_key(b))
    client.submit(encode_op(Put("k", "v")), 0.0)
    for dst, msg in client.drain_outbox():
        replicas[dst].receive(4, msg, 0.01)
    return replicas, links


def test_a_pre_prepare_waits_for_a_client_key_still_on_its_way() -> None:
    """Over QUIC a backup may get the primary's pre-prepare before the client's hello with
    its key: the pre-prepare is kept and replayed when the key arrives, not dropped."""
    replicas, links = _cluster_with_a_request(late=(4, 1))  # client's hello to 1 is late
    pp = [m for d, m in replicas[0].drain_outbox() if d == 1 and isinstance(m, PrePrepare)]
    assert len(pp) == 1
    backup = replicas[1]
    backup.receive(0, pp[0], 0.02)
    assert len(backup.keyless) == 1 and backup.rejected["bad_request_in_batch"] == 0
    assert not [m for _, m in backup.drain_outbox() if isinstance(m, Prepare)]
    links[1].accept(4, links[4].send_key(1))
    backup.link_key_arrived(4, 0.03)
    assert [m for _, m in backup.drain_outbox() if isinstance(m, Prepare)]
    assert not backup.keyless


def test_a_retransmitted_pre_prepare_carries_macs_under_the_current_keys() -> None:
    """A backup that restarted never knew the primary's old key: what the primary resends
    in answer to its status must be MACed again, or the backup can never prepare."""
    replicas, links = _cluster_with_a_request()
    replicas[0].drain_outbox()  # the first pre-prepare is lost
    links[0].rotate(3)  # the primary reconnected to 3 (say 3 restarted) ...
    links[3].forget(0)
    links[3].accept(0, links[0].send_key(3))  # ... and 3 knows only the new key
    auth = replicas[3].ring.authenticator(status_payload(0, True, 0, 0, 3))
    status = Status(0, True, 0, 0, 3, auth)
    replicas[0].receive(3, status, 5.0)
    resent = [m for d, m in replicas[0].drain_outbox() if d == 3 and isinstance(m, PrePrepare)]
    assert resent
    replicas[3].receive(0, resent[0], 5.01)
    assert replicas[3].rejected["bad_mac"] == 0
    assert [m for _, m in replicas[3].drain_outbox() if isinstance(m, Prepare)]


@pytest.mark.parametrize("key_bytes", [0, 1, 32, 63, 64, 65, 200])
def test_precomputed_hmac_states_give_hmac_sha256(key_bytes: int) -> None:
    rng = random.Random(key_bytes)
    key = rng.randbytes(key_bytes)
    state = _Hmac(key)
    for size in (0, 1, 55, 56, 64, 1000):
        data = rng.randbytes(size)
        assert state.tag(data) == hmac.digest(key, data, "sha256")[:MAC_BYTES]


def test_a_rotated_send_key_is_used_at_once() -> None:
    rings, links = _rings()
    _connect(links, 0, 1)
    before = rings[0].mac(1, b"m")  # the state for the first key is now cached
    links[0].rotate(1)
    after = rings[0].mac(1, b"m")
    assert after != before
    assert not rings[1].check(0, b"m", after)  # not until the next Hello carries it
    _connect(links, 0, 1)
    assert rings[1].check(0, b"m", after)


def test_link_keys_version_moves_on_every_change_and_only_then() -> None:
    links = LinkKeys(_counter_source())  # type: ignore[arg-type]
    seen = [links.version]
    for change in (
        lambda: links.send_key(1),
        lambda: links.rotate(1),
        lambda: links.accept(2, bytes(32)),
        lambda: links.forget(2),
    ):
        change()
        assert links.version > seen[-1]
        seen.append(links.version)
    links.send_key(1)
    links.receive_keys(2)
    links.accept(3, bytes(32))
    links.accept(3, bytes(32))  # the same key again: nothing changed
    links.forget(4)  # nothing to forget
    assert links.version == seen[-1] + 1
