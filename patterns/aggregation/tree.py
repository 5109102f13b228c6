"""A k-ary aggregation tree over node ids, derived deterministically from membership.

Members are sorted; member ``i`` of the sorted list sits at heap position
``i``: its parent is ``(i - 1) // k`` and its children ``k*i + 1 .. k*i + k``.
Every node computes the same tree from the same membership, with no messages.
Depth is ``ceil(log_k(N*(k-1) + 1)) - 1`` levels below the root.
"""

from __future__ import annotations

from collections.abc import Iterable

from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId

MAX_FANOUT = 1024


class KaryTree:
    """The k-ary heap-ordered tree over ``members``."""

    def __init__(self, members: Iterable[NodeId], k: int) -> None:
        if not 2 <= k <= MAX_FANOUT:
            raise ConfigError(f"tree fanout k={k} outside 2..{MAX_FANOUT}")
        self.members: tuple[NodeId, ...] = tuple(sorted(set(members)))
        if not self.members:
            raise ConfigError("an aggregation tree needs at least one member")
        self.k = k
        self._pos = {nid: i for i, nid in enumerate(self.members)}

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, node: object) -> bool:
        return node in self._pos

    @property
    def root(self) -> NodeId:
        """The root (the smallest id)."""
        return self.members[0]

    def position(self, node: NodeId) -> int:
        """Heap position of ``node``.

        Raises:
            ConfigError: ``node`` is not a member.
        """
        try:
            return self._pos[node]
        except KeyError:
            raise ConfigError(f"node {node} is not a member of the tree") from None

    def parent(self, node: NodeId) -> NodeId | None:
        """The parent of ``node`` (``None`` for the root)."""
        i = self.position(node)
        return None if i == 0 else self.members[(i - 1) // self.k]

    def children(self, node: NodeId) -> tuple[NodeId, ...]:
        """The children of ``node``, in order."""
        first = self.k * self.position(node) + 1
        return self.members[first : first + self.k]

    def ancestors(self, node: NodeId) -> list[NodeId]:
        """Parent, grandparent, ... up to the root."""
        out: list[NodeId] = []
        p = self.parent(node)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out

    def level(self, node: NodeId) -> int:
        """Distance from the root."""
        i, d = self.position(node), 0
        while i > 0:
            i = (i - 1) // self.k
            d += 1
        return d

    @property
    def depth(self) -> int:
        """Levels below the root (0 for a single node)."""
        return tree_depth(len(self.members), self.k)

    def height(self, node: NodeId) -> int:
        """Levels from ``node`` down to its deepest descendant."""
        i, h, n = self.position(node), 0, len(self.members)
        first = self.k * i + 1
        while first < n:
            h += 1
            first = self.k * first + 1
        return h

    def subtree_size(self, node: NodeId) -> int:
        """Number of members in the subtree rooted at ``node``, itself included."""
        n = len(self.members)
        lo = hi = self.position(node)
        size = 0
        while lo < n:
            size += min(hi, n - 1) - lo + 1
            lo, hi = self.k * lo + 1, self.k * hi + self.k
        return size


def tree_depth(n: int, k: int) -> int:
    """Levels below the root of a complete k-ary heap of ``n`` nodes.

    Raises:
        ConfigError: ``k`` below 2.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"fanout k={k!r} must be an integer >= 2")
    depth, last = 0, 0  # `last` = heap index of the last node on the current level
    while last < n - 1:
        last = last * k + k
        depth += 1
    return depth
