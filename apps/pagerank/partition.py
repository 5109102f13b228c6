"""Out-of-core conversion of an edge list to destination blocks of memory-mapped CSR.

Layout of a partitioned graph directory::

    manifest.json                  n_nodes, n_edges, block bounds, dtypes, source
    dangling.npy                   bool[n_nodes]: out-weight 0 (no edge, or only weight-0 edges)
    block-00000.indptr.npy         per block b covering destinations [lo, hi):
    block-00000.indices.npy          row r = node lo + r; its sources (in-edges)
    block-00000.data.npy             w(src, dst) / out_weight(src)  (the transition probability)

Block ``b`` holds rows ``lo..hi`` of the transposed, row-normalised transition matrix,
so ``x_new[lo:hi] = block_b @ x``: a block worker needs the previous vector and
its own files only.

Conversion streams the edges twice and never holds more than one chunk of them:
pass 1 counts in-edges per destination and sums out-weights per source; pass 2 is a
chunked counting sort by destination that scatters each chunk's edges straight
into the blocks' memory-mapped arrays. Duplicate edges are kept; their weights add
up (as in ``scipy.sparse`` and a networkx ``MultiDiGraph``). A directory is built
under a temporary name and renamed when complete, so an existing graph is replaced
only by a finished one; a directory holding anything else is never replaced.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from apps.pagerank.edges import EdgeChunk, EdgeSource
from apps.pagerank.exceptions import EdgeInputError, EmptyGraphError, GraphFormatError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INT32_MAX = np.iinfo(np.int32).max
# numpy parses .npy headers with ast.literal_eval, and CPython 3.11's AST constructor is
# not thread-safe (a concurrent parse fails with "AST constructor recursion depth
# mismatch"), so every .npy open of this app goes through one lock.
_NPY_LOCK = threading.Lock()


def load_npy(path: str | Path, mmap_mode: Literal["r", "r+"] = "r") -> Any:
    """``np.load(path, mmap_mode=...)`` (a ``np.memmap``), serialised across threads."""
    with _NPY_LOCK:
        return np.load(path, mmap_mode=mmap_mode)


@dataclass(frozen=True)
class Manifest:
    """What a partitioned graph directory holds."""

    version: int
    n_nodes: int
    n_edges: int
    bounds: list[int]
    index_dtype: str
    weighted: bool
    n_dangling: int
    total_weight: float
    source: str
    convert_s: float

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.bounds) - 1


@dataclass(frozen=True)
class CsrBlock:
    """One destination block: rows ``lo..hi`` of the transposed transition matrix."""

    index: int
    lo: int
    hi: int
    n_nodes: int
    indptr: npt.NDArray[np.integer]
    indices: npt.NDArray[np.integer]
    data: npt.NDArray[np.float64]

    def matrix(self) -> sp.csr_array:
        """The block as a scipy CSR array sharing the (memory-mapped) buffers."""
        return sp.csr_array(
            (self.data, self.indices, self.indptr), shape=(self.hi - self.lo, self.n_nodes)
        )

    @property
    def nnz(self) -> int:
        """Edges into the block."""
        return int(self.indptr[-1])


def _block_paths(root: Path, b: int) -> tuple[Path, Path, Path]:
    stem = root / f"block-{b:05d}"
    return (
        stem.with_suffix(".indptr.npy"),
        stem.with_suffix(".indices.npy"),
        stem.with_suffix(".data.npy"),
    )


class PartitionedGraph:
    """A partitioned graph directory opened read-only; blocks are memory-mapped on demand."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if self.root.is_file():
            raise GraphFormatError(
                f"{self.root} is a file, not a partitioned graph directory (an edge list is "
                f"converted first: python -m apps.pagerank convert {self.root} DIR, or ranked "
                "with 'run')"
            )
        try:
            raw = json.loads(path.read_text())
            self.manifest = Manifest(**raw)
        except (FileNotFoundError, NotADirectoryError) as err:
            raise GraphFormatError(
                f"{self.root} is not a partitioned graph (no {MANIFEST})"
            ) from err
        except (TypeError, ValueError) as err:
            raise GraphFormatError(f"{path} is unreadable: {err}") from err
        if self.manifest.version != FORMAT_VERSION:
            raise GraphFormatError(
                f"{path}: format version {self.manifest.version}, expected {FORMAT_VERSION}"
            )

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return self.manifest.n_nodes

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return self.manifest.n_blocks

    @property
    def bounds(self) -> list[int]:
        """Block boundaries: block b covers destinations ``bounds[b]..bounds[b+1]``."""
        return self.manifest.bounds

    def block(self, b: int) -> CsrBlock:
        """Block ``b``, memory-mapped read-only.

        Raises:
            GraphFormatError: a file is missing or does not match the manifest.
        """
        if not 0 <= b < self.n_blocks:
            raise GraphFormatError(f"block {b} outside 0..{self.n_blocks - 1}")
        lo, hi = self.bounds[b], self.bounds[b + 1]
        try:
            ptr, ind, dat = (load_npy(p) for p in _block_paths(self.root, b))
        except (FileNotFoundError, ValueError) as err:
            raise GraphFormatError(f"{self.root}: block {b} is unreadable: {err}") from err
        if len(ptr) != hi - lo + 1 or len(ind) != len(dat) or int(ptr[-1]) != len(ind):
            raise GraphFormatError(f"{self.root}: block {b} does not match the manifest")
        return CsrBlock(b, lo, hi, self.n_nodes, ptr, ind, dat)

    def dangling(self) -> npt.NDArray[np.bool_]:
        """The dangling mask (memory-mapped)."""
        mask: npt.NDArray[np.bool_] = load_npy(self.root / "dangling.npy")
        return mask

    def csr_bytes(self) -> int:
        """Bytes of the CSR files (indptr, indices, data of every block)."""
        return sum(
            p.stat().st_size for b in range(self.n_blocks) for p in _block_paths(self.root, b)
        )


def block_bounds(in_count: npt.NDArray[np.int64], n_blocks: int) -> list[int]:
    """Contiguous destination ranges balancing in-edges plus one per node (the vector work)."""
    n = len(in_count)
    p = max(1, min(n_blocks, n))
    cost = np.cumsum(in_count + 1, dtype=np.float64)
    targets = cost[-1] * np.arange(1, p) / p
    cuts = np.searchsorted(cost, targets, side="left") + 1
    bounds = [0]
    for c in cuts.tolist():
        c = min(max(c, bounds[-1] + 1), n - (p - len(bounds)))
        bounds.append(int(c))
    bounds.append(n)
    return bounds


def _grow(arr: npt.NDArray[np.float64] | npt.NDArray[np.int64], size: int) -> npt.NDArray:  # type: ignore[type-arg]
    if len(arr) >= size:
        return arr
    out = np.zeros(max(size, 2 * len(arr)), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _where_id(ch: EdgeChunk, node_id: int) -> str:
    """``column 'dst', row 7: node id 99999999999``: where ``node_id`` first occurs in ``ch``."""
    name, col = ("src", ch.src) if bool((ch.src == node_id).any()) else ("dst", ch.dst)
    row = ch.offset + int(np.flatnonzero(col == node_id)[0])
    return f"column {name!r}, row {row}: node id {node_id}"


def _too_many_nodes(n: int, where: str) -> EdgeInputError:
    """The error for a node count whose per-node arrays do not fit in memory."""
    return EdgeInputError(
        f"{where} needs {n} nodes (ids 0..{n - 1}), whose per-node arrays "
        f"(about {n * 40 / 1e9:.1f} GB) do not fit in memory; number the nodes densely from 0"
    )


Progress = Callable[[str, int, int], None]
"""``progress(phase, done_edges, total_edges_or_0)``."""


_LAYOUT = re.compile(r"(manifest\.json|dangling\.npy|block-\d{5,}\.(indptr|indices|data)\.npy)")


def _foreign_entries(path: Path) -> list[str]:
    """Entries of directory ``path`` that a partitioned graph does not hold."""
    return sorted(p.name for p in path.iterdir() if not _LAYOUT.fullmatch(p.name) or p.is_dir())


def check_replaceable(out_dir: str | Path) -> Path:
    """``out_dir`` as a path, if a conversion may (re)create it: it does not exist, is an
    empty directory, or is a partitioned graph (its manifest and block files, nothing else).

    Raises:
        GraphFormatError: ``out_dir`` is a file, or a directory holding anything else (it is
            left as it is; name a new or empty directory).
    """
    out = Path(out_dir)
    if not out.exists() and not out.is_symlink():
        return out
    if not out.is_dir() or out.is_symlink():
        raise GraphFormatError(
            f"{out} exists and is not a directory; refusing to replace it with a graph"
        )
    foreign = _foreign_entries(out)
    if not foreign and not any(out.iterdir()):
        return out
    if not (out / MANIFEST).is_file() or foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        why = f"it holds {shown}" if foreign else f"it has no {MANIFEST}"
        raise GraphFormatError(
            f"{out} is not empty and is not a partitioned graph ({why}); refusing to replace "
            "it: give a new or empty directory"
        )
    return out


def _clear_leftover(tmp: Path) -> None:
    """Remove the working directory of an interrupted conversion (only if it is one)."""
    if not tmp.exists() and not tmp.is_symlink():
        return
    if not tmp.is_dir() or tmp.is_symlink() or _foreign_entries(tmp):
        raise GraphFormatError(
            f"{tmp} (the working directory of the conversion) exists and holds other files; "
            "move it away"
        )
    shutil.rmtree(tmp)


def build_partitions(
    source: EdgeSource,
    out_dir: str | Path,
    n_blocks: int,
    progress: Progress | None = None,
) -> PartitionedGraph:
    """Convert an edge list to ``n_blocks`` destination blocks of CSR under ``out_dir``.

    Args:
        source: the edges (validated while read).
        out_dir: the directory to (re)create: new, empty, or a partitioned graph (replaced
            only once the new one is complete).
        n_blocks: wanted blocks (fewer when there are fewer nodes).
        progress: called after each chunk of each pass.

    Returns:
        The partitioned graph, opened.

    Raises:
        EdgeInputError: bad input (column and row named); nothing is written then.
        EmptyGraphError: no node or no edge.
        GraphFormatError: ``out_dir`` holds something else than a partitioned graph.
    """
    t0 = time.perf_counter()
    if n_blocks < 1:
        raise GraphFormatError(f"n_blocks={n_blocks} must be at least 1")
    out = check_replaceable(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    _clear_leftover(tmp)
    # pass 1: in-degree per destination, out-weight per source, node count
    n_known = source.n_nodes
    size = n_known or 1024
    try:
        in_count = np.zeros(size, dtype=np.int64)
        out_w = np.zeros(size, dtype=np.float64)
    except (MemoryError, ValueError, OverflowError) as err:  # numpy: too big to allocate
        raise _too_many_nodes(size, f"n_nodes={size}") from err
    n_edges, max_id, total_w = 0, -1, 0.0
    for ch in source.chunks():
        if len(ch) == 0:
            continue
        hi_id = int(max(ch.src.max(), ch.dst.max()))
        max_id = max(max_id, hi_id)
        try:
            if hi_id >= len(in_count):
                in_count, out_w = _grow(in_count, hi_id + 1), _grow(out_w, hi_id + 1)
            in_count[: hi_id + 1] += np.bincount(ch.dst, minlength=hi_id + 1)
            w = ch.weight
            out_w[: hi_id + 1] += np.bincount(
                ch.src, weights=w if w is not None else None, minlength=hi_id + 1
            )
        except (MemoryError, ValueError, OverflowError) as err:  # numpy: too big to allocate
            raise _too_many_nodes(hi_id + 1, _where_id(ch, hi_id)) from err
        total_w += float(w.sum()) if w is not None else float(len(ch))
        n_edges += len(ch)
        if progress:
            progress("count", n_edges, 0)
    n = n_known if n_known is not None else max_id + 1
    if n <= 0:
        raise EmptyGraphError("the graph has no node")
    if n_edges == 0:
        raise EmptyGraphError(f"the graph has {n} node(s) and no edge")
    in_count, out_w = in_count[:n], out_w[:n]
    dangling = out_w == 0
    inv = np.zeros(n, dtype=np.float64)
    inv[~dangling] = 1.0 / out_w[~dangling]  # networkx: Q = 1/S on non-dangling rows
    del out_w
    bounds = block_bounds(in_count, n_blocks)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(in_count, out=indptr[1:])
    del in_count
    biggest = max(int(indptr[bounds[b + 1]] - indptr[bounds[b]]) for b in range(len(bounds) - 1))
    idx_dtype = np.int32 if max(n, biggest) <= INT32_MAX else np.int64
    tmp.mkdir(parents=True)
    try:
        return _write_blocks(
            source,
            out,
            tmp,
            t0,
            n,
            n_edges,
            total_w,
            dangling,
            inv,
            bounds,
            indptr,
            idx_dtype,
            progress,
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_blocks(
    source: EdgeSource,
    out: Path,
    tmp: Path,
    t0: float,
    n: int,
    n_edges: int,
    total_w: float,
    dangling: npt.NDArray[np.bool_],
    inv: npt.NDArray[np.float64],
    bounds: list[int],
    indptr: npt.NDArray[np.int64],
    idx_dtype: type[np.signedinteger[Any]],
    progress: Progress | None,
) -> PartitionedGraph:
    np.save(tmp / "dangling.npy", dangling)
    n_dangling = int(dangling.sum())
    del dangling
    for b in range(len(bounds) - 1):
        lo, hi = bounds[b], bounds[b + 1]
        ptr_p, ind_p, dat_p = _block_paths(tmp, b)
        np.save(ptr_p, (indptr[lo : hi + 1] - indptr[lo]).astype(idx_dtype))
        m = int(indptr[hi] - indptr[lo])
        np.lib.format.open_memmap(ind_p, mode="w+", dtype=idx_dtype, shape=(m,)).flush()
        np.lib.format.open_memmap(dat_p, mode="w+", dtype=np.float64, shape=(m,)).flush()
    # pass 2: chunked counting sort by destination, scattered into the blocks' memmaps
    cursor = indptr[:-1].copy()
    bounds_arr = np.asarray(bounds, dtype=np.int64)
    done = 0
    for ch in source.chunks():
        if len(ch) == 0:
            continue
        order = np.argsort(ch.dst, kind="stable")
        d = ch.dst[order]
        s = ch.src[order]
        vals = inv[s] if ch.weight is None else ch.weight[order] * inv[s]
        del order
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        counts = np.diff(np.r_[starts, len(d)])
        heads = d[starts]
        rank = np.arange(len(d), dtype=np.int64) - np.repeat(starts, counts)
        pos = cursor[d] + rank
        cursor[heads] += counts
        del rank
        cuts = np.searchsorted(d, bounds_arr, side="left")
        for b in range(len(bounds) - 1):
            a, z = int(cuts[b]), int(cuts[b + 1])
            if a == z:
                continue
            base = int(indptr[bounds[b]])
            _, ind_p, dat_p = _block_paths(tmp, b)
            ind = load_npy(ind_p, "r+")
            dat = load_npy(dat_p, "r+")
            local = pos[a:z] - base
            ind[local] = s[a:z]
            dat[local] = vals[a:z]
            ind.flush()
            dat.flush()
            del ind, dat
        done += len(ch)
        if progress:
            progress("scatter", done, n_edges)
    if not np.array_equal(cursor, indptr[1:]):
        raise GraphFormatError(
            f"{source.describe()}: the edges changed between the two passes of the conversion"
        )
    manifest = Manifest(
        version=FORMAT_VERSION,
        n_nodes=n,
        n_edges=n_edges,
        bounds=bounds,
        index_dtype=np.dtype(idx_dtype).name,
        weighted=source.weighted,
        n_dangling=n_dangling,
        total_weight=total_w,
        source=source.describe(),
        convert_s=round(time.perf_counter() - t0, 3),
    )
    (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1))
    if check_replaceable(out).exists():  # checked again: it may have changed meanwhile
        shutil.rmtree(out)
    tmp.rename(out)
    return PartitionedGraph(out)
