"""The partitioned engine against networkx and scipy: exact agreement, partitions, crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.pagerank.edges import ArrayEdges
from apps.pagerank.engine import (
    CrashPlan,
    InProcessExecutor,
    PageRankParams,
    Teleport,
    group_blocks,
    merge_results,
    prepare_disk_job,
    run_blocks_on_disk,
    run_pagerank,
)
from apps.pagerank.exceptions import BlockFailedError, ConvergenceError, InjectedCrashError
from apps.pagerank.partition import build_partitions
from apps.pagerank.reference import networkx_pagerank, scipy_pagerank, transition_matrix

TOL = 1e-12


def random_graph(seed: int, n: int = 120, m: int = 500, weighted: bool = True):
    """Edges with dangling nodes, self-loops, parallel edges and weight-0 edges."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    src[: n // 4] = np.arange(n // 4)  # some self-loops ...
    dst[: n // 4] = np.arange(n // 4)
    src = np.where(src >= n - n // 5, rng.integers(0, n // 2, m), src)  # ... dangling tail ids
    w = rng.random(m) if weighted else None
    if w is not None:
        w[-10:] = 0.0  # weight-0 edges count for nothing
        src[-10:] = n - 1  # node n-1 has only weight-0 edges: dangling too
    return src, dst, w, n


@pytest.mark.seeds(6)
def test_equals_networkx_and_scipy_with_personalization_and_dangling(
    sim_seed: int, tmp_path: Path
) -> None:
    src, dst, w, n = random_graph(sim_seed)
    rng = np.random.default_rng(100 + sim_seed)
    pers = rng.random(n) * (rng.random(n) < 0.5)
    dang = rng.random(n)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n, chunk_edges=97), tmp_path / "g", 5)
    assert g.manifest.n_dangling >= n // 5  # the test graph really has dangling nodes
    res = run_pagerank(g, PageRankParams(personalization=pers, dangling=dang, tol=TOL))
    a, mask = transition_matrix(src, dst, w, n)
    ref, steps = scipy_pagerank(a, mask, personalization=pers, dangling=dang, tol=TOL)
    nx_ref = networkx_pagerank(
        src,
        dst,
        w,
        n,
        personalization=dict(enumerate(pers)),
        dangling=dict(enumerate(dang)),
        tol=TOL,
    )
    assert res.iterations == steps
    assert np.abs(res.ranks - ref).sum() < 1e-13
    assert np.abs(res.ranks - nx_ref).sum() < 1e-12
    assert abs(res.ranks.sum() - 1.0) < 1e-12


@pytest.mark.seeds(3)
def test_unweighted_uniform_equals_networkx(sim_seed: int, tmp_path: Path) -> None:
    src, dst, _, n = random_graph(sim_seed, weighted=False)
    g = build_partitions(ArrayEdges(src, dst, None, n_nodes=n), tmp_path / "g", 3)
    res = run_pagerank(g, PageRankParams(alpha=0.7, tol=TOL))
    nx_ref = networkx_pagerank(src, dst, None, n, alpha=0.7, tol=TOL)
    assert np.abs(res.ranks - nx_ref).sum() < 1e-12


def test_partition_counts_give_the_same_vector(tmp_path: Path) -> None:
    src, dst, w, n = random_graph(7, n=300, m=2000)
    vectors = []
    for p in range(1, 13):
        g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / f"g{p}", p)
        assert g.n_blocks == p
        assert g.bounds[0] == 0 and g.bounds[-1] == n and all(np.diff(g.bounds) > 0)
        vectors.append(run_pagerank(g, PageRankParams(tol=TOL)).ranks)
    for v in vectors[1:]:
        assert np.abs(v - vectors[0]).max() < 1e-15


@pytest.mark.seeds(5)
def test_crashed_workers_mid_step_change_nothing(sim_seed: int, tmp_path: Path) -> None:
    src, dst, w, n = random_graph(sim_seed, n=200, m=900)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / "g", 6)
    clean = run_pagerank(g, PageRankParams(tol=TOL))
    plan = CrashPlan(seed=sim_seed, rate=0.25)
    ex = InProcessExecutor(crash=plan, max_attempts=2)
    crashed = run_pagerank(g, PageRankParams(tol=TOL), ex)
    expected = sum(plan.crashes(b, k, 1) for b in range(6) for k in range(crashed.iterations))
    assert expected > 0
    assert crashed.account["injected_crashes"] == expected
    assert crashed.recovered_blocks == expected
    assert crashed.account["spawns"] >= 6 + expected  # a fresh agent per crashed block
    assert np.array_equal(crashed.ranks, clean.ranks)  # bit for bit, so within 1e-12 too


def test_block_failing_every_attempt_fails_the_run(tmp_path: Path) -> None:
    src, dst, w, n = random_graph(1)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / "g", 3)
    ex = InProcessExecutor(crash=CrashPlan(at=frozenset({(1, 2)}), attempts=5), max_attempts=3)
    with pytest.raises(BlockFailedError, match="block 1 failed at step 2 after 3 attempt"):
        run_pagerank(g, PageRankParams(tol=TOL), ex)


def test_spawn_per_step_scales_to_zero_and_agrees(tmp_path: Path) -> None:
    src, dst, w, n = random_graph(2)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / "g", 4)
    warm = run_pagerank(g, PageRankParams(tol=TOL), InProcessExecutor(warm=True))
    cold = run_pagerank(g, PageRankParams(tol=TOL), InProcessExecutor(warm=False))
    assert np.array_equal(warm.ranks, cold.ranks)
    assert warm.account["spawns"] == 4  # one agent per block, reused every step
    assert cold.account["spawns"] == 4 * cold.iterations  # spawned per step


def test_not_converging_raises_unless_lenient(tmp_path: Path) -> None:
    src, dst, w, n = random_graph(3)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / "g", 2)
    with pytest.raises(ConvergenceError, match="did not converge in 3 steps"):
        run_pagerank(g, PageRankParams(tol=1e-15, max_iter=3))
    res = run_pagerank(g, PageRankParams(tol=1e-15, max_iter=3, strict=False))
    assert not res.converged and res.iterations == 3 and len(res.residuals) == 3


def test_merge_requires_every_block(tmp_path: Path) -> None:
    from apps.pagerank.engine import BlockResult

    parts = [BlockResult(b, 0, 0.1 * b, 0.01, 0.2, 0.0) for b in range(7)]
    totals = merge_results(parts, 7, fanout=2)
    assert totals.coverage == 7 and totals.depth == 2
    assert totals.residual == pytest.approx(2.1) and totals.mass == pytest.approx(1.4)
    with pytest.raises(BlockFailedError, match=r"blocks \[3\]"):
        merge_results(parts[:3] + parts[4:], 7, fanout=2)


@pytest.mark.parametrize("flush", [True, False])
def test_disk_workers_step_like_the_in_process_engine(tmp_path: Path, flush: bool) -> None:
    """What a Dask task runs (blocks from disk, vectors memory-mapped), idempotent per step."""
    src, dst, w, n = random_graph(7)
    g = build_partitions(ArrayEdges(src, dst, w, n_nodes=n), tmp_path / "g", 4)
    params = PageRankParams(personalization=np.arange(n, dtype=float), tol=TOL)
    clean = run_pagerank(g, params)
    job = prepare_disk_job(
        g, tmp_path / "w", params.alpha, Teleport.of(n, params), np.full(n, 1 / n), flush
    )
    dmass = float(np.full(n, 1 / n)[np.asarray(g.dangling())].sum())
    crash = CrashPlan(at=frozenset({(1, k) for k in range(clean.iterations)}))
    for k in range(clean.iterations):
        with pytest.raises(InjectedCrashError):  # half-writes a wrong slice of block 1 ...
            run_blocks_on_disk(job, [0, 1], k, dmass, crash=crash)
        results = []  # ... that the rerun of the step overwrites
        for group in group_blocks(g.n_blocks, 2):
            results += run_blocks_on_disk(job, group, k, dmass)
        dmass = merge_results(results, g.n_blocks, 3).dangling
    x = np.load(job.vector_path(clean.iterations))
    assert np.array_equal(x, clean.ranks) and job.flush is flush


def test_params_vectors_travel_as_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    p, d, x0 = rng.random(5), rng.random(5), rng.random(5)
    params = PageRankParams(alpha=0.9, personalization=p, dangling=d, nstart=x0, tol=1e-9)
    light, path = params.vectors_saved(tmp_path / "v" / "params.npz")
    assert path is not None and light.personalization is None and light.nstart is None
    assert light.alpha == 0.9 and light.tol == 1e-9
    back = light.vectors_loaded(path)
    assert np.array_equal(back.personalization, p) and np.array_equal(back.dangling, d)
    assert np.array_equal(back.nstart, x0)
    plain = PageRankParams()
    assert plain.vectors_saved(tmp_path / "none.npz") == (plain, None)
    assert not (tmp_path / "none.npz").exists() and plain.vectors_loaded(None) is plain
