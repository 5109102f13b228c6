"""The benchmark's multi-process QUIC run: groups partition the tree, and the root of a tree
whose nodes live in two processes covers every node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf.aggregation_multiprocess import groups_of, run_tree_quic_processes


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


def test_two_processes_aggregate_every_node(tmp_path: Path) -> None:
    values = [float(i) for i in range(40)]
    elapsed, coverage = run_tree_quic_processes(values, tmp_path / "certs", k=4, processes=2)
    assert coverage == 40 and elapsed > 0
