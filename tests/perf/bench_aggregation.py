"""Aggregation benchmark (`make bench NAME=aggregation`): a million agents, baselines, QUIC."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time

import numpy as np

from patterns.aggregation.aggregates import AggregateSpec, splitmix64_array
from patterns.aggregation.baselines import flat_to_root, push_sum
from patterns.aggregation.engine import aggregate_vectorized
from patterns.aggregation.processes import run_tree_quic_processes
from patterns.aggregation.runner import run_tree_quic, run_tree_sim, simulated_metrics
from patterns.aggregation.tree import tree_depth

AGENTS = 1_000_000
K = 16
REPEAT = 5


def _best_ms(fn: object, repeat: int = REPEAT) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times)


def _flat_numpy_summary(values: np.ndarray, spec: AggregateSpec) -> tuple[object, ...]:
    """The full summary's parts computed flat at one node with numpy (no tree, no merges):
    the floor any tree computation of the same summary is measured against."""
    assert spec.histogram is not None and spec.ddsketch_alpha is not None
    assert spec.hll_p is not None and spec.topk is not None
    hs = spec.histogram
    moments = (values.size, values.sum(), values.min(), values.max(), values.var())
    buckets = np.clip(
        np.floor((values - hs.lo) / (hs.hi - hs.lo) * hs.buckets) + 1, 0, hs.buckets + 1
    ).astype(np.int64)
    hist = np.bincount(buckets, minlength=hs.buckets + 2)
    mag = np.abs(values)
    gamma = (1 + spec.ddsketch_alpha) / (1 - spec.ddsketch_alpha)
    keys = np.ceil(np.log(np.where(mag > 0, mag, 1.0)) / np.log(gamma)).astype(np.int64)
    pos = np.bincount(keys[values > 0] - keys.min())
    neg = np.bincount(keys[values < 0] - keys.min())
    h = splitmix64_array(np.arange(values.size, dtype=np.uint64))
    reg = (h >> np.uint64(64 - spec.hll_p)).astype(np.int64)
    rest = (h << np.uint64(spec.hll_p)) | np.uint64(1)
    rank = 64 - np.floor(np.log2(rest.astype(np.float64))).astype(np.int64)
    registers = np.zeros(1 << spec.hll_p, dtype=np.int64)
    np.maximum.at(registers, reg, rank)
    top = np.argpartition(-values, spec.topk)[: spec.topk]
    return moments, hist, pos, neg, registers, top


def run_aggregation_bench() -> dict[str, float]:
    values = simulated_metrics(AGENTS, seed=0)
    out: dict[str, float] = {"agents": AGENTS, "k": K}
    t0 = time.perf_counter()
    aggregate_vectorized(values[:1000], K)  # compiles the kernels, or loads them from the cache
    out["first_call_ms"] = (time.perf_counter() - t0) * 1000
    simple = frozenset({"histogram"})
    out["wall_ms_sum_1m"], out["wall_ms_sum_1m_median"] = _best_ms(
        lambda: aggregate_vectorized(values, K, parts=frozenset())
    )
    out["wall_ms_histogram_1m"], _ = _best_ms(lambda: aggregate_vectorized(values, K, parts=simple))
    out["wall_ms_sketch_1m"], out["wall_ms_sketch_1m_median"] = _best_ms(
        lambda: aggregate_vectorized(values, K, parts=frozenset({"ddsketch"}))
    )
    out["wall_ms_hll_1m"], _ = _best_ms(
        lambda: aggregate_vectorized(values, K, parts=frozenset({"hll"}))
    )
    out["wall_ms_topk_1m"], _ = _best_ms(
        lambda: aggregate_vectorized(values, K, parts=frozenset({"topk"}))
    )
    out["wall_ms_all_1m"], out["wall_ms_all_1m_median"] = _best_ms(
        lambda: aggregate_vectorized(values, K)
    )
    out["wall_ms_all_1m_one_thread"], _ = _best_ms(
        lambda: aggregate_vectorized(values, K, threads=1)
    )
    out["flat_numpy_all_1m_ms"], _ = _best_ms(lambda: _flat_numpy_summary(values, AggregateSpec()))
    out["wall_ms_all_1m_vs_floor"] = out["wall_ms_all_1m"] / out["flat_numpy_all_1m_ms"]
    res = aggregate_vectorized(values, K, parts=frozenset())
    out["msgs_per_agent"] = res.messages_per_agent
    out["depth"] = res.depth
    out["root_msgs_tree"] = min(K, AGENTS - 1)
    flat = flat_to_root(values)
    out["flat_root_msgs"] = flat.root_messages
    out["flat_total_msgs"] = flat.total_messages
    out["flat_wall_ms"] = flat.wall_s * 1000
    ps = push_sum(values, rel_tol=1e-3, seed=0)
    out["pushsum_total_msgs"] = ps.total_messages
    out["pushsum_rounds"] = ps.rounds
    out["pushsum_root_msgs"] = ps.root_messages
    out["pushsum_wall_ms"] = ps.wall_s * 1000
    sim = run_tree_sim([float(v) for v in values[:1000]], k=8)
    out["protocol_sim_1000_msgs_per_agent"] = sim.total_messages / 1000
    out["protocol_sim_1000_coverage"] = sim.coverage
    # full summaries carry a 4 KiB HyperLogLog: several datagrams per partial; "simple"
    # is count/sum/mean/min/max/variance plus the histogram, one datagram per partial
    simple_spec = AggregateSpec(ddsketch_alpha=None, hll_p=None, topk=None)
    for n in (128, 256):
        for label, spec in (("", None), ("_simple", simple_spec)):
            with tempfile.TemporaryDirectory() as tmp:
                rep = asyncio.run(
                    run_tree_quic([float(v) for v in values[:n]], tmp, k=8, spec=spec)
                )
            out[f"quic{n}{label}_ms"] = rep.elapsed_s * 1000
            out[f"quic{n}{label}_coverage"] = rep.coverage
    from tests.perf.bench_quic import run_quic_floors

    with tempfile.TemporaryDirectory() as tmp:
        rep = run_tree_quic_processes([float(v) for v in values[:256]], tmp, k=8)
    out["quic256_ms_multiprocess"] = rep.elapsed_s * 1000
    out["quic256_multiprocess_coverage"] = rep.coverage

    # the floor of a QUIC tree in one process: its partials carried at the rate a bare
    # aioquic echo moves messages in this run, plus one round trip per level
    floor, _ = run_quic_floors(1000, 10_000, ())
    out["floor_quic_rtt_p50_ms"] = floor["quic_rtt_p50_us"] / 1000
    out["floor_quic_msgs_per_s"] = floor["quic_msgs_per_s"]
    out["floor_quic256_ms"] = (
        255 / floor["quic_msgs_per_s"] * 1000 + tree_depth(256, 8) * out["floor_quic_rtt_p50_ms"]
    )
    out["quic256_vs_floor"] = out["quic256_ms"] / out["floor_quic256_ms"]
    out["quic256_multiprocess_vs_floor"] = out["quic256_ms_multiprocess"] / out["floor_quic256_ms"]
    return out


if __name__ == "__main__":
    print(json.dumps(run_aggregation_bench(), indent=2))
