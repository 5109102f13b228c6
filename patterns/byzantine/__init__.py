"""Pattern 2: Byzantine fault tolerant state machine replication (PBFT, Castro and Liskov)."""

from __future__ import annotations

from patterns.byzantine.auth import ClusterConfig, MacKeyring, NodeKeys, generate_cluster
from patterns.byzantine.certificate import (
    verify_audit_log,
    verify_checkpoint_proof,
    verify_commit_certificate,
)
from patterns.byzantine.checkers import (
    AgreementChecker,
    LinearizabilityChecker,
    LivenessChecker,
)
from patterns.byzantine.client import Client, CommittedResult
from patterns.byzantine.clusterfile import ClusterFile, init_cluster
from patterns.byzantine.exceptions import (
    CertificateError,
    RejectedMessage,
    RequestTimeoutError,
    RequestTooLargeError,
)
from patterns.byzantine.local import LocalCluster
from patterns.byzantine.messages import CommitCertificate, pbft_codec
from patterns.byzantine.replica import Mode, Replica
from patterns.byzantine.service import CommitReport, commit, commit_async, serve
from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.simulation import SimCluster, sim_cluster
from patterns.byzantine.state_machine import (
    CompareAndSet,
    Delete,
    Get,
    KeyValueStore,
    KvOp,
    KvResult,
    Put,
    StateMachine,
    decode_result,
    encode_op,
)

__all__ = [
    "AgreementChecker",
    "ByzantineSettings",
    "CertificateError",
    "Client",
    "ClusterConfig",
    "ClusterFile",
    "CommitCertificate",
    "CommitReport",
    "CommittedResult",
    "CompareAndSet",
    "Delete",
    "Get",
    "KeyValueStore",
    "KvOp",
    "KvResult",
    "LinearizabilityChecker",
    "LivenessChecker",
    "LocalCluster",
    "MacKeyring",
    "Mode",
    "NodeKeys",
    "Put",
    "RejectedMessage",
    "Replica",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "SimCluster",
    "StateMachine",
    "commit",
    "commit_async",
    "decode_result",
    "encode_op",
    "generate_cluster",
    "init_cluster",
    "pbft_codec",
    "serve",
    "sim_cluster",
    "verify_audit_log",
    "verify_checkpoint_proof",
    "verify_commit_certificate",
]
