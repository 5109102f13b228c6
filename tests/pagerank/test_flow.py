"""The flow (in-process and Dask), the tasks and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from apps.pagerank.__main__ import main
from apps.pagerank.edges import ArrayEdges
from apps.pagerank.engine import CrashPlan, PageRankParams, run_pagerank
from apps.pagerank.exceptions import UnknownPortError
from apps.pagerank.partition import build_partitions
from apps.pagerank.settings import PageRankSettings
from flows.pagerank import pagerank
from tasks.pagerank import power_iterate


def test_maritime_flow_in_process(tmp_path: Path) -> None:
    out = pagerank(from_ports=["Rotterdam"], top=5, output_dir=str(tmp_path), partitions=4)
    assert out["converged"] and out["backend"] == "inprocess" and out["blocks"] == 4
    assert out["top_ports"][0]["name"] == "Rotterdam (NLRTM)" and len(out["top"]) == 5
    assert "Rotterdam (NLRTM)" in [r["name"] for r in out["top"]]
    ranks = pq.read_table(out["files"]["ranks"])
    assert ranks.num_rows == out["nodes"] and abs(sum(ranks.column("rank").to_pylist()) - 1) < 1e-9
    for key in ("convergence", "map"):
        assert Path(out["files"][key]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["chokepoints"]


def test_flow_refuses_an_unknown_port(tmp_path: Path) -> None:
    with pytest.raises(UnknownPortError, match="Atlantis"):
        pagerank(from_ports=["Atlantis"], output_dir=str(tmp_path))


@pytest.mark.parametrize("pipeline", [True, False])
def test_dask_backend_gives_the_same_vector_with_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool
) -> None:
    rng = np.random.default_rng(4)
    n, m = 3000, 20_000
    src, dst = rng.integers(0, n, m), rng.integers(0, n // 2, m) * 2  # odd ids: no in-edge
    import pyarrow as pa

    edges = tmp_path / "edges.parquet"
    pq.write_table(pa.table({"src": src, "dst": dst, "weight": rng.random(m)}), edges)
    monkeypatch.setenv("SWARMKIT_PAGERANK__DASK_PROCESSES", "false")  # LocalCluster in-process
    monkeypatch.setenv("SWARMKIT_PAGERANK__TOL", "1e-12")
    monkeypatch.setenv("SWARMKIT_PAGERANK__DASK_PIPELINE", str(pipeline).lower())
    local = pagerank(graph=str(edges), output_dir=str(tmp_path / "a"), partitions=6, top=10)
    dask = pagerank(
        graph=str(edges),
        backend="dask",
        output_dir=str(tmp_path / "b"),
        partitions=6,
        top=10,
        crash_rate=0.2,
        seed=3,
    )
    assert dask["backend"] == "dask" and dask["account"]["retried_tasks"] > 0
    assert dask["account"]["tasks_per_step"] == 2 and dask["account"]["empty_step_s"] > 0
    assert dask["account"]["plain_dask_step_s"] > 0
    assert dask["account"]["pipelined"] == float(pipeline)
    assert dask["iterations"] == local["iterations"]  # a pipelined step after the last: unseen
    a = pq.read_table(local["files"]["ranks"]).column("rank").to_numpy()
    b = pq.read_table(dask["files"]["ranks"]).column("rank").to_numpy()
    assert np.abs(a - b).sum() < 1e-12
    assert [r["node"] for r in local["top"]] == [r["node"] for r in dask["top"]]


def test_power_iteration_task_body(tmp_path: Path) -> None:
    g = build_partitions(ArrayEdges([0, 1, 2, 2], [1, 2, 0, 2], n_nodes=4), tmp_path / "g", 2)
    s = PageRankSettings(threads=2, max_attempts=2)
    res = power_iterate.fn(g, PageRankParams(tol=1e-12), s, CrashPlan(rate=0.5, seed=1))
    clean = run_pagerank(g, PageRankParams(tol=1e-12))
    assert res.recovered_blocks > 0 and np.array_equal(res.ranks, clean.ranks)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maritime", "--top", "3", "--from-port", "Rotterdam", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Rotterdam (NLRTM)" in text and "chokepoints" in text
    assert main(["maritime", "--from-port", "Atlantis", "--out", str(tmp_path)]) == 2
    assert "unknown port 'Atlantis'" in capsys.readouterr().err
    edges = tmp_path / "r.parquet"
    assert main(["generate", str(edges), "--edges", "5000", "--scale", "9", "--json"]) == 0
    capsys.readouterr()
    assert main(["run", str(edges), "--partitions", "3", "--out", str(tmp_path), "--json"]) == 0
    assert '"edges": 5000' in capsys.readouterr().out


def test_dask_backend_personalized_maritime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMKIT_PAGERANK__DASK_PROCESSES", "false")
    monkeypatch.setenv("SWARMKIT_PAGERANK__TOL", "1e-7")  # fewer steps; same for both backends
    kw: dict[str, Any] = {"from_ports": ["Rotterdam"], "top": 5, "partitions": 4}
    local = pagerank(output_dir=str(tmp_path / "a"), **kw)
    dask = pagerank(output_dir=str(tmp_path / "b"), backend="dask", **kw)
    a = pq.read_table(local["files"]["ranks"]).column("rank").to_numpy()
    b = pq.read_table(dask["files"]["ranks"]).column("rank").to_numpy()
    assert dask["backend"] == "dask" and np.abs(a - b).sum() < 1e-12
    assert dask["top_ports"][0]["name"] == "Rotterdam (NLRTM)"
    # the personalization reached the subflow as a file, not as a flow parameter
    assert (tmp_path / "b" / "maritime" / "vectors" / "params-NLRTM.npz").is_file()


def test_cli_names_an_option_out_of_range_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = tmp_path / "e.csv"
    edges.write_text("src,dst\n0,1\n1,0\n")
    assert main(["run", str(edges), "--partitions", "0", "--out", str(tmp_path)]) == 2
    assert "--partitions=0: Input should be greater than or equal to 1" in capsys.readouterr().err
    assert main(["run", str(edges), "--top", "-2", "--out", str(tmp_path)]) == 2
    assert "--top=-2:" in capsys.readouterr().err
    # the reference iteration checks alpha too, instead of failing to converge
    assert main(["reference", str(edges), "--alpha", "2"]) == 2
    assert "alpha=2.0 must be in (0, 1)" in capsys.readouterr().err
    monkeypatch.setenv("SWARMKIT_PAGERANK__ALPHA", "3")
    assert main(["run", str(edges), "--out", str(tmp_path)]) == 2
    assert "SWARMKIT_PAGERANK__ALPHA='3': Input should be less than 1" in capsys.readouterr().err
