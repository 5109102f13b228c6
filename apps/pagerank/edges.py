"""Edge lists in chunks: from arrays, Parquet or CSV files, validated as they stream.

An edge list has the columns ``src`` and ``dst`` (integer node ids, ``0 <= id <
n_nodes``) and an optional ``weight`` (finite, ``>= 0``; 1 when absent). Chunks are
read one at a time, so a file larger than memory can be converted. Every error
names the column and the row (0-based, counted over the whole list).
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from apps.pagerank.exceptions import EdgeInputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
COLUMNS = ("src", "dst")
WEIGHT = "weight"
DEFAULT_CHUNK_EDGES = 4_000_000
READ_BUFFER_BYTES = 1 << 20  # Parquet read buffer


@dataclass(frozen=True, slots=True)
class EdgeChunk:
    """One validated chunk: ``src``/``dst`` ids, weights (None: all 1) and its first row."""

    src: IntArray
    dst: IntArray
    weight: FloatArray | None
    offset: int

    def __len__(self) -> int:
        return len(self.src)


class EdgeSource(Protocol):
    """Where edges come from: a node count (None: max id + 1) and validated chunks."""

    n_nodes: int | None
    weighted: bool

    def chunks(self) -> Iterator[EdgeChunk]:
        """The edges, chunk by chunk, validated."""
        ...

    def describe(self) -> str:
        """A short description for manifests and messages."""
        ...


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_chunk(
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    weight: npt.ArrayLike | None,
    offset: int,
    n_nodes: int | None,
) -> EdgeChunk:
    """Check one chunk and convert it to int64 ids and float64 weights.

    Raises:
        EdgeInputError: a non-integer id, a negative or out-of-range id, a NaN,
            infinite or negative weight; the message names the column and the row.
    """
    cols: dict[str, IntArray] = {}
    for name, values in (("src", src), ("dst", dst)):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise EdgeInputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)):
                bad = arr != np.floor(arr)
                if bad.any():
                    row = offset + _first(bad)
                    raise EdgeInputError(
                        f"column {name!r}, row {row}: node id {float(arr[row - offset])} is not an integer"
                    )
            elif arr.size:
                raise EdgeInputError(
                    f"column {name!r} must hold integer node ids, got dtype {arr.dtype}"
                )
        ids = arr.astype(np.int64, copy=False)
        if ids.size:
            neg = ids < 0
            if neg.any():
                row = _first(neg)
                raise EdgeInputError(
                    f"column {name!r}, row {offset + row}: negative node id {int(ids[row])}"
                )
            if n_nodes is not None:
                over = ids >= n_nodes
                if over.any():
                    row = _first(over)
                    raise EdgeInputError(
                        f"column {name!r}, row {offset + row}: node id {int(ids[row])} is out of "
                        f"range for {n_nodes} nodes (ids are 0..{n_nodes - 1})"
                    )
        cols[name] = ids
    if len(cols["src"]) != len(cols["dst"]):
        raise EdgeInputError(
            f"columns 'src' and 'dst' differ in length ({len(cols['src'])} vs {len(cols['dst'])})"
        )
    w: FloatArray | None = None
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != cols["src"].shape:
            raise EdgeInputError(
                f"column 'weight' has {w.size} values for {cols['src'].size} edges"
            )
        if w.size:
            bad = ~np.isfinite(w)
            if bad.any():
                row = _first(bad)
                raise EdgeInputError(
                    f"column 'weight', row {offset + row}: weight {float(w[row])} is not finite"
                )
            neg = w < 0
            if neg.any():
                row = _first(neg)
                raise EdgeInputError(
                    f"column 'weight', row {offset + row}: negative weight {float(w[row])}"
                )
    return EdgeChunk(cols["src"], cols["dst"], w, offset)


class ArrayEdges:
    """Edges held in arrays (small graphs, tests, the maritime network)."""

    def __init__(
        self,
        src: npt.ArrayLike,
        dst: npt.ArrayLike,
        weight: npt.ArrayLike | None = None,
        n_nodes: int | None = None,
        chunk_edges: int = DEFAULT_CHUNK_EDGES,
    ) -> None:
        self.src = np.asarray(src)
        self.dst = np.asarray(dst)
        self.weight = None if weight is None else np.asarray(weight)
        self.n_nodes = n_nodes
        self.weighted = weight is not None
        self.chunk_edges = max(1, chunk_edges)

    def chunks(self) -> Iterator[EdgeChunk]:
        """The arrays cut into chunks, validated."""
        if len(self.src) != len(self.dst):
            raise EdgeInputError(
                f"columns 'src' and 'dst' differ in length ({len(self.src)} vs {len(self.dst)})"
            )
        for lo in range(0, len(self.src), self.chunk_edges):
            hi = lo + self.chunk_edges
            w = None if self.weight is None else self.weight[lo:hi]
            yield validate_chunk(self.src[lo:hi], self.dst[lo:hi], w, lo, self.n_nodes)

    def describe(self) -> str:
        """``arrays(<m> edges)``."""
        return f"arrays({len(self.src)} edges)"


def _columns_of(table_columns: list[str], where: str) -> bool:
    missing = [c for c in COLUMNS if c not in table_columns]
    if missing:
        raise EdgeInputError(
            f"{where}: missing column(s) {missing}; an edge list needs 'src', 'dst' and an "
            f"optional 'weight' (found {table_columns})"
        )
    return WEIGHT in table_columns


def _batch_chunk(batch: pa.RecordBatch, offset: int, weighted: bool, n: int | None) -> EdgeChunk:
    for name in (*COLUMNS, *((WEIGHT,) if weighted else ())):
        col = batch.column(name)
        if col.null_count:
            row = offset + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise EdgeInputError(f"column {name!r}, row {row}: missing value")
    return validate_chunk(
        batch.column("src").to_numpy(),
        batch.column("dst").to_numpy(),
        batch.column(WEIGHT).to_numpy() if weighted else None,
        offset,
        n,
    )


class ParquetEdges:
    """Edges in a Parquet file, or a directory of ``*.parquet`` files read in name order."""

    def __init__(
        self, path: str | Path, n_nodes: int | None = None, chunk_edges: int = DEFAULT_CHUNK_EDGES
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(self.path.glob("*.parquet"))
        elif self.path.exists():
            self.files = [self.path]
        else:
            raise EdgeInputError(f"edge file {self.path} does not exist")
        if not self.files:
            raise EdgeInputError(f"no *.parquet file in {self.path}")
        self.n_nodes = n_nodes
        self.chunk_edges = chunk_edges
        schema_names = pq.read_schema(self.files[0]).names
        self.weighted = _columns_of(schema_names, str(self.files[0]))

    def chunks(self) -> Iterator[EdgeChunk]:
        """Record batches of ``chunk_edges`` rows, validated."""
        offset = 0
        for f in self.files:
            # no pre-buffering, 1 MiB reads: pyarrow's default buffers whole row groups
            # (measured: 0.6 GB of peak RSS for a 50M-edge file, 0.15 GB without)
            pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
            if _columns_of(pf.schema_arrow.names, str(f)) != self.weighted:
                raise EdgeInputError(f"{f}: some files have a 'weight' column and others do not")
            cols = [*COLUMNS, *((WEIGHT,) if self.weighted else ())]
            for batch in pf.iter_batches(batch_size=self.chunk_edges, columns=cols):
                yield _batch_chunk(batch, offset, self.weighted, self.n_nodes)
                offset += batch.num_rows

    def describe(self) -> str:
        """The path."""
        return str(self.path)


class CsvEdges:
    """Edges in a CSV file with a header row (``src,dst[,weight]``), streamed in blocks."""

    def __init__(
        self, path: str | Path, n_nodes: int | None = None, chunk_edges: int = DEFAULT_CHUNK_EDGES
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise EdgeInputError(f"edge file {self.path} does not exist")
        self.n_nodes = n_nodes
        self.block_bytes = max(1 << 16, min(chunk_edges * 24, 1 << 30))
        try:
            reader = pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(block_size=1 << 16))
        except pa.ArrowInvalid as err:  # e.g. an empty file, no header row
            raise EdgeInputError(
                f"{self.path}: not a CSV edge list with a header row ({err})"
            ) from err
        with reader:
            self.weighted = _columns_of(reader.schema.names, str(self.path))

    def chunks(self) -> Iterator[EdgeChunk]:
        """Blocks of the CSV, validated."""
        types = {"src": pa.int64(), "dst": pa.int64(), WEIGHT: pa.float64()}
        opts = pacsv.ConvertOptions(column_types=types)
        offset = 0
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=self.block_bytes),
                convert_options=opts,
            )
            with reader:
                for batch in reader:
                    yield _batch_chunk(batch, offset, self.weighted, self.n_nodes)
                    offset += batch.num_rows
        except pa.ArrowInvalid as err:
            raise EdgeInputError(f"{self.path}: {self._locate(err)}") from err

    def _locate(self, err: pa.ArrowInvalid) -> str:
        """Arrow's conversion error, with the first row whose value does not convert named
        (Arrow names the column and value only): read again, on this error path only."""
        match = re.search(
            r"column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'", str(err)
        )
        if match is None:
            return str(err)
        column, kind, value = int(match.group(1)), match.group(2), match.group(3)
        opener = gzip.open if self.path.name.lower().endswith(".gz") else open
        with opener(self.path, "rt", newline="", encoding="utf-8", errors="replace") as fh:
            rows = csv.reader(fh)
            header = next(rows, [])
            name = header[column] if column < len(header) else f"#{column}"
            for row_index, row in enumerate(rows):
                if column < len(row) and row[column] == value:
                    want = "a whole-number node id" if kind == "int64" else "a number"
                    return (
                        f"column {name!r}, row {row_index} (line {rows.line_num}): "
                        f"{value!r} is not {want}"
                    )
        return f"column {name!r}: {value!r} does not convert to {kind}"

    def describe(self) -> str:
        """The path."""
        return str(self.path)


def open_edges(
    path: str | Path, n_nodes: int | None = None, chunk_edges: int = DEFAULT_CHUNK_EDGES
) -> ParquetEdges | CsvEdges:
    """An edge source for ``path``: Parquet (a file or a directory) or CSV, by suffix."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
        return ParquetEdges(p, n_nodes, chunk_edges)
    if p.suffix.lower() in (".csv", ".txt") or p.name.lower().endswith(".csv.gz"):
        return CsvEdges(p, n_nodes, chunk_edges)
    raise EdgeInputError(
        f"{p}: unknown edge file type (use .parquet, a directory of them, or .csv)"
    )
