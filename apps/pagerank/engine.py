"""The partitioned power iteration: block workers per step, totals merged up a k-ary tree.

Step ``k`` turns ``x_k`` into ``x_{k+1}``; block ``b`` (destinations ``lo..hi``) computes::

    x_{k+1}[lo:hi] = alpha * (B_b @ x_k + D_k * dw[lo:hi]) + (1 - alpha) * p[lo:hi]

with ``B_b`` its rows of the transposed, row-normalised transition matrix, ``D_k``
the rank mass on dangling nodes in ``x_k``, ``p`` the personalization and ``dw``
the dangling distribution (``p`` unless given): the update of ``networkx.pagerank``.
Each block returns three numbers (its L1 change, its dangling mass in ``x_{k+1}``
and its rank mass); they are merged up a k-ary aggregation tree (pattern 6) into
the step's residual and the next ``D``. The run stops when the residual is below
``n_nodes * tol`` (networkx's rule).

Block workers are ephemeral agents (pattern 4), one role per block: kept warm
across steps or spawned per step, their agent-seconds accounted. A block is a pure
function of ``x_k`` and ``D_k``, and its output slice is written whole by every
attempt, so a worker that crashes mid-step (even after writing half its slice) is
simply run again on a fresh agent and the vector is bit-for-bit the same.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from apps.pagerank.exceptions import BlockFailedError, ConvergenceError, InjectedCrashError
from apps.pagerank.partition import CsrBlock, PartitionedGraph, load_npy
from patterns.aggregation.aggregates import AggregateSpec, Summary
from patterns.aggregation.tree import KaryTree
from patterns.core.exceptions import ConfigError
from patterns.core.loopthread import AsyncRuntime
from patterns.ephemeral import AgentContext, AgentPool, AgentSpec, EphemeralSettings, ItemOutcome

Vector = npt.NDArray[np.float64]
T = TypeVar("T")
SUM = AggregateSpec(histogram=None, ddsketch_alpha=None, hll_p=None, topk=None)
TOTALS = ("residual", "dangling", "mass")
VECTORS = ("personalization", "dangling", "nstart")  # PageRankParams' per-node vectors
BLOCK_TIMEOUT_S = 3600.0  # longest single block computation


# ---------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class PageRankParams:
    """The PageRank problem: networkx.pagerank's parameters, as arrays over node ids.

    Attributes:
        alpha: damping factor.
        tol: stop when the L1 change of a step is below ``n_nodes * tol``.
        max_iter: most steps.
        personalization: teleport weights per node (normalised; uniform when None).
        dangling: where dangling nodes' mass goes (normalised; the personalization when None).
        nstart: the starting vector (normalised; uniform when None).
        strict: raise :class:`ConvergenceError` when ``max_iter`` steps do not converge
            (networkx's behaviour); otherwise return the last vector, marked unconverged.
    """

    alpha: float = 0.85
    tol: float = 1e-10
    max_iter: int = 300
    personalization: Vector | None = None
    dangling: Vector | None = None
    nstart: Vector | None = None
    strict: bool = True

    def vectors_saved(self, path: str | Path) -> tuple[PageRankParams, str | None]:
        """These parameters without their vectors, which go to ``path`` (``.npz``).

        For a flow that hands the parameters to a subflow on a cluster: Prefect ships a
        flow's parameters with every task it submits, so a personalization over millions
        of nodes would travel with each task; a path does not. ``(self, None)`` when there
        is no vector.
        """
        vectors = {k: v for k in VECTORS if (v := getattr(self, k)) is not None}
        if not vectors:
            return self, None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, **vectors)
        light = replace(self, personalization=None, dangling=None, nstart=None)
        return light, str(path)

    def vectors_loaded(self, path: str | Path | None) -> PageRankParams:
        """These parameters with the vectors of :meth:`vectors_saved` put back."""
        if path is None:
            return self
        with np.load(path) as saved:
            got: dict[str, Vector | None] = {
                k: np.array(saved[k], dtype=np.float64) if k in saved.files else None
                for k in VECTORS
            }
        return replace(
            self,
            personalization=got["personalization"],
            dangling=got["dangling"],
            nstart=got["nstart"],
        )

    def check(self, n: int) -> None:
        """Raise :class:`ConfigError` for a bad parameter (named)."""
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha} must be in (0, 1)")
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise ConfigError(f"tol={self.tol} must be a positive number")
        if self.max_iter < 1:
            raise ConfigError(f"max_iter={self.max_iter} must be at least 1")
        for name in VECTORS:
            v = getattr(self, name)
            if v is None:
                continue
            if v.shape != (n,):
                raise ConfigError(f"{name} has shape {v.shape}, the graph has {n} nodes")
            if not np.all(np.isfinite(v)) or (v < 0).any():
                raise ConfigError(f"{name} holds a negative or non-finite value")
            if v.sum() <= 0:
                raise ConfigError(f"{name} sums to zero")


def _normalised(v: Vector | None) -> Vector | None:
    return None if v is None else np.asarray(v, dtype=np.float64) / float(np.sum(v))


@dataclass(frozen=True)
class Teleport:
    """The resolved personalization ``p`` and dangling distribution ``dw`` (None: uniform)."""

    n: int
    p: Vector | None
    dw: Vector | None

    def p_slice(self, lo: int, hi: int) -> Vector | float:
        """``p[lo:hi]`` (a scalar when uniform)."""
        return 1.0 / self.n if self.p is None else self.p[lo:hi]

    def dw_slice(self, lo: int, hi: int) -> Vector | float:
        """``dw[lo:hi]`` (a scalar when uniform)."""
        return 1.0 / self.n if self.dw is None else self.dw[lo:hi]

    @classmethod
    def of(cls, n: int, params: PageRankParams) -> Teleport:
        """Normalise the parameters' vectors as networkx does."""
        p = _normalised(params.personalization)
        dw = _normalised(params.dangling) if params.dangling is not None else p
        return cls(n, p, dw)


# ---------------------------------------------------------------------- one block


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What one block reports for one step: three numbers and its cost."""

    block: int
    step: int
    residual: float
    dangling: float
    mass: float
    seconds: float
    attempt: int = 1


@dataclass(frozen=True)
class CrashPlan:
    """Seeded crash injection: which (block, step) attempts crash, and where.

    A block crashes on its first attempt at a step with probability ``rate`` (drawn
    from ``seed``, the block and the step), or always when listed in ``at``; it
    crashes after writing the first half of its slice (a mid-step crash).
    """

    seed: int = 0
    rate: float = 0.0
    at: frozenset[tuple[int, int]] = frozenset()
    attempts: int = 1  # crashing attempts per chosen (block, step)

    def crashes(self, block: int, step: int, attempt: int) -> bool:
        """Whether this attempt of ``block`` at ``step`` crashes."""
        if attempt > self.attempts:
            return False
        if (block, step) in self.at:
            return True
        if self.rate <= 0:
            return False
        draw = np.random.default_rng([self.seed, block, step]).random()
        return bool(draw < self.rate)


def block_step(
    block: CsrBlock,
    x_old: Vector,
    out: Vector,
    dangling_mass: float,
    alpha: float,
    teleport: Teleport,
    dangling_mask: npt.NDArray[np.bool_],
    step: int = 0,
    attempt: int = 1,
    crash: CrashPlan | None = None,
) -> BlockResult:
    """Compute ``x_new[lo:hi]`` into ``out`` (length ``hi - lo``) and the block's totals.

    Raises:
        InjectedCrashError: the crash plan chose this attempt (after half of ``out`` is written).
    """
    t0 = time.perf_counter()
    lo, hi = block.lo, block.hi
    y = block.matrix() @ x_old
    y += dangling_mass * teleport.dw_slice(lo, hi)
    y *= alpha
    y += (1.0 - alpha) * teleport.p_slice(lo, hi)
    if crash is not None and crash.crashes(block.index, step, attempt):
        half = len(y) // 2
        out[:half] = y[:half] * 3.0  # a half-written, wrong slice: the retry must overwrite it
        raise InjectedCrashError(f"block {block.index} crashed at step {step} (attempt {attempt})")
    residual = float(np.abs(y - x_old[lo:hi]).sum())
    mask = dangling_mask[lo:hi]
    dangling = float(y[mask].sum())
    mass = float(y.sum())
    out[:] = y
    return BlockResult(
        block.index, step, residual, dangling, mass, time.perf_counter() - t0, attempt
    )


# ---------------------------------------------------------------------- pattern 6


@dataclass(frozen=True)
class StepTotals:
    """A step's totals merged up the aggregation tree."""

    residual: float
    dangling: float
    mass: float
    coverage: int
    depth: int


def merge_results(results: Sequence[BlockResult], n_blocks: int, fanout: int) -> StepTotals:
    """Merge the blocks' numbers up a k-ary tree of mergeable sums (pattern 6).

    Raises:
        BlockFailedError: a block is missing (the step's coverage is incomplete).
    """
    by_block = {r.block: r for r in results}
    tree = KaryTree(range(n_blocks), fanout)
    acc: dict[int, dict[str, Summary]] = {}
    for nid in reversed(tree.members):  # children before parents
        r = by_block.get(nid)
        mine = (
            {t: Summary.of(SUM, nid, getattr(r, t)) for t in TOTALS}
            if r is not None
            else {t: Summary.identity(SUM) for t in TOTALS}
        )
        for child in tree.children(nid):
            sub = acc.pop(child)
            mine = {t: mine[t].merge(sub[t]) for t in TOTALS}
        acc[nid] = mine
    root = acc[tree.root]
    coverage = root["residual"].coverage
    if coverage != n_blocks:
        missing = sorted(set(range(n_blocks)) - set(by_block))
        raise BlockFailedError(f"step incomplete: blocks {missing[:10]} reported nothing")
    return StepTotals(
        root["residual"].moments.total,
        root["dangling"].moments.total,
        root["mass"].moments.total,
        coverage,
        tree.depth,
    )


# ---------------------------------------------------------------------- executors


class BlockExecutor(Protocol):
    """Runs every block of a step somewhere and keeps the rank vectors.

    ``vector(k)`` is ``x_k``; ``step(k, D)`` computes ``x_{k+1}`` from ``x_k``.
    """

    name: str

    def start(self, graph: PartitionedGraph, alpha: float, teleport: Teleport, x0: Vector) -> None:
        """Prepare to run ``graph`` from ``x0``."""
        ...

    def step(self, k: int, dangling_mass: float) -> list[BlockResult]:
        """Run every block once; return their results (raise if one failed on every attempt)."""
        ...

    def vector(self, k: int) -> Vector:
        """``x_k`` (a copy or a view valid until the executor is closed)."""
        ...

    def close(self) -> dict[str, float]:
        """Release workers; return the executor's accounting."""
        ...


async def _block_agent(
    ctx: AgentContext, payload: tuple[InProcessExecutor, int, int, float]
) -> Any:
    executor, b, k, dmass = payload
    return await asyncio.to_thread(executor.compute, ctx.agent_id, b, k, dmass)


@dataclass
class InProcessExecutor:
    """Block workers as ephemeral agents (pattern 4) on threads of this process.

    Args:
        threads: agents that may run at once.
        warm: keep agents (and their memory-mapped blocks) across steps; otherwise a
            pool is opened per step and scales to zero when the step ends.
        max_attempts: attempts per block and step (a crashed agent's block is rerun
            on a fresh agent).
        crash: a crash plan (tests and benchmarks).
    """

    threads: int = 2
    warm: bool = True
    max_attempts: int = 3
    crash: CrashPlan | None = None
    name: str = "inprocess"
    recovered: int = 0
    crashed: int = 0
    _graph: PartitionedGraph | None = None
    _buffers: list[Vector] = field(default_factory=list)
    _alpha: float = 0.85
    _teleport: Teleport | None = None
    _mask: npt.NDArray[np.bool_] | None = None
    _agent_blocks: dict[int, CsrBlock] = field(default_factory=dict)
    _attempts: dict[tuple[int, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: AsyncRuntime | None = None
    _pool: AgentPool | None = None
    _specs: dict[int, AgentSpec] = field(default_factory=dict)
    _accounts: list[dict[str, float]] = field(default_factory=list)

    def _settings(self) -> EphemeralSettings:
        return EphemeralSettings(
            max_running=self.threads,
            max_attempts=self.max_attempts,
            rehydrate_top_k=0,
            default_max_idle_s=3600.0 if self.warm else 60.0,
            default_ttl_s=7 * 86400,
            default_timeout_s=BLOCK_TIMEOUT_S,
        )

    def start(self, graph: PartitionedGraph, alpha: float, teleport: Teleport, x0: Vector) -> None:
        """Hold the vectors in memory; open the warm pool."""
        self._graph, self._alpha, self._teleport = graph, alpha, teleport
        self._mask = np.asarray(graph.dangling())
        self._buffers = [np.array(x0, dtype=np.float64), np.empty(graph.n_nodes)]
        self._specs = {
            b: AgentSpec(f"pagerank-block-{b}", _block_agent, result_type=BlockResult)
            for b in range(graph.n_blocks)
        }
        self._loop = AsyncRuntime("pagerank")
        if self.warm:
            self._pool = self._loop.call(self._open_pool())

    async def _open_pool(self) -> AgentPool:
        pool = AgentPool(self._settings())
        pool.start()
        return pool

    def compute(self, agent_id: int, b: int, k: int, dmass: float) -> BlockResult:
        """One attempt of block ``b`` at step ``k`` on agent ``agent_id`` (runs on a thread)."""
        assert self._graph is not None and self._teleport is not None and self._mask is not None
        with self._lock:
            attempt = self._attempts.get((b, k), 0) + 1
            self._attempts[(b, k)] = attempt
            blk = self._agent_blocks.get(agent_id)
        if blk is None:  # a fresh agent maps its block
            blk = self._graph.block(b)
            with self._lock:
                self._agent_blocks[agent_id] = blk
        out = self._buffers[(k + 1) % 2][blk.lo : blk.hi]
        try:
            return block_step(
                blk,
                self._buffers[k % 2],
                out,
                dmass,
                self._alpha,
                self._teleport,
                self._mask,
                k,
                attempt,
                self.crash,
            )
        except InjectedCrashError:
            with self._lock:
                self.crashed += 1
                self._agent_blocks.pop(agent_id, None)  # a crashed agent is gone
            raise

    async def _run_step(self, k: int, dmass: float) -> list[ItemOutcome]:
        pool = self._pool
        own = pool is None
        if pool is None:
            pool = AgentPool(self._settings())
            pool.start()
        try:
            futures = [
                await pool.submit(self._specs[b], (self, b, k, dmass)) for b in sorted(self._specs)
            ]
            return list(await asyncio.gather(*futures))
        finally:
            if own:
                account = await pool.aclose()
                self._accounts.append(account.as_dict())
                self._agent_blocks.clear()

    def step(self, k: int, dangling_mass: float) -> list[BlockResult]:
        """Submit every block of step ``k`` to the pool and wait for all of them."""
        assert self._loop is not None
        outs = self._loop.call(self._run_step(k, dangling_mass))
        results: list[BlockResult] = []
        for b, out in zip(sorted(self._specs), outs, strict=True):
            if not out.ok:
                raise BlockFailedError(
                    f"block {b} failed at step {k} after {out.attempts} attempt(s): {out.error}"
                ) from out.error
            if out.attempts > 1:
                self.recovered += 1
            results.append(out.value)
        return results

    def vector(self, k: int) -> Vector:
        """``x_k``."""
        return self._buffers[k % 2]

    def close(self) -> dict[str, float]:
        """Close the pool and the loop; the summed accounting of every pool used."""
        if self._loop is not None:
            if self._pool is not None:
                account = self._loop.call(self._pool.aclose())
                self._accounts.append(account.as_dict())
                self._pool = None
            self._loop.close()
            self._loop = None
        self._agent_blocks.clear()
        total: dict[str, float] = {}
        for acc in self._accounts:
            for key in ("agent_seconds", "busy_seconds", "spawns", "crashes", "retries"):
                total[key] = total.get(key, 0.0) + acc.get(key, 0.0)
        total["recovered_blocks"] = float(self.recovered)
        total["injected_crashes"] = float(self.crashed)
        return total


# ---------------------------------------------------------------------- disk-backed workers


@dataclass(frozen=True)
class DiskJob:
    """What a worker in another process needs: paths and scalars (cheap to ship per task)."""

    graph_dir: str
    work_dir: str
    alpha: float
    n_nodes: int
    p_uniform: bool
    dw_uniform: bool
    flush: bool = True

    def vector_path(self, k: int) -> Path:
        """The file holding ``x_k`` (two files, alternating)."""
        return Path(self.work_dir) / f"x{k % 2}.npy"


def prepare_disk_job(
    graph: PartitionedGraph,
    work_dir: str | Path,
    alpha: float,
    teleport: Teleport,
    x0: Vector,
    flush: bool = True,
) -> DiskJob:
    """Write ``x0``, the second buffer and the teleport vectors under ``work_dir``.

    ``flush``: workers ``msync`` their slice of the new vector after each step. Needed
    when workers on other hosts share the directory (NFS and the like); on one host the
    page cache is shared by every process that maps the file, so it is only a cost.
    """
    wd = Path(work_dir)
    wd.mkdir(parents=True, exist_ok=True)
    np.save(wd / "x0.npy", np.asarray(x0, dtype=np.float64))
    np.lib.format.open_memmap(wd / "x1.npy", mode="w+", dtype=np.float64, shape=(graph.n_nodes,))
    if teleport.p is not None:
        np.save(wd / "p.npy", teleport.p)
    if teleport.dw is not None:
        np.save(wd / "dw.npy", teleport.dw)
    return DiskJob(
        str(graph.root),
        str(wd),
        alpha,
        graph.n_nodes,
        teleport.p is None,
        teleport.dw is None,
        flush,
    )


def run_blocks_on_disk(
    job: DiskJob,
    blocks: Sequence[int],
    k: int,
    dangling_mass: float,
    attempt: int = 1,
    crash: CrashPlan | None = None,
) -> list[BlockResult]:
    """Run ``blocks`` of step ``k`` reading ``x_k`` and writing ``x_{k+1}`` as memory maps.

    Idempotent: running it again for the same ``k`` rewrites the same slices.
    """
    graph = PartitionedGraph(job.graph_dir)
    wd = Path(job.work_dir)
    x_old = load_npy(job.vector_path(k))
    x_new = load_npy(job.vector_path(k + 1), "r+")
    p = None if job.p_uniform else load_npy(wd / "p.npy")
    dw = None if job.dw_uniform else load_npy(wd / "dw.npy")
    teleport = Teleport(job.n_nodes, p, dw)
    mask = graph.dangling()
    out: list[BlockResult] = []
    for b in blocks:
        blk = graph.block(b)
        out.append(
            block_step(
                blk,
                x_old,
                x_new[blk.lo : blk.hi],
                dangling_mass,
                job.alpha,
                teleport,
                mask,
                k,
                attempt,
                crash,
            )
        )
    if job.flush:
        x_new.flush()
    return out


def group_blocks(n_blocks: int, groups: int) -> list[list[int]]:
    """Split block ids into ``groups`` contiguous groups (one task each)."""
    g = max(1, min(groups, n_blocks))
    return [list(map(int, part)) for part in np.array_split(np.arange(n_blocks), g)]


# ---------------------------------------------------------------------- the driver


@dataclass
class PageRankResult:
    """The ranks and how the run went."""

    ranks: Vector
    iterations: int
    converged: bool
    residuals: list[float]
    step_seconds: list[float]
    wall_s: float
    backend: str
    n_blocks: int
    tree_depth: int
    account: dict[str, float] = field(default_factory=dict)

    @property
    def recovered_blocks(self) -> int:
        """Block attempts that crashed and were recomputed."""
        return int(self.account.get("recovered_blocks", 0))


StepHook = Callable[[int, StepTotals, float], None]
"""``on_step(k, totals, seconds)`` after each step."""


def run_pagerank(
    graph: PartitionedGraph,
    params: PageRankParams | None = None,
    executor: BlockExecutor | None = None,
    fanout: int = 4,
    on_step: StepHook | None = None,
) -> PageRankResult:
    """PageRank of a partitioned graph by power iteration over its blocks.

    Args:
        graph: the partitioned graph.
        params: alpha, tolerance, personalization ... (networkx's defaults but ``tol``).
        executor: where blocks run (in-process ephemeral agents by default).
        fanout: fanout of the aggregation tree.
        on_step: progress hook.

    Returns:
        The rank vector (sums to 1) and the run's record.

    Raises:
        ConvergenceError: not converged within ``max_iter`` steps (when ``params.strict``).
        BlockFailedError: a block failed on every attempt.
    """
    params = params or PageRankParams()
    n = graph.n_nodes
    params.check(n)
    teleport = Teleport.of(n, params)
    x0 = _normalised(params.nstart)
    if x0 is None:
        x0 = np.full(n, 1.0 / n)
    ex = executor or InProcessExecutor()
    t0 = time.perf_counter()
    residuals: list[float] = []
    walls: list[float] = []
    depth = 0
    converged = False
    try:
        ex.start(graph, params.alpha, teleport, x0)
        dmass = float(x0[np.asarray(graph.dangling())].sum())
        k = 0
        while k < params.max_iter:
            ts = time.perf_counter()
            results = ex.step(k, dmass)
            totals = merge_results(results, graph.n_blocks, fanout)
            k += 1
            depth = totals.depth
            dmass = totals.dangling
            residuals.append(totals.residual)
            walls.append(time.perf_counter() - ts)
            if on_step is not None:
                on_step(k, totals, walls[-1])
            if totals.residual < n * params.tol:
                converged = True
                break
        ranks = np.array(ex.vector(k), dtype=np.float64)
    finally:
        account = ex.close()
    if not converged and params.strict:
        raise ConvergenceError(
            f"power iteration did not converge in {params.max_iter} steps "
            f"(last L1 change {residuals[-1]:.3e}, needed < {n * params.tol:.3e})"
        )
    return PageRankResult(
        ranks,
        k,
        converged,
        residuals,
        walls,
        time.perf_counter() - t0,
        ex.name,
        graph.n_blocks,
        depth,
        account,
    )
