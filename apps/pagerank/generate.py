"""Seeded R-MAT power-law graphs written to Parquet in chunks (never whole in memory).

R-MAT (Chakrabarti, Zhan & Faloutsos, SDM 2004) with the Graph500 parameters
``a, b, c = 0.57, 0.19, 0.19``: each edge picks, level by level, one quadrant of the
``2^scale x 2^scale`` adjacency matrix. Node labels are then shuffled by a seeded
permutation (as Graph500 does) so that high-degree nodes are spread over the id
range. Chunk ``i`` draws from ``SeedSequence(seed).spawn(...)[i]``: the same
``(seed, scale, n_edges, chunk_edges)`` gives the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from patterns.core.exceptions import ConfigError

RMAT_ABC = (0.57, 0.19, 0.19)  # Graph500
MAX_SCALE = 40


def generate_rmat(
    path: str | Path,
    n_edges: int,
    scale: int,
    seed: int = 0,
    chunk_edges: int = 4_000_000,
    abc: tuple[float, float, float] = RMAT_ABC,
    weighted: bool = False,
    permute: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write an R-MAT edge list (``src``, ``dst``[, ``weight``]) to one Parquet file.

    Args:
        path: the file to write (written under a temporary name, then renamed).
        n_edges: edges to draw (self-loops and repeats included, as R-MAT makes them).
        scale: ``2**scale`` nodes.
        seed: the seed.
        chunk_edges: edges per chunk and Parquet row group (bounds memory).
        abc: the R-MAT quadrant probabilities (d = 1 - a - b - c).
        weighted: add a ``weight`` column, uniform in (0, 1].
        permute: shuffle node labels.
        progress: ``progress(done, total)`` after each chunk.

    Returns:
        The path written.
    """
    a, b, c = abc
    if not (a > 0 and b >= 0 and c >= 0 and a + b + c < 1):
        raise ConfigError(f"R-MAT probabilities {abc} must be positive and sum below 1")
    if not 1 <= scale <= MAX_SCALE:
        raise ConfigError(f"scale={scale} outside 1..{MAX_SCALE}")
    if n_edges < 1 or chunk_edges < 1:
        raise ConfigError("n_edges and chunk_edges must be positive")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n_chunks = -(-n_edges // chunk_edges)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks + 1)
    perm = np.random.default_rng(seeds[-1]).permutation(1 << scale) if permute else None
    fields = [pa.field("src", pa.int64()), pa.field("dst", pa.int64())]
    if weighted:
        fields.append(pa.field("weight", pa.float64()))
    schema = pa.schema(fields)
    done = 0
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for i in range(n_chunks):
            m = min(chunk_edges, n_edges - done)
            rng = np.random.default_rng(seeds[i])
            src = np.zeros(m, dtype=np.int64)
            dst = np.zeros(m, dtype=np.int64)
            for level in range(scale):
                r = rng.random(m)
                down = r >= a + b  # quadrants c or d: the source bit is set
                right = ((r >= a) & (r < a + b)) | (r >= a + b + c)  # b or d: the dest bit
                bit = np.int64(1) << np.int64(level)
                src |= down * bit
                dst |= right * bit
                del r, down, right
            if perm is not None:
                src, dst = perm[src], perm[dst]
            cols = [pa.array(src), pa.array(dst)]
            if weighted:
                cols.append(pa.array(1.0 - rng.random(m)))
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))
            done += m
            if progress:
                progress(done, n_edges)
    tmp.replace(out)
    return out
