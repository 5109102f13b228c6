"""Outputs of a run: top-k rows, the rank vector as Parquet, convergence and world-map PNGs."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from apps.pagerank.maritime import PORT, MaritimeGraph

Vector = npt.NDArray[np.float64]


def top_k(ranks: Vector, k: int, among: npt.NDArray[np.bool_] | None = None) -> list[int]:
    """Ids of the ``k`` highest ranks (ties by id), optionally among a mask."""
    idx = np.arange(len(ranks)) if among is None else np.flatnonzero(among)
    order = np.lexsort((idx, -ranks[idx]))
    return [int(i) for i in idx[order[:k]]]


def top_rows(
    ranks: Vector, k: int, graph: MaritimeGraph | None = None, ports_only: bool = False
) -> list[dict[str, Any]]:
    """The top-k table: position, node, rank (and for the maritime graph, name and place)."""
    mask = None
    if graph is not None and ports_only:
        mask = np.array([kind == PORT for kind in graph.kind])
    rows: list[dict[str, Any]] = []
    n = len(ranks)
    for pos, i in enumerate(top_k(ranks, k, mask), start=1):
        row: dict[str, Any] = {
            "#": pos,
            "node": i,
            "rank": float(ranks[i]),
            "x n": float(ranks[i] * n),
        }
        if graph is not None:
            row |= {
                "name": graph.label(i),
                "kind": graph.kind[i],
                "country": graph.country[i],
                "lon": round(float(graph.lon[i]), 4),
                "lat": round(float(graph.lat[i]), 4),
            }
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a markdown table (floats in compact scientific notation)."""
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_ranks(path: str | Path, ranks: Vector, graph: MaritimeGraph | None = None) -> Path:
    """The rank vector as Parquet: ``node``, ``rank`` (+ ``kind``, ``name``, ``locode``, lon/lat)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols: dict[str, Any] = {"node": np.arange(len(ranks), dtype=np.int64), "rank": ranks}
    if graph is not None:
        cols |= {
            "kind": graph.kind,
            "name": graph.name,
            "locode": graph.locode,
            "lon": graph.lon,
            "lat": graph.lat,
        }
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(pa.table(cols), tmp)
    tmp.replace(out)
    return out


def convergence_png(
    path: str | Path, residuals: Sequence[float], threshold: float, title: str
) -> Path:
    """L1 change per step on a log scale, with the stopping threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    steps = np.arange(1, len(residuals) + 1)
    ax.semilogy(steps, np.maximum(np.asarray(residuals), 1e-300), marker=".", lw=1)
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"stop: n*tol = {threshold:.1e}")
    ax.set_xlabel("power-iteration step")
    ax.set_ylabel("L1 change of the rank vector")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def world_map_png(
    path: str | Path,
    graph: MaritimeGraph,
    ranks: Vector,
    title: str,
    label_top: int = 12,
    sources: Sequence[int] = (),
) -> Path:
    """Lanes as thin lines, nodes as dots sized and coloured by rank, the top nodes named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(12, 6.2), dpi=110)
    ax.set_facecolor("#eef3f8")
    seg_ok = (
        np.abs(graph.lon[graph.src] - graph.lon[graph.dst]) < 180
    )  # not across the antimeridian
    segs = np.stack(
        [
            np.column_stack((graph.lon[graph.src], graph.lat[graph.src])),
            np.column_stack((graph.lon[graph.dst], graph.lat[graph.dst])),
        ],
        axis=1,
    )[seg_ok]
    ax.add_collection(LineCollection(segs.tolist(), colors="#9db4c8", linewidths=0.3, zorder=1))
    rel = ranks / ranks.max()
    order = np.argsort(rel)
    sc = ax.scatter(
        graph.lon[order],
        graph.lat[order],
        s=2 + 220 * rel[order],
        c=np.log10(np.maximum(ranks[order] * len(ranks), 1e-12)),
        cmap="viridis",
        alpha=0.8,
        linewidths=0,
        zorder=2,
    )
    fig.colorbar(sc, ax=ax, shrink=0.7, label="log10(rank x n)")
    for i in top_k(ranks, label_top):
        ax.annotate(
            graph.short_label(i),
            (graph.lon[i], graph.lat[i]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            zorder=3,
        )
    if sources:
        ax.scatter(
            graph.lon[list(sources)],
            graph.lat[list(sources)],
            marker="*",
            s=160,
            c="tab:red",
            zorder=4,
            label="personalization",
        )
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-75, 85)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def png_markdown(path: Path, title: str) -> str:
    """Markdown embedding a PNG as a data URI (the Prefect UI renders it), with its path."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f"# {title}\n\n![{title}](data:image/png;base64,{data})\n\nFile: `{path}`\n"
