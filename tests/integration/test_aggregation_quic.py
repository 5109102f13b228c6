"""Tree aggregation over real QUIC with mutual TLS on loopback: 128 nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from patterns.aggregation.runner import run_tree_quic

pytestmark = pytest.mark.quic


async def test_128_nodes_aggregate_exactly_over_quic(tmp_path: Path) -> None:
    values = [float(i % 13) for i in range(128)]
    report = await run_tree_quic(values, tmp_path / "certs", k=8, timeout_s=60.0)
    assert report.result is not None and report.result.complete
    assert report.result.summary.moments.total == sum(values)
    assert report.result.summary.moments.count == 128
    assert report.partial_messages == 127  # one upward message per non-root agent
    assert report.rejected == 0
