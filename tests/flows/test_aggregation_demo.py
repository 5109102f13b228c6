"""The aggregation task bodies and demo flow, run for real under the Prefect harness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.demo_aggregation import aggregation_demo
from patterns.aggregation.exceptions import InvalidValueError
from tasks.aggregation import tree_aggregate, tree_aggregate_protocol, tree_aggregate_quic


def test_tree_aggregate_task_body_reports_coverage() -> None:
    values = np.arange(10_000, dtype=float)
    res = tree_aggregate.fn(values, k=8, dead_fraction=0.1, seed=2)
    assert 8500 < res.coverage < 9500
    assert res.summary.moments.count == res.coverage
    with pytest.raises(InvalidValueError):
        tree_aggregate.fn(np.array([1.0, np.nan]))


def test_protocol_task_body_excludes_crashed_internal_nodes() -> None:
    report = tree_aggregate_protocol.fn([1.0] * 100, k=4, crashed=[1], seed=0)
    assert report.result is not None
    assert report.coverage == 99 and report.result.summary.moments.total == 99.0


def test_quic_task_body_aggregates_over_real_connections(tmp_path: Path) -> None:
    values = [float(i % 50) for i in range(30)]
    report = tree_aggregate_quic.fn(values, str(tmp_path / "certs"), k=4)
    assert report.runtime == "quic" and report.coverage == 30
    assert report.result is not None
    histogram = report.result.summary.histogram
    assert histogram is not None and sum(histogram.counts) == 30  # the task's latency spec
    assert report.result.summary.moments.total == sum(values)


def test_demo_flow_aggregates_and_reports_coverage() -> None:
    row = aggregation_demo(agents=20_000, k=8, dead_fraction=0.01, protocol_nodes=100, seed=1)
    assert row["agents"] == 20_000
    assert isinstance(row["coverage"], int) and 19_500 < row["coverage"] < 20_000
    assert row["protocol_coverage"] == 98  # nodes 1 and 2 crash before reporting; 33 is a leaf
