"""PageRank benchmark (`make bench NAME=pagerank`): exactness, scaling 1M -> 50M edges, Dask.

1. Maritime: the searoute network ranked by the partitioned engine, checked against
   the scipy power iteration and ``networkx.pagerank`` (same process, tol 1e-12),
   and the whole flow timed through Prefect.
2. Scaling: seeded R-MAT graphs of 1M, 5M, 20M and 50M edges are generated to
   Parquet, converted out of core to 16 CSR blocks and ranked, each step in its own
   subprocess so that its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``, which
   counts the resident pages of the memory-mapped blocks) is its own; the scipy
   reference (the whole graph in memory) also runs in its own subprocess, so its
   memory does not count against the engine's. Times exclude loading: engine steps
   vs scipy iterations.
3. Dask: the 50M graph ranked by block groups mapped as Prefect tasks on a
   ``LeanDaskTaskRunner`` over a ``distributed.LocalCluster`` of 2 worker processes;
   the per-step floor (a step of no-op tasks) is timed on it, on plain Dask tasks and
   on prefect-dask's stock ``DaskTaskRunner``.
4. Crashes: a seeded crash plan kills block workers mid-step on the 1M graph; every
   crashed block is recomputed and the vector must not change.

Writes ``bench-results/pagerank.json`` and ``bench-results/pagerank.md``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from apps.pagerank.engine import CrashPlan, InProcessExecutor, PageRankParams, run_pagerank
from apps.pagerank.maritime import load_maritime
from apps.pagerank.partition import PartitionedGraph
from apps.pagerank.pipeline import maritime_partitions
from apps.pagerank.reference import networkx_pagerank, scipy_pagerank, transition_matrix
from apps.pagerank.settings import ROOT, PageRankSettings
from tests.perf.run import OUT_DIR, tracked

TOL = 1e-12
SIZES = (1_000_000, 5_000_000, 20_000_000, 50_000_000)  # edges
BLOCKS = 16
SEED = 17
GB = 1e9


def _cli(*args: str) -> dict[str, Any]:
    """Run ``python -m apps.pagerank ... --json`` in a fresh process; its JSON summary."""
    proc = subprocess.run(
        [sys.executable, "-m", "apps.pagerank", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"apps.pagerank {args[0]} failed: {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _scale(edges: int) -> int:
    return math.ceil(math.log2(edges / 16))  # about 12-16 edges per node


def _maritime(fig: dict[str, float]) -> None:
    graph = load_maritime()
    w = graph.weights("length")
    with tempfile.TemporaryDirectory() as tmp:
        parts = maritime_partitions(graph, "length", Path(tmp) / "g", 8)
        run_pagerank(parts, PageRankParams(tol=TOL))  # warm-up (imports, page cache)
        res = run_pagerank(parts, PageRankParams(tol=TOL))
    a, mask = transition_matrix(graph.src, graph.dst, w, graph.n_nodes)
    ref, _ = scipy_pagerank(a, mask, tol=TOL)
    nx_ref = networkx_pagerank(graph.src, graph.dst, w, graph.n_nodes, tol=TOL)
    fig["maritime_nodes"] = graph.n_nodes
    fig["maritime_edges"] = len(graph.src)
    fig["maritime_iterations"] = res.iterations
    fig["maritime_wall_ms"] = round(res.wall_s * 1000, 2)
    fig["maritime_l1_vs_scipy"] = float(np.abs(res.ranks - ref).sum())
    fig["maritime_l1_vs_networkx"] = float(np.abs(res.ranks - nx_ref).sum())


def _maritime_flow(fig: dict[str, float], tmp: Path) -> None:
    from flows.pagerank import pagerank

    pagerank(output_dir=str(tmp), top=10)  # warm-up: imports, first task runs
    t0 = time.perf_counter()
    pagerank(from_ports=["Rotterdam"], output_dir=str(tmp), top=10)
    fig["maritime_flow_wall_s"] = round(time.perf_counter() - t0, 3)


def _dask(fig: dict[str, float], graph_dir: Path, work: Path, scipy_s: float, ref: Path) -> None:
    from prefect_dask.task_runners import DaskTaskRunner

    from flows.pagerank import dask_floor, dask_steps
    from tasks.pagerank import dask_runner_kwargs, dask_task_runner

    settings = PageRankSettings(dask_workers=2, tasks_per_worker=1, dask_processes=True)
    runner: Any = dask_task_runner(settings)  # LeanDaskTaskRunner
    t0 = time.perf_counter()
    res = dask_steps.with_options(task_runner=runner)(
        PartitionedGraph(graph_dir), PageRankParams(tol=TOL), settings, str(work)
    )
    fig["dask_total_wall_s"] = round(time.perf_counter() - t0, 3)  # cluster start included
    fig["dask_wall_s"] = round(res.wall_s, 3)  # the power iteration
    fig["dask_ratio_vs_scipy"] = round(res.wall_s / scipy_s, 3)
    fig["dask_l1_vs_scipy"] = float(np.abs(res.ranks - np.load(ref)).sum())
    fig["dask_prefect_overhead_frac"] = round(res.account["prefect_overhead_frac"], 4)
    fig["dask_step_s_median"] = round(res.account["step_s_median"], 4)
    fig["dask_compute_s_median"] = round(res.account["compute_s_median"], 4)
    fig["dask_submit_s_median"] = round(res.account["submit_s_median"], 4)
    fig["dask_start_lag_s_median"] = round(res.account["start_lag_s_median"], 4)
    fig["dask_finish_lag_s_median"] = round(res.account["finish_lag_s_median"], 4)
    fig["dask_tasks_per_step"] = res.account["tasks_per_step"]
    fig["dask_empty_step_s"] = round(res.account["empty_step_s"], 4)
    fig["dask_plain_empty_step_s"] = round(res.account["plain_dask_step_s"], 4)
    fig["dask_pipelined"] = res.account["pipelined"]
    # the same run with each step mapped only after the previous one's results are in
    settings = settings.model_copy(update={"dask_pipeline": False})
    runner = dask_task_runner(settings)
    seq = dask_steps.with_options(task_runner=runner)(
        PartitionedGraph(graph_dir), PageRankParams(tol=TOL), settings, str(work)
    )
    fig["dask_unpipelined_wall_s"] = round(seq.wall_s, 3)
    fig["dask_unpipelined_overhead_frac"] = round(seq.account["prefect_overhead_frac"], 4)
    fig["dask_unpipelined_l1_vs_scipy"] = float(np.abs(seq.ranks - np.load(ref)).sum())
    # the same floor on prefect-dask's stock DaskTaskRunner (same cluster settings)
    stock: Any = DaskTaskRunner(**dask_runner_kwargs(settings))
    floor = dask_floor.with_options(task_runner=stock)(groups=int(res.account["tasks_per_step"]))
    fig["dask_stock_empty_step_s"] = round(floor["empty_step_s"], 4)


def _crashes(fig: dict[str, float], graph_dir: Path) -> None:
    g = PartitionedGraph(graph_dir)
    clean = run_pagerank(g, PageRankParams(tol=TOL))
    plan = CrashPlan(seed=SEED, rate=0.05)
    res = run_pagerank(g, PageRankParams(tol=TOL), InProcessExecutor(crash=plan, max_attempts=3))
    diff = float(np.abs(res.ranks - clean.ranks).sum())
    injected = int(res.account["injected_crashes"])
    fig["crashed_partitions_injected"] = injected
    fig["crash_l1_diff"] = diff
    fig["crashed_partitions_recovered"] = (
        res.recovered_blocks if diff <= 1e-12 and res.recovered_blocks == injected else 0
    )


def _markdown(rows: list[dict[str, Any]], fig: dict[str, float]) -> str:
    lines = [
        "# PageRank benchmark",
        "",
        f"Machine: 2 cores shared with other jobs, 24 GB RAM. tol = {TOL} (stop when the L1 change",
        f"< n * tol), alpha = 0.85, {BLOCKS} destination blocks, 2 block agents in-process.",
        "Times exclude loading: engine = its power-iteration steps on memory-mapped blocks;",
        "scipy = `x @ A` iterations on the whole CSR in memory. Peak RSS is",
        "`getrusage(RUSAGE_SELF).ru_maxrss` of each subprocess (mapped block pages included).",
        "",
        "## Scaling (seeded R-MAT, Graph500 a/b/c, labels permuted)",
        "",
        "| edges | nodes | steps | generate s | convert s | engine s | scipy s | engine/scipy "
        "| CSR GB | engine peak RSS GB | convert peak RSS GB | scipy peak RSS GB | L1 vs scipy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['edges']:,} | {r['nodes']:,} | {r['steps']} | {r['gen_s']:.1f} | {r['convert_s']:.1f} "
            f"| {r['rank_s']:.2f} | {r['scipy_s']:.2f} | {r['rank_s'] / r['scipy_s']:.2f} "
            f"| {r['csr_gb']:.3f} | {r['rank_rss']:.3f} | {r['convert_rss']:.3f} | {r['scipy_rss']:.3f} "
            f"| {r['l1']:.1e} |"
        )
    lines += [
        "",
        "## Maritime network and Dask",
        "",
        f"- maritime: {int(fig['maritime_nodes'])} nodes, {int(fig['maritime_edges'])} lanes, "
        f"{int(fig['maritime_iterations'])} steps in {fig['maritime_wall_ms']:.1f} ms; L1 vs scipy "
        f"{fig['maritime_l1_vs_scipy']:.1e}, vs networkx {fig['maritime_l1_vs_networkx']:.1e}; "
        f"whole flow through Prefect {fig.get('maritime_flow_wall_s', float('nan')):.2f} s.",
        f"- Dask (LocalCluster, 2 worker processes, {int(fig.get('dask_tasks_per_step', 0))} tasks "
        f"per step, LeanDaskTaskRunner) on {int(fig['edges_large']):,} edges: "
        f"{fig.get('dask_wall_s', float('nan')):.1f} s "
        f"({fig.get('dask_ratio_vs_scipy', float('nan')):.2f}x scipy); median step "
        f"{fig.get('dask_step_s_median', float('nan')):.3f} s of which "
        f"{100 * fig.get('dask_prefect_overhead_frac', float('nan')):.1f}% is not spent in the "
        "slowest task (Prefect and Dask overhead): "
        f"{1000 * fig.get('dask_start_lag_s_median', float('nan')):.0f} ms from the previous "
        "step's results to the last task body starting, "
        f"{1000 * fig.get('dask_finish_lag_s_median', float('nan')):.0f} ms from the last body's "
        "end to the flow holding the results (mapping a step's tasks takes the flow "
        f"{1000 * fig.get('dask_submit_s_median', float('nan')):.0f} ms, while the previous step "
        "runs); cluster start excluded "
        f"(total {fig.get('dask_total_wall_s', float('nan')):.1f} s). Steps are pipelined (step "
        "k+1 mapped while step k runs, depending on its futures); mapping each step after the "
        f"previous one's results: {fig.get('dask_unpipelined_wall_s', float('nan')):.1f} s, "
        f"overhead {100 * fig.get('dask_unpipelined_overhead_frac', float('nan')):.1f}%.",
        "- Per-step orchestration floor (a step of no-op tasks, 2 per step, same cluster "
        f"settings): {1000 * fig.get('dask_empty_step_s', float('nan')):.0f} ms with "
        "LeanDaskTaskRunner, "
        f"{1000 * fig.get('dask_stock_empty_step_s', float('nan')):.0f} ms with prefect-dask's "
        f"DaskTaskRunner, {1000 * fig.get('dask_plain_empty_step_s', float('nan')):.0f} ms for "
        "plain Dask tasks (no Prefect).",
        f"- crashes: {int(fig['crashed_partitions_injected'])} block workers killed mid-step, "
        f"{int(fig['crashed_partitions_recovered'])} recomputed, L1 change {fig['crash_l1_diff']:.1e}.",
        "",
        "## Settings for 1B edges",
        "",
        "`python -m apps.pagerank generate edges.parquet --edges 1000000000 --scale 26 "
        "--chunk-edges 8000000`, then `convert edges.parquet graph --partitions 256` (CSR about "
        "12.5 GB on disk; the conversion holds five vectors of 67M nodes, about 2.7 GB, and one "
        "chunk), then the flow with `SWARMKIT_PAGERANK__BACKEND=dask`, "
        "`SWARMKIT_PAGERANK__DASK_ADDRESS` of a cluster of 16+ workers whose "
        "`SWARMKIT_PAGERANK__OUTPUT_DIR` is shared storage, `TASKS_PER_WORKER=1` (each task maps "
        "about 0.8 GB of blocks per step: seconds of compute against the fixed per-task overhead "
        "measured above).",
        "",
    ]
    return "\n".join(lines) + "\n"


def run_pagerank_bench() -> dict[str, float]:
    fig: dict[str, float] = {}
    data = ROOT / ".data" / "pagerank" / "bench"
    data.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with tracked("pagerank", total=3 + 4 * len(SIZES)) as advance:
        _maritime(fig)
        advance()
        for edges in SIZES:
            path = data / f"rmat-{edges}.parquet"
            gdir = data / f"graph-{edges}"
            ref = data / f"scipy-{edges}.npy"
            mine = data / f"engine-{edges}.npy"
            gen = _cli(
                "generate", str(path), "--edges", str(edges), "--scale", str(_scale(edges)),
                "--seed", str(SEED),
            )  # fmt: skip
            advance()
            conv = _cli("convert", str(path), str(gdir), "--partitions", str(BLOCKS))
            advance()
            rank = _cli("rank", str(gdir), "--tol", str(TOL), "--save", str(mine))
            advance()
            sci = _cli("reference", str(path), "--tol", str(TOL), "--save", str(ref))
            advance()
            l1 = float(np.abs(np.load(mine) - np.load(ref)).sum())
            rows.append(
                {
                    "edges": edges,
                    "nodes": rank["nodes"],
                    "steps": rank["iterations"],
                    "gen_s": gen["wall_s"],
                    "convert_s": conv["wall_s"],
                    "rank_s": rank["wall_s"],
                    "scipy_s": sci["wall_s"],
                    "csr_gb": conv["csr_bytes"] / GB,
                    "rank_rss": rank["peak_rss_gb"],
                    "convert_rss": conv["peak_rss_gb"],
                    "gen_rss": gen["peak_rss_gb"],
                    "scipy_rss": sci["peak_rss_gb"],
                    "l1": l1,
                }
            )
        big = rows[-1]
        fig["edges_large"] = big["edges"]
        fig["nodes_large"] = big["nodes"]
        fig["large_iterations"] = big["steps"]
        fig["large_l1_vs_scipy"] = big["l1"]
        fig["large_wall_s"] = big["rank_s"]
        fig["large_scipy_wall_s"] = big["scipy_s"]
        fig["large_ratio_vs_scipy"] = round(big["rank_s"] / big["scipy_s"], 3)
        fig["large_generate_s"] = big["gen_s"]
        fig["large_convert_s"] = big["convert_s"]
        fig["csr_gb"] = round(big["csr_gb"], 4)
        fig["peak_rss_gb"] = round(max(big["rank_rss"], big["convert_rss"]), 4)
        fig["peak_rss_rank_gb"] = round(big["rank_rss"], 4)
        fig["peak_rss_convert_gb"] = round(big["convert_rss"], 4)
        fig["peak_rss_generate_gb"] = round(big["gen_rss"], 4)
        fig["peak_rss_over_csr"] = round(fig["peak_rss_gb"] / big["csr_gb"], 3)
        fig["scipy_peak_rss_gb"] = round(big["scipy_rss"], 4)
        _crashes(fig, data / f"graph-{SIZES[0]}")
        advance()
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory() as t:
            _maritime_flow(fig, Path(t))
            _dask(
                fig,
                data / f"graph-{SIZES[-1]}",
                data / "dask-vectors",
                big["scipy_s"],
                data / f"scipy-{SIZES[-1]}.npy",
            )
        advance()
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "pagerank.md").write_text(_markdown(rows, fig))
    return fig
