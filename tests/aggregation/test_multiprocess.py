"""The QUIC aggregation run with its nodes spread over OS processes: groups partition the tree
by whole subtrees, the root's result covers every node of every process and equals the
in-memory merge, and a failing group is reported, not hung on."""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
from pathlib import Path

import pytest

from patterns.aggregation.exceptions import InvalidValueError
from patterns.aggregation.processes import (
    GroupProcessError,
    _group_main,
    _receive,
    _Tree,
    groups_of,
    run_tree_quic_processes,
)
from patterns.aggregation.runner import run_tree_quic, run_tree_sim
from patterns.core.exceptions import ConfigError, DeadlineExceededError


@pytest.mark.parametrize(("n", "k", "processes"), [(256, 8, 2), (100, 3, 3), (5, 8, 4)])
def test_groups_partition_the_nodes_by_whole_subtrees(n: int, k: int, processes: int) -> None:
    groups = groups_of(n, k, processes)
    assert sorted(i for g in groups for i in g) == list(range(n))
    assert 0 in groups[0]
    home = {i: gi for gi, g in enumerate(groups) for i in g}
    for i in range(k + 1, n):  # below the root's children, a node lives with its parent
        assert home[i] == home[(i - 1) // k]
    sizes = sorted(len(g) for g in groups)
    assert sizes[-1] - sizes[0] <= max(len(g) for g in groups) // 2 + k


def test_a_tree_smaller_than_the_process_count_uses_fewer_processes() -> None:
    assert groups_of(3, 8, 4) == [[0], [1], [2]]
    assert groups_of(1, 8, 4) == [[0]]
    with pytest.raises(ConfigError, match="processes"):
        groups_of(10, 8, 0)


def test_two_processes_aggregate_every_node_as_the_simulator_does(tmp_path: Path) -> None:
    values = [float(i * i % 97) for i in range(40)]
    report = asyncio.run(run_tree_quic(values, tmp_path / "certs", k=4, processes=2))
    assert report.runtime == "quic-processes"
    assert report.coverage == 40 and report.result is not None and report.result.complete
    expected = run_tree_sim(values, k=4).result
    assert expected is not None
    got, want = report.result.summary.describe(), expected.summary.describe()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key
    assert report.partial_messages == 39  # every node but the root forwarded its partial
    assert report.elapsed_s > 0


def test_a_bad_process_count_or_node_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="processes"):
        asyncio.run(run_tree_quic([1.0, 2.0], tmp_path, processes=0))
    with pytest.raises(ConfigError, match=r"1\.\.1024 nodes"):
        run_tree_quic_processes([], tmp_path)


def test_a_value_that_is_not_finite_is_refused_before_any_process_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidValueError, match="node 3"):
        run_tree_quic_processes([1.0, 2.0, 3.0, math.nan], tmp_path / "certs", processes=2)
    assert not (tmp_path / "certs").exists()


def test_a_group_that_fails_reports_its_error_and_the_parent_raises_it(tmp_path: Path) -> None:
    tree = _Tree([1.0, math.inf], 8, None, {}, str(tmp_path / "certs"), "{}", 5.0, 1.0)
    parent, child = mp.Pipe()
    _group_main(tree, [1], child)  # node 1's value is refused as the group builds its nodes
    with pytest.raises(GroupProcessError, match="node 1: value inf is not a finite number"):
        _receive(parent, 1.0, "start")


def test_a_group_that_died_or_is_silent_is_reported(tmp_path: Path) -> None:
    parent, child = mp.Pipe()
    with pytest.raises(DeadlineExceededError, match="start"):
        _receive(parent, 0.0, "start")
    child.close()
    with pytest.raises(GroupProcessError, match="died"):
        _receive(parent, 1.0, "start")
