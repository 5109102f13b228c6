"""Prefect tasks of the PageRank app, and the Dask executor that maps block groups as tasks.

The in-process backend runs the whole power iteration in one task (its block workers
are ephemeral agents inside it). The Dask backend maps one task per group of blocks
per step on the flow's ``DaskTaskRunner``: a task gets paths and scalars only (the
rank vectors and the CSR blocks are memory-mapped files every worker can read), runs
its blocks and returns a handful of numbers per block. A task that fails with a
retryable error (a crashed worker) is retried by Prefect and recomputes its blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from apps.pagerank.edges import open_edges
from apps.pagerank.engine import (
    BlockResult,
    CrashPlan,
    DiskJob,
    InProcessExecutor,
    PageRankParams,
    PageRankResult,
    Teleport,
    Vector,
    group_blocks,
    prepare_disk_job,
    run_blocks_on_disk,
    run_pagerank,
)
from apps.pagerank.maritime import MaritimeGraph, load_maritime
from apps.pagerank.partition import PartitionedGraph, build_partitions, load_npy
from apps.pagerank.pipeline import maritime_partitions
from apps.pagerank.settings import LaneWeight, PageRankSettings
from tasks.retry import retry_if_retryable


@task(name="pagerank-load-maritime", retries=0, timeout_seconds=300, cache_policy=NO_CACHE)
def load_maritime_graph(exclude_passages: list[str], max_port_link_km: float) -> MaritimeGraph:
    """The searoute maritime network (from the installed package)."""
    return load_maritime(exclude_passages, max_port_link_km)


@task(name="pagerank-partition-maritime", retries=0, timeout_seconds=300, cache_policy=NO_CACHE)
def partition_maritime(
    graph: MaritimeGraph, weight: LaneWeight, out_dir: str, n_blocks: int
) -> PartitionedGraph:
    """Write the maritime graph's CSR blocks."""
    return maritime_partitions(graph, weight, out_dir, n_blocks)


@task(name="pagerank-partition-edges", retries=0, timeout_seconds=86_400, cache_policy=NO_CACHE)
def partition_edges(
    path: str, out_dir: str, n_blocks: int, n_nodes: int | None, chunk_edges: int
) -> PartitionedGraph:
    """Convert an edge file (CSV/Parquet) to CSR blocks, out of core."""
    return build_partitions(open_edges(path, n_nodes, chunk_edges), out_dir, n_blocks)


@task(
    name="pagerank-power-iteration",
    retries=0,
    timeout_seconds=86_400,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def power_iterate(
    graph: PartitionedGraph,
    params: PageRankParams,
    settings: PageRankSettings,
    crash: CrashPlan | None = None,
) -> PageRankResult:
    """The whole power iteration on in-process ephemeral block agents."""
    ex = InProcessExecutor(
        threads=settings.threads,
        warm=settings.warm_workers,
        max_attempts=settings.max_attempts,
        crash=crash,
    )
    return run_pagerank(graph, params, ex, settings.fanout)


@task(
    name="pagerank-blocks",
    retries=2,
    retry_delay_seconds=0,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=3600,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def run_block_group(
    job: DiskJob, blocks: list[int], k: int, dangling_mass: float, crash: CrashPlan | None
) -> tuple[list[BlockResult], float]:
    """Run a group of blocks of step ``k`` from disk; return their results and the compute time."""
    ctx = TaskRunContext.get()
    attempt = ctx.task_run.run_count if ctx is not None and ctx.task_run.run_count else 1
    t0 = time.perf_counter()
    results = run_blocks_on_disk(job, blocks, k, dangling_mass, attempt, crash)
    return results, time.perf_counter() - t0


@dataclass
class PrefectDaskExecutor:
    """Maps block groups as Prefect tasks per step (use inside a flow with a ``DaskTaskRunner``).

    Args:
        work_dir: where the rank vectors live (shared storage for a remote cluster).
        groups: tasks per step (few, large groups keep Prefect's overhead small).
        crash: a crash plan (tests, benchmarks).
    """

    work_dir: str
    groups: int = 2
    crash: CrashPlan | None = None
    name: str = "dask"
    compute_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    recovered: int = 0
    retried_tasks: int = 0
    _job: DiskJob | None = None
    _n_blocks: int = 0

    def start(self, graph: PartitionedGraph, alpha: float, teleport: Teleport, x0: Vector) -> None:
        """Write ``x0`` and the teleport vectors to the work directory."""
        self._job = prepare_disk_job(graph, self.work_dir, alpha, teleport, x0)
        self._n_blocks = graph.n_blocks

    def step(self, k: int, dangling_mass: float) -> list[BlockResult]:
        """Map one task per group of blocks and wait for all of them."""
        assert self._job is not None
        t0 = time.perf_counter()
        groups = group_blocks(self._n_blocks, self.groups)
        futures = run_block_group.map(
            unmapped(self._job), groups, unmapped(k), unmapped(dangling_mass), unmapped(self.crash)
        )
        out: list[BlockResult] = []
        slowest = 0.0
        for fut in futures:
            results, seconds = fut.result()
            slowest = max(slowest, seconds)
            out.extend(results)
            if results and results[0].attempt > 1:  # the task was retried: its group recomputed
                self.retried_tasks += 1
                self.recovered += len(results)
        self.compute_s.append(slowest)
        self.step_s.append(time.perf_counter() - t0)
        return out

    def vector(self, k: int) -> Vector:
        """``x_k`` read from the work directory."""
        assert self._job is not None
        return np.array(load_npy(self._job.vector_path(k)), dtype=np.float64)

    def close(self) -> dict[str, float]:
        """Accounting: Prefect overhead = share of the step not spent in the slowest task."""
        walls, comp = np.asarray(self.step_s), np.asarray(self.compute_s)
        overhead = float(np.median(1.0 - comp / walls)) if len(walls) else 0.0
        return {
            "tasks_per_step": float(min(self.groups, self._n_blocks)),
            "prefect_overhead_frac": overhead,
            "step_s_median": float(np.median(walls)) if len(walls) else 0.0,
            "recovered_blocks": float(self.recovered),
            "retried_tasks": float(self.retried_tasks),
        }


@task(name="pagerank-warm-up", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def warm_up(worker: int) -> int:
    """A no-op mapped once per worker before the first step (starts the cluster and imports)."""
    import apps.pagerank.engine  # noqa: F401  (what the block tasks import)

    return worker


EMPTY_STEPS = 3  # steps of no-op tasks timed before the run: the per-step orchestration floor


def dask_power_iterate(
    graph: PartitionedGraph,
    params: PageRankParams,
    settings: PageRankSettings,
    work_dir: str,
    groups: int,
    crash: CrashPlan | None = None,
) -> PageRankResult:
    """The power iteration with block groups mapped as tasks (call it from a flow on Dask).

    Before the first step, a no-op task per group is mapped ``1 + EMPTY_STEPS`` times:
    the first starts the cluster (so the run's wall time excludes it), the others
    measure the floor of a step's orchestration (``account["empty_step_s"]``).
    """
    empty: list[float] = []
    for _ in range(1 + EMPTY_STEPS):  # the first starts the cluster; the rest time empty steps
        t0 = time.perf_counter()
        for fut in warm_up.map(list(range(groups))):
            fut.result()
        empty.append(time.perf_counter() - t0)
    ex = PrefectDaskExecutor(work_dir, groups, crash)
    result = run_pagerank(graph, params, ex, settings.fanout)
    result.account["empty_step_s"] = float(np.median(empty[1:]))
    return result


def dask_runner_kwargs(settings: PageRankSettings) -> dict[str, Any]:
    """``DaskTaskRunner`` arguments: the configured address, or a LocalCluster of N workers."""
    if settings.dask_address:
        return {"address": settings.dask_address}
    return {
        "cluster_class": "distributed.LocalCluster",
        "cluster_kwargs": {
            "n_workers": settings.dask_workers,
            "threads_per_worker": 1,
            "processes": settings.dask_processes,
            "dashboard_address": None,
        },
    }
