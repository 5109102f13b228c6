"""App 8: PageRank of the maritime network (or any edge file) over partitioned block workers.

``pagerank`` loads the searoute maritime network (or converts an edge file out of
core), partitions it into memory-mapped CSR blocks, runs the power iteration on the
in-process backend (ephemeral block agents) or on Dask (block groups mapped as
Prefect tasks through ``prefect-dask``), and publishes the top-k table, the rank
vector (Parquet), the convergence curve and the world map as artifacts.
``python -m flows.pagerank`` ranks the maritime network globally and from Rotterdam.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from apps.pagerank.engine import CrashPlan, PageRankParams, PageRankResult
from apps.pagerank.maritime import MaritimeGraph, lane_flows, passage_flows
from apps.pagerank.partition import PartitionedGraph
from apps.pagerank.report import (
    convergence_png,
    markdown_table,
    png_markdown,
    top_rows,
    world_map_png,
    write_ranks,
)
from apps.pagerank.settings import Backend, PageRankSettings, get_pagerank_settings
from tasks.pagerank import (
    dask_power_iterate,
    dask_task_runner,
    load_maritime_graph,
    partition_edges,
    partition_maritime,
    power_iterate,
    time_empty_steps,
)

MARITIME = "maritime"


@flow(name="pagerank-dask-steps", log_prints=True, persist_result=False)
def dask_steps(
    graph: PartitionedGraph,
    params: PageRankParams,
    settings: PageRankSettings,
    work_dir: str,
    crash: CrashPlan | None = None,
    vectors: str | None = None,
) -> PageRankResult:
    """The power iteration with block groups mapped as tasks on the Dask task runner.

    ``vectors``: the ``.npz`` of ``PageRankParams.vectors_saved`` (per-node vectors kept
    out of the flow's parameters, which Prefect ships with every task).
    """
    groups = settings.dask_workers * settings.tasks_per_worker
    full = params.vectors_loaded(vectors)
    return dask_power_iterate(graph, full, settings, work_dir, groups, crash)


@flow(name="pagerank-dask-floor", log_prints=True, persist_result=False)
def dask_floor(groups: int = 2, rounds: int = 5) -> dict[str, float]:
    """The per-step orchestration floor of the flow's task runner (run it with the runner).

    A step's compute must exceed this about tenfold for the orchestration to stay under
    10% of the step; see :func:`tasks.pagerank.time_empty_steps`.
    """
    return time_empty_steps(groups, rounds)


def _settings(**overrides: Any) -> PageRankSettings:
    base = get_pagerank_settings()
    updates = {k: v for k, v in overrides.items() if v is not None}
    return PageRankSettings.model_validate(base.model_dump() | updates)


@flow(name="pagerank", log_prints=True, persist_result=False)
def pagerank(
    graph: str = MARITIME,
    from_ports: list[str] | None = None,
    lane_weight: str | None = None,
    backend: str | None = None,
    partitions: int | None = None,
    top: int | None = None,
    n_nodes: int | None = None,
    output_dir: str | None = None,
    crash_rate: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Rank the maritime network or an edge file.

    Args:
        graph: ``maritime`` (searoute's network) or the path of an edge file (CSV/Parquet).
        from_ports: personalize on these ports (names or UN/LOCODEs; maritime only).
        lane_weight: ``length`` (default), ``inverse`` or ``none``.
        backend: ``inprocess`` (default) or ``dask``.
        partitions: destination blocks (default from settings).
        top: rows of the top-k table.
        n_nodes: node count of an edge file (default: max id + 1).
        output_dir: where files go (default ``.data/pagerank``).
        crash_rate: inject worker crashes with this probability per block and step.
        seed: seed of the crash plan.

    Returns:
        A summary: iterations, wall time, top rows, output files.
    """
    logger = get_run_logger()
    s = _settings(
        lane_weight=lane_weight,
        backend=backend,
        partitions=partitions,
        top_k=top,
        output_dir=output_dir,
    )
    out = Path(s.output_dir)
    mg: MaritimeGraph | None = None
    personalization = None
    sources: list[int] = []
    if graph == MARITIME:
        mg = load_maritime_graph(s.exclude_passages, s.max_port_link_km)
        if from_ports:
            sources = mg.resolve_ports(from_ports)
            personalization = np.zeros(mg.n_nodes)
            personalization[sources] = 1.0
        parts = partition_maritime(
            mg, s.lane_weight, str(out / MARITIME / f"graph-{s.lane_weight.value}"), s.partitions
        )
        tag = "-".join(mg.locode[i] for i in sources) or "global"
        run_dir = out / MARITIME
    else:
        if from_ports:
            raise ValueError("from_ports applies to the maritime graph only")
        stem = Path(graph).stem
        parts = partition_edges(
            graph, str(out / f"graph-{stem}"), s.partitions, n_nodes, s.chunk_edges
        )
        tag, run_dir = stem, out / stem
    params = PageRankParams(
        alpha=s.alpha, tol=s.tol, max_iter=s.max_iter, personalization=personalization
    )
    crash = CrashPlan(seed=seed, rate=crash_rate) if crash_rate > 0 else None
    if s.backend is Backend.DASK:
        runner: Any = dask_task_runner(s)
        work_dir = run_dir / "vectors"
        light, vectors = params.vectors_saved(work_dir / f"params-{tag}.npz")
        result = dask_steps.with_options(task_runner=runner)(
            parts, light, s, str(work_dir), crash, vectors
        )
    else:
        result = power_iterate(parts, params, s, crash)
    logger.info(
        "%d nodes, %d edges, %d blocks on %s: %d steps in %.3f s (residual %.2e)",
        parts.n_nodes,
        parts.manifest.n_edges,
        parts.n_blocks,
        result.backend,
        result.iterations,
        result.wall_s,
        result.residuals[-1],
    )
    return _publish(result, parts, s, mg, sources, tag, run_dir)


def _publish(
    result: PageRankResult,
    parts: PartitionedGraph,
    s: PageRankSettings,
    mg: MaritimeGraph | None,
    sources: list[int],
    tag: str,
    run_dir: Path,
) -> dict[str, Any]:
    rows = top_rows(result.ranks, s.top_k, mg)
    files = {"ranks": write_ranks(run_dir / f"ranks-{tag}.parquet", result.ranks, mg)}
    files["convergence"] = convergence_png(
        run_dir / f"convergence-{tag}.png",
        result.residuals,
        parts.n_nodes * s.tol,
        f"PageRank {tag}: {result.iterations} steps, {parts.n_blocks} blocks, {result.backend}",
    )
    key = "".join(c if c.isalnum() else "-" for c in tag.lower())
    create_table_artifact(
        key=f"pagerank-top-{key}",
        table=rows,
        description=f"Top {s.top_k} by PageRank ({tag}); rank vector: {files['ranks']}",
    )
    create_markdown_artifact(
        key=f"pagerank-convergence-{key}",
        markdown=png_markdown(files["convergence"], "Convergence (L1 change per step)"),
    )
    facts = {
        "nodes": parts.n_nodes,
        "edges": parts.manifest.n_edges,
        "blocks": parts.n_blocks,
        "aggregation tree depth": result.tree_depth,
        "backend": result.backend,
        "steps": result.iterations,
        "converged": result.converged,
        "last L1 change": result.residuals[-1],
        "wall s": round(result.wall_s, 4),
    } | {f"workers: {k}": round(v, 4) for k, v in result.account.items()}
    create_markdown_artifact(
        key=f"pagerank-run-{key}",
        markdown="# PageRank run\n\n"
        + markdown_table([{"figure": k, "value": v} for k, v in facts.items()]),
    )
    summary: dict[str, Any] = {
        "nodes": parts.n_nodes,
        "edges": parts.manifest.n_edges,
        "blocks": parts.n_blocks,
        "backend": result.backend,
        "iterations": result.iterations,
        "converged": result.converged,
        "wall_s": round(result.wall_s, 4),
        "account": result.account,
        "top": rows,
    }
    if mg is not None:
        weights = mg.weights(s.lane_weight)
        choke = passage_flows(mg, lane_flows(mg, weights, result.ranks))
        files["map"] = world_map_png(
            run_dir / f"map-{tag}.png",
            mg,
            result.ranks,
            f"PageRank of the searoute maritime network ({tag}, lanes weighted by "
            f"{s.lane_weight.value})",
            sources=sources,
        )
        create_markdown_artifact(
            key=f"pagerank-map-{key}", markdown=png_markdown(files["map"], "Maritime PageRank")
        )
        create_markdown_artifact(
            key=f"pagerank-chokepoints-{key}",
            markdown="# Chokepoints: rank flow through their lanes\n\n"
            + markdown_table([{"passage": k, "flow": v} for k, v in choke.items()]),
        )
        ports = top_rows(result.ranks, s.top_k, mg, ports_only=True)
        create_table_artifact(
            key=f"pagerank-top-ports-{key}",
            table=ports,
            description=f"Top {s.top_k} ports by PageRank ({tag})",
        )
        summary["chokepoints"] = choke
        summary["top_ports"] = ports
    summary["files"] = {k: str(v) for k, v in files.items()}
    return summary


if __name__ == "__main__":
    for ports in (None, ["Rotterdam"]):
        res = pagerank(from_ports=ports, top=10)
        print(
            f"\n{'from ' + ports[0] if ports else 'global'}: {res['iterations']} steps, "
            f"{res['wall_s'] * 1000:.0f} ms, files {res['files']}"
        )
        print(markdown_table([{k: r[k] for k in ("#", "name", "rank")} for r in res["top"]]))
        print(markdown_table([{k: r[k] for k in ("#", "name", "rank")} for r in res["top_ports"]]))
