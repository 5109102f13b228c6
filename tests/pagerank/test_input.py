"""Edge input and out-of-core conversion: bad input is named, chunking changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.pagerank.edges import ArrayEdges, open_edges
from apps.pagerank.engine import PageRankParams, run_pagerank
from apps.pagerank.exceptions import EdgeInputError, EmptyGraphError, GraphFormatError
from apps.pagerank.generate import generate_rmat
from apps.pagerank.partition import PartitionedGraph, build_partitions
from apps.pagerank.reference import scipy_pagerank_of
from patterns.core.exceptions import ConfigError


def _parquet(path: Path, **cols: object) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


@pytest.mark.parametrize(
    ("src", "dst", "weight", "n", "message"),
    [
        ([0, 1, 2], [1, 2, 0], [1.0, -2.0, 1.0], None, r"column 'weight', row 1: negative weight"),
        ([0, 1, 2], [1, 2, 0], [1.0, 1.0, np.nan], None, r"column 'weight', row 2: .* not finite"),
        ([0, 1, 2], [1, 2, 0], [np.inf, 1.0, 1.0], None, r"column 'weight', row 0: .* not finite"),
        ([0, 1, 5], [1, 2, 0], None, 4, r"column 'src', row 2: node id 5 is out of range for 4"),
        ([0, 1, 2], [1, -1, 0], None, None, r"column 'dst', row 1: negative node id -1"),
        ([0, 1.5, 2], [1, 2, 0], None, None, r"column 'src', row 1: node id 1.5 is not an integer"),
        ([0, 1], [1, 2, 0], None, None, r"differ in length"),
    ],
)
def test_bad_edges_name_the_column_and_row(
    tmp_path: Path,
    src: list[float],
    dst: list[int],
    weight: list[float] | None,
    n: int | None,
    message: str,
) -> None:
    with pytest.raises(EdgeInputError, match=message):
        build_partitions(ArrayEdges(src, dst, weight, n_nodes=n), tmp_path / "g", 2)
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.tmp").exists()


def test_bad_rows_deep_in_a_chunked_file_are_located(tmp_path: Path) -> None:
    m = 10_000
    w = np.ones(m)
    w[7_777] = -1.0
    path = _parquet(tmp_path / "e.parquet", src=np.arange(m) % 50, dst=np.arange(m) % 7, weight=w)
    with pytest.raises(EdgeInputError, match="row 7777: negative weight"):
        build_partitions(open_edges(path, chunk_edges=1000), tmp_path / "g", 3)


def test_empty_graphs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EmptyGraphError, match="no edge"):
        build_partitions(ArrayEdges([], [], n_nodes=5), tmp_path / "g", 2)
    with pytest.raises(EmptyGraphError, match="no node"):
        build_partitions(ArrayEdges([], []), tmp_path / "g", 2)
    path = _parquet(
        tmp_path / "e.parquet", src=pa.array([], pa.int64()), dst=pa.array([], pa.int64())
    )
    with pytest.raises(EmptyGraphError):
        build_partitions(open_edges(path), tmp_path / "g", 2)


def test_file_errors_name_the_problem(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "e.parquet", source=[0, 1], target=[1, 0])
    with pytest.raises(EdgeInputError, match=r"missing column\(s\) \['src', 'dst'\]"):
        open_edges(path)
    with pytest.raises(EdgeInputError, match="does not exist"):
        open_edges(tmp_path / "nope.parquet")
    with pytest.raises(EdgeInputError, match="unknown edge file type"):
        open_edges(tmp_path / "edges.xlsx")
    nulls = _parquet(tmp_path / "n.parquet", src=[0, None, 2], dst=[1, 2, 0])
    with pytest.raises(EdgeInputError, match="column 'src', row 1: missing value"):
        build_partitions(open_edges(nulls), tmp_path / "g", 2)
    csv = tmp_path / "e.csv"
    csv.write_text("src,dst,weight\n0,1,1.0\n1,x,2.0\n")
    with pytest.raises(EdgeInputError, match=r"e\.csv: column 'dst', row 1 \(line 3\): 'x'"):
        build_partitions(open_edges(csv), tmp_path / "g", 2)
    floats = tmp_path / "f.csv"  # ids written as floats, e.g. by a pandas column that had NaN
    floats.write_text("src,dst\n0,1\n1,2\n" + "2,0\n" * 5 + '"2.0",1\n')
    with pytest.raises(
        EdgeInputError, match=r"column 'src', row 7 \(line 9\): '2\.0' is not a whole"
    ):
        build_partitions(open_edges(floats), tmp_path / "g", 2)
    with pytest.raises(GraphFormatError, match="not a partitioned graph"):
        PartitionedGraph(tmp_path / "missing")


def test_failed_conversion_keeps_the_existing_graph(tmp_path: Path) -> None:
    good = build_partitions(ArrayEdges([0, 1, 2], [1, 2, 0], n_nodes=3), tmp_path / "g", 2)
    before = (tmp_path / "g" / "manifest.json").read_text()
    with pytest.raises(EdgeInputError):
        build_partitions(ArrayEdges([0, 1], [1, 9], n_nodes=3), tmp_path / "g", 2)
    assert (tmp_path / "g" / "manifest.json").read_text() == before
    assert PartitionedGraph(good.root).manifest.n_edges == 3


def test_bad_parameters_are_named(tmp_path: Path) -> None:
    g = build_partitions(ArrayEdges([0, 1, 2], [1, 2, 0], n_nodes=3), tmp_path / "g", 2)
    with pytest.raises(ConfigError, match=r"alpha=1\.5"):
        run_pagerank(g, PageRankParams(alpha=1.5))
    with pytest.raises(ConfigError, match="personalization has shape"):
        run_pagerank(g, PageRankParams(personalization=np.ones(4)))
    with pytest.raises(ConfigError, match="personalization sums to zero"):
        run_pagerank(g, PageRankParams(personalization=np.zeros(3)))


def test_chunk_size_and_file_format_do_not_change_the_graph(tmp_path: Path) -> None:
    path = generate_rmat(
        tmp_path / "r.parquet", 20_000, scale=10, seed=3, chunk_edges=3_000, weighted=True
    )
    table = pq.read_table(path)
    assert table.num_rows == 20_000 and table.column_names == ["src", "dst", "weight"]
    csv = tmp_path / "r.csv"
    table.to_pandas().to_csv(csv, index=False)
    ranks = []
    for src, chunk in ((path, 20_000), (path, 777), (csv, 1_000)):
        g = build_partitions(open_edges(src, chunk_edges=chunk), tmp_path / f"g{chunk}", 4)
        assert g.manifest.n_edges == 20_000
        ranks.append(run_pagerank(g, PageRankParams(tol=1e-12)).ranks)
    ref, _ = scipy_pagerank_of(open_edges(path), tol=1e-12)
    for r in ranks:
        assert np.abs(r - ref).sum() < 1e-12


def test_rmat_is_seeded_and_skewed(tmp_path: Path) -> None:
    a = pq.read_table(
        generate_rmat(tmp_path / "a.parquet", 50_000, scale=12, seed=5, chunk_edges=10_000)
    )
    b = pq.read_table(
        generate_rmat(tmp_path / "b.parquet", 50_000, scale=12, seed=5, chunk_edges=10_000)
    )
    c = pq.read_table(
        generate_rmat(tmp_path / "c.parquet", 50_000, scale=12, seed=6, chunk_edges=10_000)
    )
    assert a.equals(b) and not a.equals(c)
    src = a.column("src").to_numpy()
    assert src.max() < 4096 and src.min() >= 0
    deg = np.bincount(src, minlength=4096)
    assert deg.max() > 20 * deg.mean()  # a power-law-like head, unlike a uniform graph


def test_an_empty_csv_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(EdgeInputError, match=r"empty\.csv: not a CSV edge list with a header"):
        open_edges(empty)


@pytest.mark.parametrize("big", [2**62, 2**63 - 1])
def test_a_node_id_too_large_to_hold_is_named(tmp_path: Path, big: int) -> None:
    # ids are dense 0..n-1: one stray huge id implies more nodes than memory holds
    with pytest.raises(EdgeInputError, match=rf"column 'dst', row 2: node id {big} needs"):
        build_partitions(ArrayEdges([0, 1, 2], [1, 2, big]), tmp_path / "g", 2)
    with pytest.raises(EdgeInputError, match=rf"n_nodes={big} needs"):
        build_partitions(ArrayEdges([0, 1], [1, 0], n_nodes=big), tmp_path / "g", 2)
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.tmp").exists()
