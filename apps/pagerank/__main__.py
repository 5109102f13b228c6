"""Command line: ``python -m apps.pagerank {maritime,run,generate,convert,rank,reference} ...``.

Examples::

    python -m apps.pagerank maritime --top 20 --from-port Rotterdam
    python -m apps.pagerank generate .data/pagerank/rmat.parquet --edges 1000000 --scale 17
    python -m apps.pagerank run .data/pagerank/rmat.parquet --partitions 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from apps.pagerank.edges import open_edges
from apps.pagerank.engine import CrashPlan, InProcessExecutor, run_pagerank
from apps.pagerank.generate import generate_rmat
from apps.pagerank.partition import PartitionedGraph, build_partitions
from apps.pagerank.pipeline import (
    params_from,
    peak_rss_bytes,
    rank_edge_file,
    rank_maritime,
)
from apps.pagerank.reference import scipy_pagerank, transition_of
from apps.pagerank.report import markdown_table, top_rows
from apps.pagerank.settings import LaneWeight, PageRankSettings, get_pagerank_settings
from patterns.core.cli import (
    SETTINGS_ERRORS,
    float_at_least,
    int_at_least,
    new_file,
    report_settings_error,
)
from patterns.core.exceptions import SwarmError

GB = 1e9


_OPTION_OF = {"top_k": "top", "lane_weight": "weight", "output_dir": "out"}  # setting -> option


def _settings(args: argparse.Namespace) -> PageRankSettings:
    s = get_pagerank_settings()
    updates = {
        k: v
        for k, v in {
            "partitions": getattr(args, "partitions", None),
            "alpha": getattr(args, "alpha", None),
            "tol": getattr(args, "tol", None),
            "max_iter": getattr(args, "max_iter", None),
            "top_k": getattr(args, "top", None),
            "lane_weight": getattr(args, "weight", None),
            "threads": getattr(args, "threads", None),
            "chunk_edges": getattr(args, "chunk_edges", None),
        }.items()
        if v is not None
    }
    if getattr(args, "out", None):
        updates["output_dir"] = Path(args.out)
    return PageRankSettings.model_validate(s.model_dump() | updates)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--partitions", type=int, help="destination blocks")
    p.add_argument("--alpha", type=float, help="damping factor (0.85)")
    p.add_argument("--tol", type=float, help="stop when the L1 change < n * tol")
    p.add_argument("--max-iter", type=int)
    p.add_argument("--threads", type=int, help="block agents running at once")
    p.add_argument("--top", type=int, help="rows of the top-k table")
    p.add_argument("--out", help="output directory (default .data/pagerank)")
    p.add_argument("--json", action="store_true", help="print a JSON summary only")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m apps.pagerank", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("maritime", help="rank the searoute maritime network")
    _common(m)
    m.add_argument("--from-port", action="append", default=[], help="personalize (name or LOCODE)")
    m.add_argument("--weight", choices=[w.value for w in LaneWeight])
    r = sub.add_parser("run", help="convert an edge file (CSV/Parquet) and rank it")
    _common(r)
    r.add_argument("edges")
    r.add_argument("--nodes", type=int_at_least(1), help="node count (default: max id + 1)")
    r.add_argument("--chunk-edges", type=int)
    g = sub.add_parser("generate", help="write a seeded R-MAT edge list to Parquet")
    g.add_argument("path")
    g.add_argument("--edges", type=int, required=True)
    g.add_argument("--scale", type=int, required=True, help="2**scale nodes")
    g.add_argument("--seed", type=int_at_least(0), default=0)
    g.add_argument("--weighted", action="store_true")
    g.add_argument("--chunk-edges", type=int_at_least(1), default=4_000_000)
    g.add_argument("--json", action="store_true")
    c = sub.add_parser("convert", help="edge file -> partitioned CSR directory")
    c.add_argument("edges")
    c.add_argument("graph_dir")
    c.add_argument("--partitions", type=int, default=8)
    c.add_argument("--nodes", type=int_at_least(1))
    c.add_argument("--chunk-edges", type=int_at_least(1), default=4_000_000)
    c.add_argument("--json", action="store_true")
    k = sub.add_parser("rank", help="rank a partitioned CSR directory")
    _common(k)
    k.add_argument("graph_dir")
    k.add_argument("--save", type=new_file, help="write the rank vector to this .npy")
    k.add_argument(
        "--crash-rate",
        type=float_at_least(0, below=1),
        default=0.0,
        help="inject crashes (testing)",
    )
    k.add_argument("--spawn-per-step", action="store_true", help="no warm agents")
    f = sub.add_parser("reference", help="scipy power iteration on an edge file (in memory)")
    f.add_argument("edges")
    f.add_argument("--nodes", type=int_at_least(1))
    f.add_argument("--alpha", type=float, default=0.85)
    f.add_argument("--tol", type=float, default=1e-10)
    f.add_argument("--max-iter", type=int, default=300)
    f.add_argument("--save", type=new_file, help="write the rank vector to this .npy")
    f.add_argument("--json", action="store_true")
    return ap


def _emit(args: argparse.Namespace, summary: dict[str, object], text: str = "") -> None:
    if args.json or not text:
        print(json.dumps(summary))
    else:
        print(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SwarmError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SETTINGS_ERRORS as err:  # an option (or a SWARMKIT_PAGERANK__ variable) out of range
        return report_settings_error(err, _OPTION_OF)


def _dispatch(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.cmd == "maritime":
        s = _settings(args)
        run = rank_maritime(s, args.from_port)
        res = run.result
        summary = {
            "iterations": res.iterations,
            "wall_s": round(res.wall_s, 4),
            "nodes": run.graph.n_nodes,
            "edges": len(run.graph.src),
            "files": {k: str(v) for k, v in run.files.items()},
        }
        text = (
            f"maritime PageRank{' from ' + ', '.join(args.from_port) if args.from_port else ''}: "
            f"{run.graph.n_nodes} nodes, {len(run.graph.src)} lanes, {res.iterations} steps, "
            f"{res.wall_s * 1000:.0f} ms\n\ntop nodes\n"
            + markdown_table(run.top_nodes)
            + "\ntop ports\n"
            + markdown_table(run.top_ports)
            + "\nchokepoints (rank flow through their lanes)\n"
            + "\n".join(f"  {k:14s} {v:.4g}" for k, v in list(run.chokepoints.items())[:10])
            + "\n\n"
            + "\n".join(f"{k}: {v}" for k, v in run.files.items())
        )
        _emit(args, summary, text)
        return 0
    if args.cmd == "run":
        s = _settings(args)
        parts, res = rank_edge_file(args.edges, s, args.nodes)
        rows = top_rows(res.ranks, s.top_k)
        summary = {
            "nodes": parts.n_nodes,
            "edges": parts.manifest.n_edges,
            "iterations": res.iterations,
            "wall_s": round(res.wall_s, 3),
            "convert_s": parts.manifest.convert_s,
            "peak_rss_gb": peak_rss_bytes() / GB,
        }
        _emit(args, summary, json.dumps(summary) + "\n" + markdown_table(rows))
        return 0
    if args.cmd == "generate":
        path = generate_rmat(
            args.path, args.edges, args.scale, args.seed, args.chunk_edges, weighted=args.weighted
        )
        summary = {
            "path": str(path),
            "wall_s": round(time.perf_counter() - t0, 3),
            "bytes": path.stat().st_size,
            "peak_rss_gb": peak_rss_bytes() / GB,
        }
        _emit(args, summary)
        return 0
    if args.cmd == "convert":
        g = build_partitions(
            open_edges(args.edges, args.nodes, args.chunk_edges), args.graph_dir, args.partitions
        )
        summary = {
            "nodes": g.n_nodes,
            "edges": g.manifest.n_edges,
            "blocks": g.n_blocks,
            "csr_bytes": g.csr_bytes(),
            "wall_s": round(time.perf_counter() - t0, 3),
            "peak_rss_gb": peak_rss_bytes() / GB,
        }
        _emit(args, summary)
        return 0
    if args.cmd == "rank":
        s = _settings(args)
        g = PartitionedGraph(args.graph_dir)
        ex = InProcessExecutor(
            threads=s.threads,
            warm=not args.spawn_per_step,
            max_attempts=s.max_attempts,
            crash=CrashPlan(seed=0, rate=args.crash_rate) if args.crash_rate else None,
        )
        res = run_pagerank(g, params_from(s), ex, s.fanout)
        if args.save:
            np.save(args.save, res.ranks)
        summary = {
            "nodes": g.n_nodes,
            "edges": g.manifest.n_edges,
            "blocks": g.n_blocks,
            "iterations": res.iterations,
            "wall_s": round(res.wall_s, 4),
            "step_s_median": float(np.median(res.step_seconds)),
            "csr_bytes": g.csr_bytes(),
            "peak_rss_gb": peak_rss_bytes() / GB,
            **{f"account_{k}": v for k, v in res.account.items()},
        }
        _emit(args, summary)
        return 0
    if args.cmd == "reference":
        a, mask = transition_of(open_edges(args.edges, args.nodes), args.nodes)
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        x, steps = scipy_pagerank(a, mask, alpha=args.alpha, tol=args.tol, max_iter=args.max_iter)
        if args.save:
            np.save(args.save, x)
        summary = {
            "iterations": steps,
            "wall_s": round(time.perf_counter() - t1, 4),
            "load_s": round(load_s, 3),
            "peak_rss_gb": peak_rss_bytes() / GB,
        }
        _emit(args, summary)
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
