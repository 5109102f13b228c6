"""Node identifiers and their textual forms in certificates."""

from __future__ import annotations

import re

from patterns.core.exceptions import ConfigError

NodeId = int
"""A node is named by a small non-negative integer, unique within a cluster."""

MAX_NODE_ID = 2**31 - 1
_NAME_RE = re.compile(r"^node-(\d{1,10})$")


def check_node_id(node_id: int) -> NodeId:
    """Return ``node_id`` if it is a valid node id, else raise :class:`ConfigError`."""
    if isinstance(node_id, bool) or not isinstance(node_id, int):
        raise ConfigError(f"node id must be an int, got {type(node_id).__name__}")
    if not 0 <= node_id <= MAX_NODE_ID:
        raise ConfigError(f"node id {node_id} is outside 0..{MAX_NODE_ID}")
    return node_id


def node_name(node_id: NodeId) -> str:
    """The DNS-style name of a node, as written in its certificate (``node-7``)."""
    return f"node-{check_node_id(node_id)}"


def parse_node_name(name: str) -> NodeId:
    """Inverse of :func:`node_name`; raises :class:`ConfigError` for other names."""
    match = _NAME_RE.match(name)
    if match is None:
        raise ConfigError(f"{name!r} is not a node name of the form 'node-<id>'")
    return check_node_id(int(match.group(1)))
