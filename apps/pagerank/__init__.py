"""App 8: PageRank of the global maritime network, partitioned over ephemeral block workers.

The graph is split by destination into blocks stored as memory-mapped CSR files
(:mod:`apps.pagerank.partition`); one power-iteration step runs every block's
worker (:mod:`apps.pagerank.engine`), and the dangling mass and the L1 residual of
the step are merged up a k-ary aggregation tree. The conventions are those of
``networkx.pagerank`` (see :mod:`apps.pagerank.reference`).
"""

from __future__ import annotations

from apps.pagerank.engine import (
    CrashPlan,
    InProcessExecutor,
    PageRankParams,
    PageRankResult,
    run_pagerank,
)
from apps.pagerank.partition import PartitionedGraph, build_partitions

__all__ = [
    "CrashPlan",
    "InProcessExecutor",
    "PageRankParams",
    "PageRankResult",
    "PartitionedGraph",
    "build_partitions",
    "run_pagerank",
]
