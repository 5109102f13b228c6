"""End-to-end runs without Prefect: maritime ranking and edge files (used by the CLI and bench)."""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from apps.pagerank.edges import ArrayEdges, open_edges
from apps.pagerank.engine import (
    BlockExecutor,
    InProcessExecutor,
    PageRankParams,
    PageRankResult,
    run_pagerank,
)
from apps.pagerank.maritime import MaritimeGraph, lane_flows, load_maritime, passage_flows
from apps.pagerank.partition import PartitionedGraph, build_partitions
from apps.pagerank.report import convergence_png, top_rows, world_map_png, write_ranks
from apps.pagerank.settings import LaneWeight, PageRankSettings


def peak_rss_bytes() -> int:
    """This process's peak resident set size (``getrusage``: Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def maritime_partitions(
    graph: MaritimeGraph, weight: LaneWeight | str, out_dir: str | Path, n_blocks: int
) -> PartitionedGraph:
    """Write the maritime graph as ``n_blocks`` CSR blocks under ``out_dir``."""
    edges = ArrayEdges(graph.src, graph.dst, graph.weights(weight), n_nodes=graph.n_nodes)
    return build_partitions(edges, out_dir, n_blocks)


def port_personalization(graph: MaritimeGraph, ports: Sequence[str]) -> npt.NDArray[np.float64]:
    """A personalization vector: equal weight on the named ports (UnknownPortError if unknown)."""
    p = np.zeros(graph.n_nodes)
    p[graph.resolve_ports(ports)] = 1.0
    return p


def params_from(
    settings: PageRankSettings, personalization: npt.NDArray[np.float64] | None = None
) -> PageRankParams:
    """Engine parameters from settings."""
    return PageRankParams(
        alpha=settings.alpha,
        tol=settings.tol,
        max_iter=settings.max_iter,
        personalization=personalization,
    )


def default_executor(settings: PageRankSettings) -> InProcessExecutor:
    """The in-process executor configured from settings."""
    return InProcessExecutor(
        threads=settings.threads, warm=settings.warm_workers, max_attempts=settings.max_attempts
    )


@dataclass
class MaritimeRun:
    """A maritime ranking and its outputs."""

    graph: MaritimeGraph
    result: PageRankResult
    sources: list[int]
    top_ports: list[dict[str, Any]]
    top_nodes: list[dict[str, Any]]
    chokepoints: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)


def rank_maritime(
    settings: PageRankSettings,
    from_ports: Sequence[str] = (),
    executor: BlockExecutor | None = None,
    out_dir: str | Path | None = None,
    pictures: bool = True,
) -> MaritimeRun:
    """Rank the maritime network (personalized from ``from_ports`` when given); write outputs."""
    graph = load_maritime(settings.exclude_passages, settings.max_port_link_km)
    sources = graph.resolve_ports(from_ports) if from_ports else []
    out = Path(out_dir or settings.output_dir) / "maritime"
    tag = "-".join(graph.locode[i] for i in sources) or "global"
    parts = maritime_partitions(
        graph,
        settings.lane_weight,
        out / f"graph-{settings.lane_weight.value}",
        settings.partitions,
    )
    pers = port_personalization(graph, from_ports) if from_ports else None
    result = run_pagerank(
        parts,
        params_from(settings, pers),
        executor or default_executor(settings),
        fanout=settings.fanout,
    )
    w = graph.weights(settings.lane_weight)
    chokepoints = passage_flows(graph, lane_flows(graph, w, result.ranks))
    run = MaritimeRun(
        graph,
        result,
        sources,
        top_rows(result.ranks, settings.top_k, graph, ports_only=True),
        top_rows(result.ranks, settings.top_k, graph),
        chokepoints,
    )
    run.files["ranks"] = write_ranks(out / f"ranks-{tag}.parquet", result.ranks, graph)
    if pictures:
        what = f"from {tag}" if sources else "global"
        run.files["convergence"] = convergence_png(
            out / f"convergence-{tag}.png",
            result.residuals,
            graph.n_nodes * settings.tol,
            f"maritime PageRank ({what}): {result.iterations} steps, {parts.n_blocks} blocks",
        )
        run.files["map"] = world_map_png(
            out / f"map-{tag}.png",
            graph,
            result.ranks,
            f"PageRank of the searoute maritime network ({what}, lanes weighted by "
            f"{settings.lane_weight.value}, alpha={settings.alpha})",
            sources=sources,
        )
    return run


def rank_edge_file(
    path: str | Path,
    settings: PageRankSettings,
    n_nodes: int | None = None,
    graph_dir: str | Path | None = None,
    executor: BlockExecutor | None = None,
) -> tuple[PartitionedGraph, PageRankResult]:
    """Convert an edge file (CSV/Parquet) to blocks under ``graph_dir`` and rank it."""
    src = Path(path)
    target = Path(graph_dir) if graph_dir else Path(settings.output_dir) / f"graph-{src.stem}"
    parts = build_partitions(
        open_edges(src, n_nodes, settings.chunk_edges), target, settings.partitions
    )
    result = run_pagerank(
        parts, params_from(settings), executor or default_executor(settings), settings.fanout
    )
    return parts, result
