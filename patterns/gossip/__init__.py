"""Pattern 3: CRDT replication (pycrdt) over push-pull anti-entropy gossip with SWIM membership."""

from __future__ import annotations

from patterns.gossip.checkers import (
    ConvergenceChecker,
    ConvergenceWatch,
    NothingLostChecker,
    TrafficMeter,
)
from patterns.gossip.cluster import SimulatedCluster
from patterns.gossip.document import DEFAULT_ROOTS, ReplicatedDoc, RootKind
from patterns.gossip.edits import Edit, EditOp, apply_edit, demo_edits, parse_edits
from patterns.gossip.events import (
    ClientIdRotated,
    DocChanged,
    LocalEdit,
    MemberChanged,
    NodeStarted,
    UpdateRejected,
)
from patterns.gossip.exceptions import ConvergenceTimeoutError, MalformedUpdateError
from patterns.gossip.membership import SwimMembership
from patterns.gossip.messages import GOSSIP_MESSAGES, Status, gossip_codec
from patterns.gossip.naive import NaiveFullStateNode, naive_codec
from patterns.gossip.node import GossipNode, ReplicaNode
from patterns.gossip.run import GossipReport, replicate
from patterns.gossip.settings import GossipSettings

__all__ = [
    "DEFAULT_ROOTS",
    "GOSSIP_MESSAGES",
    "ClientIdRotated",
    "ConvergenceChecker",
    "ConvergenceTimeoutError",
    "ConvergenceWatch",
    "DocChanged",
    "Edit",
    "EditOp",
    "GossipNode",
    "GossipReport",
    "GossipSettings",
    "LocalEdit",
    "MalformedUpdateError",
    "MemberChanged",
    "NaiveFullStateNode",
    "NodeStarted",
    "NothingLostChecker",
    "ReplicaNode",
    "ReplicatedDoc",
    "RootKind",
    "SimulatedCluster",
    "Status",
    "SwimMembership",
    "TrafficMeter",
    "UpdateRejected",
    "apply_edit",
    "demo_edits",
    "gossip_codec",
    "naive_codec",
    "parse_edits",
    "replicate",
]
