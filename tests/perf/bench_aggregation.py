"""Aggregation benchmark (`make bench NAME=aggregation`): a million agents, baselines, QUIC."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time

from patterns.aggregation.aggregates import AggregateSpec
from patterns.aggregation.baselines import flat_to_root, push_sum
from patterns.aggregation.engine import aggregate_vectorized
from patterns.aggregation.runner import run_tree_quic, run_tree_sim, simulated_metrics

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


def run_aggregation_bench() -> dict[str, float]:
    values = simulated_metrics(AGENTS, seed=0)
    out: dict[str, float] = {"agents": AGENTS, "k": K}
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
    out["wall_ms_all_1m"], _ = _best_ms(lambda: aggregate_vectorized(values, K), repeat=2)
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
    return out


if __name__ == "__main__":
    print(json.dumps(run_aggregation_bench(), indent=2))
