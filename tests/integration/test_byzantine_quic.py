"""PBFT over real QUIC with mutual TLS on loopback: 4 replicas, view change, catch-up, cluster files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from patterns.byzantine import (
    ByzantineSettings,
    Get,
    LocalCluster,
    Put,
    RequestTimeoutError,
    RequestTooLargeError,
    commit_async,
    decode_result,
    encode_op,
    init_cluster,
    serve,
    verify_audit_log,
    verify_commit_certificate,
)
from patterns.core.settings import QuicSettings
from patterns.net.ports import free_udp_ports

pytestmark = pytest.mark.quic

FAST = ByzantineSettings(
    view_change_timeout_s=0.3,
    status_interval_s=0.1,
    client_retry_s=0.2,
    checkpoint_interval=4,
    watermark_window=16,
)


def _values(results: list) -> list[str | None]:  # type: ignore[type-arg]
    return [decode_result(r.result).value for r in results]


async def test_four_replicas_commit_with_certificates(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    async with LocalCluster(
        tmp_path / "certs", f=1, settings=FAST, quic_settings=quic_settings
    ) as c:
        ops = [encode_op(Put("k", f"v{i}")) for i in range(6)] + [encode_op(Get("k"))]
        results = await c.submit(ops, want_certificate=True, timeout_s=20.0)
        assert _values(results) == [None, "v0", "v1", "v2", "v3", "v4", "v5"]
        for res in results:
            assert res.certificate is not None
            verify_commit_certificate(
                res.certificate, c.config.verify_keys, request=res.request_digest
            )
        await c.quic.run_until(
            lambda: len({c.replica(r).state_digest for r in range(4)}) == 1, 10.0
        )
        for r in range(4):
            rep = c.replica(r)
            assert rep.low >= 4 and rep.rejected["bad_mac"] == 0
            verify_audit_log(rep.committed_log(), c.config.verify_keys)
        stats = c.quic.stats()
        assert all(s.malformed_frames == 0 and s.auth_failures == 0 for s in stats.values())


async def test_primary_crash_triggers_a_view_change_and_a_restart_catches_up(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    async with LocalCluster(
        tmp_path / "certs", f=1, settings=FAST, quic_settings=quic_settings
    ) as c:
        await c.submit([encode_op(Put("k", "before"))], timeout_s=20.0)
        await c.stop_replica(0)
        results = await c.submit(
            [encode_op(Get("k")), encode_op(Put("k", "after"))], timeout_s=30.0
        )
        assert _values(results) == ["before", "before"]
        assert all(c.replica(r).view >= 1 for r in (1, 2, 3))
        await c.restart_replica(0)
        more = await c.submit([encode_op(Put(f"x{i}", "y")) for i in range(8)], timeout_s=30.0)
        assert len(more) == 8
        # the restarted replica learns the view from a NEW-VIEW and the state from
        # commit certificates or a checkpoint, both in answer to its status messages
        await c.quic.run_until(
            lambda: (
                c.replica(0).view == c.replica(1).view
                and c.replica(0).last_executed == c.replica(1).last_executed
                and c.replica(0).state_digest == c.replica(1).state_digest
            ),
            20.0,
        )


async def test_oversized_operations_are_refused(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    small = FAST.model_copy(update={"max_request_bytes": 32})
    async with LocalCluster(
        tmp_path / "certs", f=1, settings=small, quic_settings=quic_settings
    ) as c:
        with pytest.raises(RequestTooLargeError, match="exceeds max_request_bytes=32"):
            await c.submit([b"x" * 33])
        ok = await c.submit([encode_op(Put("k", "v"))], timeout_s=20.0)
        assert _values(ok) == [None]
        assert sum(c.replica(r).rejected["oversized_request"] for r in range(4)) == 0


async def test_a_quorum_down_means_a_timeout_not_a_wrong_answer(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    async with LocalCluster(
        tmp_path / "certs", f=1, settings=FAST, quic_settings=quic_settings
    ) as c:
        await c.submit([encode_op(Put("k", "v"))], timeout_s=20.0)
        await c.stop_replica(2)
        await c.stop_replica(3)
        with pytest.raises(RequestTimeoutError):
            await c.submit([encode_op(Get("k"))], timeout_s=1.5)


async def test_replicas_and_a_client_from_a_cluster_file(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    cf = init_cluster(tmp_path / "cluster", f=1, clients=1, ports=free_udp_ports(5), settings=FAST)
    stop = asyncio.Event()
    server = asyncio.ensure_future(
        serve(cf.path, cf.config.replicas, quic_settings=quic_settings, stop=stop)
    )
    try:
        report = await commit_async(
            [encode_op(Put("a", "1")), encode_op(Get("a"))],
            cluster_file=cf.path,
            quic_settings=quic_settings,
            timeout_s=20.0,
        )
        assert report.runtime == "cluster-file"
        assert _values(list(report.results)) == [None, "1"]
        assert report.verify() == 2
    finally:
        stop.set()
        await server
