"""Prefect tasks of the PageRank app, and the Dask executor that maps block groups as tasks.

The in-process backend runs the whole power iteration in one task (its block workers
are ephemeral agents inside it). The Dask backend maps one task per group of blocks
per step on the flow's task runner: a task gets paths and scalars only (the rank
vectors and the CSR blocks are memory-mapped files every worker can read), runs its
blocks and returns a handful of numbers per block. A task that fails with a
retryable error (a crashed worker) is retried by Prefect and recomputes its blocks.

The task runner is :class:`LeanDaskTaskRunner`, prefect-dask's ``DaskTaskRunner``
with one change: Prefect's run context reaches the workers without being rebuilt
for every task (see its docstring for the measured cost it removes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import distributed
import numpy as np
import prefect.context
from prefect import Task, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import (
    AssetContext,
    FlowRunContext,
    SettingsContext,
    SyncClientContext,
    TagsContext,
    TaskRunContext,
)
from prefect.task_engine import run_task_async, run_task_sync
from prefect.utilities.engine import collect_task_run_inputs_sync
from prefect_dask.task_runners import DaskTaskRunner, PrefectDaskFuture

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
    merge_results,
    prepare_disk_job,
    run_blocks_on_disk,
    run_pagerank,
)
from apps.pagerank.exceptions import BlockFailedError
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


@dataclass(frozen=True)
class GroupRun:
    """What a block-group task returns.

    Attributes:
        results: its blocks' results (none when the step was skipped).
        compute_s: the wall time of its body (the blocks' work, from disk to disk).
        started_at: wall clock (``time.time()``) when the body started; with ``ended_at``,
            it splits a step's overhead into before and after the bodies (clocks of one
            host, or synchronised ones).
        ended_at: wall clock when the body ended.
        dangling_mass: the ``D`` the step used.
        skipped: the previous step had converged: nothing computed, nothing written.
    """

    results: list[BlockResult]
    compute_s: float
    started_at: float
    ended_at: float
    dangling_mass: float
    skipped: bool = False


@dataclass(frozen=True)
class StopRule:
    """What a pipelined step needs to merge the previous step's totals itself.

    Attributes:
        n_blocks: blocks of the graph (the merge checks they all reported).
        fanout: fanout of the aggregation tree (the flow merges with the same tree).
        threshold: the previous step converged when its L1 change is below this.
    """

    n_blocks: int
    fanout: int
    threshold: float


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
    job: DiskJob,
    blocks: list[int],
    k: int,
    dangling_mass: float,
    crash: CrashPlan | None,
    previous: list[GroupRun] | None = None,
    rule: StopRule | None = None,
) -> GroupRun:
    """Run a group of blocks of step ``k`` from disk; their results and when the body ran.

    Pipelined (``previous``: step ``k - 1``'s group runs, passed as upstream futures), the
    task merges their totals up the same aggregation tree as the flow, takes ``D`` from
    them and does nothing if they converged (the flow stops there too).
    """
    ctx = TaskRunContext.get()
    attempt = ctx.task_run.run_count if ctx is not None and ctx.task_run.run_count else 1
    started_at, t0 = time.time(), time.perf_counter()
    if previous is not None and rule is not None:
        done = [r for run in previous for r in run.results]
        totals = merge_results(done, rule.n_blocks, rule.fanout)
        if totals.residual < rule.threshold:
            return GroupRun([], 0.0, started_at, time.time(), totals.dangling, skipped=True)
        dangling_mass = totals.dangling
    results = run_blocks_on_disk(job, blocks, k, dangling_mass, attempt, crash)
    return GroupRun(results, time.perf_counter() - t0, started_at, time.time(), dangling_mass)


@dataclass
class PrefectDaskExecutor:
    """Maps block groups as Prefect tasks per step (use inside a flow with a ``DaskTaskRunner``).

    Args:
        work_dir: where the rank vectors live (shared storage for a remote cluster).
        groups: tasks per step (few, large groups keep Prefect's overhead small).
        crash: a crash plan (tests, benchmarks).
        flush: workers ``msync`` the vector slices they write (shared storage across hosts).
        pipeline: map step ``k + 1`` while step ``k`` runs, its tasks depending on step
            ``k``'s futures (Dask starts them as soon as step ``k`` is done, without a round
            trip through the flow); needs ``rule`` and ``max_iter``.
        rule: how a pipelined step merges the previous one's totals.
        max_iter: steps the run may take (nothing is mapped beyond).
    """

    work_dir: str
    groups: int = 2
    crash: CrashPlan | None = None
    flush: bool = True
    pipeline: bool = False
    rule: StopRule | None = None
    max_iter: int = 0
    name: str = "dask"
    compute_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    start_lag_s: list[float] = field(default_factory=list)
    finish_lag_s: list[float] = field(default_factory=list)
    recovered: int = 0
    retried_tasks: int = 0
    _job: DiskJob | None = None
    _n_blocks: int = 0
    _mapped: dict[int, list[Any]] = field(default_factory=dict)
    _last_done: tuple[float, float] | None = None

    def start(self, graph: PartitionedGraph, alpha: float, teleport: Teleport, x0: Vector) -> None:
        """Write ``x0`` and the teleport vectors to the work directory."""
        if self.pipeline and (self.rule is None or self.max_iter < 1):
            raise ValueError("a pipelined executor needs its stop rule and max_iter")
        self._job = prepare_disk_job(graph, self.work_dir, alpha, teleport, x0, self.flush)
        self._n_blocks = graph.n_blocks

    def _map(self, k: int, dangling_mass: float) -> None:
        groups = group_blocks(self._n_blocks, self.groups)
        previous = self._mapped.get(k - 1) if self.pipeline else None
        self._mapped[k] = list(
            run_block_group.map(
                unmapped(self._job),
                groups,
                unmapped(k),
                unmapped(dangling_mass),
                unmapped(self.crash),
                unmapped(previous),
                unmapped(self.rule if previous is not None else None),
            )
        )

    def step(self, k: int, dangling_mass: float) -> list[BlockResult]:
        """Wait for step ``k``'s tasks (mapping them, and step ``k + 1``'s if pipelined)."""
        assert self._job is not None
        t0, t0_wall = time.perf_counter(), time.time()
        if k not in self._mapped:
            self._map(k, dangling_mass)
        if self.pipeline and k + 1 < self.max_iter:
            self._map(k + 1, dangling_mass)  # its D comes from step k's futures
        submit_s = time.perf_counter() - t0
        runs: list[GroupRun] = [fut.result() for fut in self._mapped.pop(k)]
        done, done_wall = time.perf_counter(), time.time()
        if self._last_done is not None:  # pipelined or not: from the previous step's end
            t0, t0_wall = self._last_done
        self._last_done = (done, done_wall)
        out: list[BlockResult] = []
        for run in runs:
            if run.skipped or run.dangling_mass != dangling_mass:
                raise BlockFailedError(
                    f"step {k}: a task used D={run.dangling_mass!r}, the flow has {dangling_mass!r}"
                )
            out.extend(run.results)
            if run.results and run.results[0].attempt > 1:  # retried: its group recomputed
                self.retried_tasks += 1
                self.recovered += len(run.results)
        self.compute_s.append(max(run.compute_s for run in runs))
        self.step_s.append(done - t0)
        self.submit_s.append(submit_s)
        self.start_lag_s.append(max(run.started_at for run in runs) - t0_wall)
        self.finish_lag_s.append(done_wall - max(run.ended_at for run in runs))
        return out

    def vector(self, k: int) -> Vector:
        """``x_k`` read from the work directory."""
        assert self._job is not None
        return np.array(load_npy(self._job.vector_path(k)), dtype=np.float64)

    def close(self) -> dict[str, float]:
        """Wait for tasks still mapped (a pipelined step after the last); the accounting.

        Medians over steps. A step is timed from the previous step's results in hand
        (the first from mapping it) to holding all of its own. ``prefect_overhead_frac``:
        the share of a step not spent in its slowest task's body, ``1 - compute / step``.
        ``submit_s``: mapping tasks in the flow process; ``start_lag_s``: from the step's
        start to the last body starting (submission, Dask scheduling, Prefect's task run
        set-up on the worker; negative when pipelined tasks start before the flow has
        the previous results); ``finish_lag_s``: from the last body ending to the flow
        holding every result (Prefect's completion, the result's way back).
        """
        for futures in self._mapped.values():
            for fut in futures:
                fut.wait()  # a pipelined step after convergence: skipped, no writes
        self._mapped.clear()

        def median(values: list[float]) -> float:
            return float(np.median(values)) if values else 0.0

        walls, comp = np.asarray(self.step_s), np.asarray(self.compute_s)
        return {
            "tasks_per_step": float(min(self.groups, self._n_blocks)),
            "pipelined": float(self.pipeline),
            "prefect_overhead_frac": float(np.median(1.0 - comp / walls)) if len(walls) else 0.0,
            "step_s_median": median(self.step_s),
            "compute_s_median": median(self.compute_s),
            "submit_s_median": median(self.submit_s),
            "start_lag_s_median": median(self.start_lag_s),
            "finish_lag_s_median": median(self.finish_lag_s),
            "recovered_blocks": float(self.recovered),
            "retried_tasks": float(self.retried_tasks),
        }


@task(name="pagerank-warm-up", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def warm_up(worker: int) -> int:
    """A no-op mapped once per worker before the first step (starts the cluster and imports)."""
    import apps.pagerank.engine  # noqa: F401  (what the block tasks import)

    return worker


EMPTY_STEPS = 5  # steps of no-op tasks timed before the run: the per-step orchestration floor


def _plain_noop(worker: int) -> int:
    return worker


def _median_s(rounds: int, run: Any) -> float:
    """Median wall of ``rounds`` calls of ``run`` after one untimed call (cluster start)."""
    walls: list[float] = []
    for i in range(1 + rounds):
        t0 = time.perf_counter()
        run()
        if i:
            walls.append(time.perf_counter() - t0)
    return float(np.median(walls))


def time_empty_steps(groups: int, rounds: int = EMPTY_STEPS) -> dict[str, float]:
    """The per-step orchestration floor of the current flow's task runner.

    ``empty_step_s``: median wall of a step of ``groups`` no-op Prefect tasks mapped
    and awaited like block tasks; ``plain_dask_step_s``: the same with plain Dask tasks
    on the same cluster (nothing from Prefect), when the runner is a ``DaskTaskRunner``.
    The first round of each starts the cluster and imports, and is not counted.
    """

    def prefect_step() -> None:
        for fut in warm_up.map(list(range(groups))):
            fut.result()

    out = {"empty_step_s": _median_s(rounds, prefect_step)}
    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx is not None else None
    if isinstance(runner, DaskTaskRunner):
        client = runner.client

        def dask_step() -> None:
            futures = client.map(_plain_noop, list(range(groups)), pure=False)  # type: ignore[no-untyped-call]
            client.gather(futures)  # type: ignore[no-untyped-call]

        out["plain_dask_step_s"] = _median_s(rounds, dask_step)
    return out


def dask_power_iterate(
    graph: PartitionedGraph,
    params: PageRankParams,
    settings: PageRankSettings,
    work_dir: str,
    groups: int,
    crash: CrashPlan | None = None,
) -> PageRankResult:
    """The power iteration with block groups mapped as tasks (call it from a flow on Dask).

    Before the first step, :func:`time_empty_steps` starts the cluster (so the run's wall
    time excludes it) and measures the floor of a step's orchestration on it
    (``account["empty_step_s"]``, ``account["plain_dask_step_s"]``).
    """
    floor = time_empty_steps(groups)
    flush = settings.dask_flush_vectors
    if flush is None:
        flush = settings.dask_address is not None
    rule = StopRule(graph.n_blocks, settings.fanout, graph.n_nodes * params.tol)
    ex = PrefectDaskExecutor(
        work_dir,
        groups,
        crash,
        flush=flush,
        pipeline=settings.dask_pipeline,
        rule=rule,
        max_iter=params.max_iter,
    )
    result = run_pagerank(graph, params, ex, settings.fanout)
    result.account.update(floor)
    return result


# ---------------------------------------------------------------------- the task runner

WORKER_SETTINGS_KEPT = 8  # distinct Prefect settings a worker process keeps built
_worker_lock = threading.Lock()
_worker_settings: OrderedDict[str, SettingsContext] = OrderedDict()
_worker_thread = threading.local()
worker_counters = {"tasks": 0, "settings_built": 0, "clients_opened": 0}  # this process's


def _settings_on_worker(key: str, shipped: dict[str, Any]) -> SettingsContext:
    """The settings context for ``key``, built on the first task that brings it."""
    with _worker_lock:
        worker_counters["tasks"] += 1
        ctx = _worker_settings.get(key)
        if ctx is None:
            ctx = SettingsContext(**shipped)  # what prefect's hydrated_context does per task
            worker_counters["settings_built"] += 1
            _worker_settings[key] = ctx
            while len(_worker_settings) > WORKER_SETTINGS_KEPT:
                _worker_settings.popitem(last=False)
        else:
            _worker_settings.move_to_end(key)
    return ctx.model_copy()  # a fresh, un-entered copy per task (threads may share a key)


def _client_on_worker(key: str) -> SyncClientContext:
    """This thread's open API client for the settings ``key`` (in the entered settings)."""
    clients: dict[str, SyncClientContext] | None = getattr(_worker_thread, "clients", None)
    if clients is None:
        clients = _worker_thread.clients = {}
    ctx = clients.get(key)
    if ctx is None:
        ctx = SyncClientContext()
        ctx.client.__enter__()  # kept open for the life of the worker thread
        settings = SettingsContext.get()
        if settings is None or settings.settings.client.server_version_check_enabled:
            ctx.client.raise_for_api_version_mismatch_once()
        with _worker_lock:
            worker_counters["clients_opened"] += 1
        clients[key] = ctx
    return ctx


@dataclass(frozen=True)
class ShippedContext:
    """What a task run needs besides its parameters (one object, so Dask does not walk it).

    Attributes:
        task_run_id: the id given to the task run by the flow process.
        inputs: the task run's inputs (upstream task runs) per parameter.
        context: ``prefect.context.serialize_context()`` of the submitting flow, settings aside.
        settings_key: content hash of ``settings``.
        settings: the serialised settings context (built once per worker process).
    """

    task_run_id: UUID
    inputs: dict[str, Any]
    context: dict[str, Any]
    settings_key: str
    settings: dict[str, Any]


def run_task_on_worker(
    task: Task[Any, Any], parameters: dict[str, Any], wait_for: Any, shipped: ShippedContext
) -> Any:
    """Run one Prefect task run on a Dask worker (what prefect-dask's wrapper does).

    The same ``run_task_sync``/``run_task_async`` call with the same serialised flow
    run context, inside this process's settings context for ``settings_key`` and this
    thread's client instead of ones rebuilt for this task.
    """
    with _settings_on_worker(shipped.settings_key, shipped.settings):
        token = SyncClientContext.__var__.set(_client_on_worker(shipped.settings_key))
        try:
            kwargs: dict[str, Any] = {
                "task_run_id": shipped.task_run_id,
                "parameters": parameters,
                "wait_for": wait_for,
                "return_type": "state",
                "dependencies": shipped.inputs,
                "context": shipped.context,
            }
            if task.isasync:
                return asyncio.run(run_task_async(task, **kwargs))
            return run_task_sync(task, **kwargs)
        finally:
            SyncClientContext.__var__.reset(token)


class LeanDaskTaskRunner(DaskTaskRunner):
    """prefect-dask's ``DaskTaskRunner`` that ships Prefect's settings once, not per task.

    For every task, ``DaskTaskRunner`` serialises the whole settings context
    (``serialize_context()``: a pydantic dump of ~50 nested settings models with secret
    handling, ~40-60 ms of the flow process), and the worker validates it back into a
    fresh ``Settings`` (pydantic-settings re-reads the environment, ``.env`` and TOML
    files for each model, ~60-100 ms) and opens two new API clients (a new SSL context
    each, ~15-30 ms). Profiled on this machine that is ~0.2 s per task: more than half of
    a 50M-edge PageRank step, for a no-op.

    This runner dumps the settings once per settings context (the flow run's) and keys
    them by content hash; a worker process builds each distinct one once, and each
    worker thread keeps one open API client per settings (sync tasks; an async task still
    opens its own async client, as with the stock runner). Everything else is unchanged:
    each task is still a full Prefect task run (created with its inputs, states
    Pending -> Running -> Completed or Failed/Retrying emitted to the API, logs,
    retries, results), with the flow run, task run, tags, asset and deployment
    context serialised per task exactly as prefect-dask does; data futures still
    pass between tasks as Dask futures.

    Relies on ``prefect.task_engine.run_task_sync``'s ``context`` argument and on
    ``SyncClientContext`` (Prefect 3.x); ``SWARMKIT_PAGERANK__DASK_LEAN_RUNNER=false``
    falls back to the stock runner.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shipped: tuple[SettingsContext | None, dict[str, Any], str] | None = None

    def duplicate(self) -> LeanDaskTaskRunner:
        """A new runner with the same configuration (Prefect calls it for nested flows)."""
        return type(self)(
            address=self.address,
            cluster_class=self.cluster_class,
            cluster_kwargs=self.cluster_kwargs,
            adapt_kwargs=self.adapt_kwargs,
            client_kwargs=self.client_kwargs,
            performance_report_path=self.performance_report_path,
        )

    def _settings(self) -> tuple[dict[str, Any], str]:
        current = SettingsContext.get()
        shipped = self._shipped
        if shipped is None or shipped[0] is not current:
            dump = current.serialize() if current is not None else {}
            text = json.dumps(dump, sort_keys=True, default=str)
            shipped = (current, dump, hashlib.sha256(text.encode()).hexdigest())
            self._shipped = shipped
        return shipped[1], shipped[2]

    @staticmethod
    def _context(task: Task[Any, Any], task_run_id: UUID, inputs: dict[str, Any]) -> dict[str, Any]:
        """``prefect.context.serialize_context`` without the settings (shipped apart)."""
        flow_run, task_run = FlowRunContext.get(), TaskRunContext.get()
        tags = TagsContext.get()
        deployment_id = prefect.context._deployment_id.get()
        asset = AssetContext.from_task_and_inputs(
            task=task, task_run_id=task_run_id, task_inputs=inputs, copy_to_child_ctx=True
        )
        return {
            "flow_run_context": flow_run.serialize() if flow_run else {},
            "task_run_context": task_run.serialize() if task_run else {},
            "tags_context": tags.serialize() if tags else {},
            "settings_context": {},
            "asset_context": asset.serialize(),
            "deployment_id": str(deployment_id) if deployment_id else None,
            "deployment_parameters": prefect.context._deployment_parameters.get(),
        }

    def submit(  # type: ignore[override]
        self,
        task: Task[Any, Any],
        parameters: dict[str, Any],
        wait_for: Any = None,
        dependencies: dict[str, Any] | None = None,
    ) -> PrefectDaskFuture[Any]:
        """Submit one task run to the Dask cluster."""
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        parameters = self._optimize_futures(parameters)
        wait_for = self._optimize_futures(wait_for) if wait_for else None
        task_run_id = uuid4()
        inputs = {
            k: collect_task_run_inputs_sync(v, future_cls=distributed.Future)
            for k, v in parameters.items()
        }
        if dependencies:
            inputs = {k: v.union(dependencies.get(k, set())) for k, v in inputs.items()}
        settings, key = self._settings()
        shipped = ShippedContext(
            task_run_id, inputs, self._context(task, task_run_id, inputs), key, settings
        )
        future = self.client.submit(  # type: ignore[no-untyped-call]
            run_task_on_worker,
            task,
            parameters,  # Dask resolves the futures in these two (upstream results)
            wait_for,
            shipped,
            key=f"{task.name}-{task_run_id.hex}",
            pure=False,
        )
        future.task_run_id = task_run_id  # read by collect_task_run_inputs downstream
        return PrefectDaskFuture[Any](wrapped_future=future, task_run_id=task_run_id)


def dask_task_runner(settings: PageRankSettings) -> DaskTaskRunner:
    """The Dask backend's task runner (lean unless ``dask_lean_runner`` is off)."""
    kind = LeanDaskTaskRunner if settings.dask_lean_runner else DaskTaskRunner
    return kind(**dask_runner_kwargs(settings))


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
