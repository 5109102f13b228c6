"""The kernel benchmark (`make bench NAME=kernel`): simulator throughput and QUIC against TCP."""

from __future__ import annotations

import json
import os

from tests.perf.bench_sim import run_sim_bench


def run_kernel_bench() -> dict[str, float]:
    """Simulator deliveries/s at 100 and 1,000 nodes; QUIC and TCP round trips and throughput."""
    from tests.perf.bench_quic import run_quic_bench

    figures: dict[str, float] = {"cpu_count": float(os.cpu_count() or 0)}
    figures.update(run_sim_bench())
    figures.update(run_quic_bench())
    return figures


if __name__ == "__main__":
    print(json.dumps(run_kernel_bench(), indent=2))
