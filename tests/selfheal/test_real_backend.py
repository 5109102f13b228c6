"""The same loop on a real API server (kmock's emulator over HTTP) through the kubernetes client.

Writes default to server-side dry runs on a real cluster: the loop finds the cause,
votes, validates and dry-runs the fix, and nothing is persisted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.k8s.kinds import KINDS, Kind
from apps.k8s.real import RealCluster
from apps.k8s.settings import ClusterBackend, K8sSettings
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.loop import Healer
from apps.selfheal.settings import SelfHealSettings
from tests.k8s.apiserver import ApiServer
from tests.selfheal.helpers import catalog


@pytest.fixture
def broken_cluster() -> Iterator[ApiServer]:
    """An API server holding the objects of a simulated cluster in the middle of a bad rollout."""
    sc = catalog()["bad-image-tag"]
    sim = SimCluster.from_scenario(sc)
    sim.run_until(sc.ground_truth.detect_at_s)
    with ApiServer() as srv:

        def load() -> None:
            for kind in KINDS:
                for obj in sim.list(kind):
                    srv.handler.put(kind, obj)
            for m in sim.pod_metrics():
                srv.handler.put_raw("metrics.k8s.io", "v1beta1", "pods", m)

        srv.call(load)
        yield srv


def test_on_a_real_cluster_the_loop_dry_runs_the_fix_and_persists_nothing(
    broken_cluster: ApiServer, tmp_path: Path
) -> None:
    srv = broken_cluster
    k8s = K8sSettings(
        backend=ClusterBackend.REAL, api_url=srv.url, bearer_token="t", request_timeout_s=5
    )
    real = RealCluster.from_settings(k8s)
    healer = Healer(real, SelfHealSettings(confirm_polls=1), k8s, memory_dir=tmp_path)
    before = srv.call(lambda: srv.handler.find(Kind.DEPLOYMENT, "checkout", "shop"))
    try:
        assert healer.dry_run_only
        t = healer.tick()
    finally:
        healer.close()
    assert t is not None and t.outcome == "dry-run", t and t.notes
    assert t.hypotheses[0].ref == "Deployment shop/checkout"
    (ex,) = t.executions
    assert (
        ex.action.describe() == "kubectl -n shop rollout undo deployment/checkout --to-revision=1"
    )
    assert not ex.applied and "would apply" in ex.dry_run_message
    writes = srv.writes()
    assert writes and all(w.params.get("dryRun") == "All" for w in writes)
    assert srv.call(lambda: srv.handler.find(Kind.DEPLOYMENT, "checkout", "shop")) == before
