"""The command line and settings: nothing of the user's is deleted, bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.pagerank.__main__ import main
from apps.pagerank.edges import ArrayEdges
from apps.pagerank.exceptions import GraphFormatError
from apps.pagerank.partition import build_partitions
from apps.pagerank.settings import get_pagerank_settings


def _edges(tmp_path: Path) -> Path:
    path = tmp_path / "edges.csv"
    path.write_text("src,dst\n0,1\n1,2\n2,0\n")
    return path


def test_convert_refuses_a_directory_holding_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "sub").mkdir()
    assert main(["convert", str(_edges(tmp_path)), str(mine), "--partitions", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{mine} is not empty and is not a partitioned graph" in err and "thesis.tex" in err
    assert (mine / "thesis.tex").read_text() == "years of work" and (mine / "sub").is_dir()
    with pytest.raises(GraphFormatError, match="refusing to replace"):
        build_partitions(ArrayEdges([0, 1], [1, 0]), mine, 2)
    assert not (tmp_path / "mine.tmp").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["convert", str(_edges(tmp_path)), str(afile)]) == 2
    assert "is not a directory" in capsys.readouterr().err and afile.read_text() == "x"


def test_convert_replaces_a_graph_it_wrote_and_fills_an_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["convert", str(_edges(tmp_path)), str(empty), "--partitions", "2"]) == 0
    g = build_partitions(ArrayEdges([0, 1, 2, 3], [1, 2, 3, 0]), empty, 3)
    assert g.manifest.n_nodes == 4 and (empty / "manifest.json").exists()
    # a graph directory with a stranger in it is not replaced
    (empty / "notes.txt").write_text("keep")
    with pytest.raises(GraphFormatError, match=r"notes\.txt"):
        build_partitions(ArrayEdges([0, 1], [1, 0]), empty, 2)
    assert (empty / "notes.txt").read_text() == "keep"


def test_a_leftover_working_directory_of_someone_else_is_not_deleted(tmp_path: Path) -> None:
    tmp = tmp_path / "g.tmp"
    tmp.mkdir()
    (tmp / "data.bin").write_text("keep")
    with pytest.raises(GraphFormatError, match="working directory"):
        build_partitions(ArrayEdges([0, 1], [1, 0]), tmp_path / "g", 2)
    assert (tmp / "data.bin").read_text() == "keep"


def test_default_output_dir_follows_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWARMKIT_PAGERANK__OUTPUT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert get_pagerank_settings().output_dir == tmp_path / ".data" / "pagerank"
    edges = _edges(tmp_path)
    assert main(["run", "edges.csv", "--partitions", "2", "--json"]) == 0
    assert (tmp_path / ".data" / "pagerank" / "graph-edges" / "manifest.json").exists()
    assert edges.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["generate", "{t}/g.parquet", "--edges", "1000", "--scale", "4", "--seed", "-1"],
            "--seed",
        ),
        (["rank", "{t}/graph", "--save", "{t}/nodir/r.npy"], "nodir does not exist"),
        (["reference", "{t}/edges.csv", "--save", "{t}/nodir/r.npy"], "nodir does not exist"),
        (["rank", "{t}/graph", "--save", "{t}"], "is a directory"),
        (["rank", "{t}/graph", "--crash-rate", "2"], "--crash-rate: must be a finite number"),
        (["convert", "{t}/edges.csv", "{t}/g2", "--nodes", "-1"], "--nodes: must be at least 1"),
        (["convert", "{t}/edges.csv", "{t}/g2", "--chunk-edges", "0"], "--chunk-edges"),
    ],
)
def test_bad_arguments_stop_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    _edges(tmp_path)
    build_partitions(ArrayEdges([0, 1, 2], [1, 2, 0]), tmp_path / "graph", 2)
    with pytest.raises(SystemExit) as exc:
        main([a.format(t=tmp_path) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "g.parquet").exists() and not (tmp_path / "g2").exists()


def test_ranking_a_file_says_it_is_not_a_graph_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edges = _edges(tmp_path)
    assert main(["rank", str(edges)]) == 2
    err = capsys.readouterr().err
    assert f"{edges} is a file, not a partitioned graph directory" in err
    assert f"convert {edges} DIR" in err
