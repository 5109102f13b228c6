"""Benchmark runner: ``python -m tests.perf.run [NAME ...]`` writes ``bench-results/<NAME>.json``.

Each benchmark is a function returning one flat dict of numbers. With no name,
every registered benchmark runs. Benchmarks are not part of ``make test``.
"""

from __future__ import annotations

import importlib
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "bench-results"

# name -> (module, function)
_PROGRESS: Progress | None = None  # the display of a running `make bench`

BENCHMARKS: dict[str, tuple[str, str]] = {
    "kernel": ("tests.perf.bench_kernel", "run_kernel_bench"),
    "aggregation": ("tests.perf.bench_aggregation", "run_aggregation_bench"),
    "cluster": ("tests.perf.bench_cluster", "run_cluster_bench"),
    "memory": ("tests.perf.bench_memory", "run_memory_bench"),
    "gossip": ("tests.perf.bench_gossip", "run_gossip_bench"),
    "ephemeral": ("tests.perf.bench_ephemeral", "run_ephemeral_bench"),
    "pbft": ("tests.perf.bench_pbft", "run_pbft_bench"),
    "router": ("tests.perf.bench_router", "run_router_bench"),
    "codegen": ("tests.perf.bench_codegen", "run_codegen_bench"),
    "selfheal": ("tests.perf.bench_selfheal", "run_selfheal_bench"),
    "surface": ("tests.perf.bench_surface", "run_surface_bench"),
    "folding": ("tests.perf.bench_folding", "run_folding_bench"),
    "pagerank": ("tests.perf.bench_pagerank", "run_pagerank_bench"),
    "causal": ("tests.perf.bench_causal", "run_causal_bench"),
    "game": ("tests.perf.bench_game", "run_game_bench"),
}


def _load(name: str) -> Callable[[], dict[str, float]]:
    module, func = BENCHMARKS[name]
    fn: Callable[[], dict[str, float]] = getattr(importlib.import_module(module), func)
    return fn


def run(name: str) -> dict[str, float]:
    """Run one benchmark, check its figures are finite numbers, write its JSON file."""
    t0 = time.perf_counter()
    figures = _load(name)()
    bad = {
        k: v for k, v in figures.items() if not isinstance(v, int | float) or not math.isfinite(v)
    }
    if bad:
        raise SystemExit(f"benchmark {name} returned non-numeric figures: {bad}")
    figures = {**figures, "bench_wall_s": round(time.perf_counter() - t0, 3)}
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"{name}: wrote {path.relative_to(ROOT)} ({platform.python_version()})")
    print(json.dumps(figures, indent=2, sort_keys=True))
    return figures


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    global _PROGRESS
    with _new_progress() as progress:
        _PROGRESS = progress
        bar = progress.add_task("benchmarks", total=len(names))
        try:
            for name in names:
                progress.update(bar, description=f"benchmark {name}")
                run(name)
                progress.advance(bar)
        finally:
            _PROGRESS = None
    return 0


def _new_progress() -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    return Progress(*columns)


@contextmanager
def tracked(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar for a long benchmark; yields the function that advances it by one."""
    shared = _PROGRESS
    if shared is not None:  # under `make bench`: one more bar in the same display
        bar = shared.add_task(description, total=total)
        try:
            yield lambda: shared.advance(bar)
        finally:
            shared.remove_task(bar)
        return
    with _new_progress() as progress:
        own = progress.add_task(description, total=total)
        yield lambda: progress.advance(own)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
