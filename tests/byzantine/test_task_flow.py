"""The byzantine_commit task body and the demo flow, run for real under the Prefect harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo_byzantine import DEMO_OPERATIONS, byzantine_demo
from patterns.byzantine import (
    ByzantineSettings,
    CertificateError,
    Get,
    Put,
    RequestTooLargeError,
    decode_result,
    init_cluster,
    verify_commit_certificate,
)
from patterns.core.exceptions import ConfigError
from patterns.core.keys import VerifyKey
from tasks.byzantine import byzantine_commit


def test_task_body_starts_a_local_cluster_and_returns_certified_results() -> None:
    report = byzantine_commit.fn([Put("k", "v1"), Put("k", "v2"), Get("k")])
    assert report.runtime == "local-quic" and report.f == 1 and len(report.verify_keys) == 4
    assert [decode_result(r.result).value for r in report.results] == [None, "v1", "v2"]
    assert [r.seq for r in report.results] == sorted(r.seq for r in report.results)
    assert report.verify() == 3
    keys = [VerifyKey(k) for k in report.verify_keys]
    first = report.results[0].certificate
    assert first is not None
    verify_commit_certificate(first, keys, request=report.results[0].request_digest)
    with pytest.raises(CertificateError):  # it proves only its own request
        verify_commit_certificate(first, keys, request=report.results[2].request_digest)


def test_task_body_refuses_an_oversized_operation_without_retrying() -> None:
    settings = ByzantineSettings(max_request_bytes=64)
    with pytest.raises(RequestTooLargeError):
        byzantine_commit.fn([Put("k", "x" * 100)], settings=settings)


def test_task_body_rejects_a_missing_cluster_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        byzantine_commit.fn([Get("k")], cluster_file=str(tmp_path / "nope.json"))


def test_cluster_files_are_written_and_reloaded(tmp_path: Path) -> None:
    cf = init_cluster(tmp_path / "cl", f=1, clients=2, base_port=17600)
    assert cf.config.n == 4 and sorted(cf.config.clients) == [4, 5]
    assert set(cf.addresses) == {0, 1, 2, 3, 4, 5}
    assert cf.node_keys(0).signing_key is not None and cf.node_keys(4).signing_key is None
    assert (cf.directory / "keys" / "node-0.json").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="already holds"):
        init_cluster(tmp_path / "cl")


def test_demo_flow_commits_and_publishes_certificates() -> None:
    report = byzantine_demo()
    assert len(report.results) == len(DEMO_OPERATIONS)
    assert report.verify() == len(DEMO_OPERATIONS)
    values = [decode_result(r.result).value for r in report.results]
    assert values[2] == "rollout-undo:rev-41" and values[4] == "cordon"
