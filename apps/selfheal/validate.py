"""Step 6: commit the chosen action through PBFT (pattern 2) among the healer replicas.

Every replica re-checks the action against its own read of the cluster when the
request executes (``ValidatingStore``); the action is validated only when at least
2f+1 replicas accept it. The incident lease (a compare-and-set key in the same
replicated store) makes sure two healers never act on one incident. The committed
log, with its commit certificates of 2f+1 Ed25519 signatures, is the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.selfheal.records import Validation
from patterns.byzantine import (
    CompareAndSet,
    KeyValueStore,
    Replica,
    decode_result,
    encode_op,
    sim_cluster,
    verify_commit_certificate,
)
from patterns.byzantine.events import BatchExecuted
from patterns.core.exceptions import DeadlineExceededError
from patterns.net.faults import FaultPlan

Recheck = Callable[[dict[str, Any]], bool]
ACCEPT, REJECT = b'{"verdict":"accept"}', b'{"verdict":"reject"}'
COMMIT_DEADLINE_S = 30.0  # virtual seconds one commit may take (view changes included)


class ValidatingStore(KeyValueStore):
    """The replicated store: KV operations (leases) as usual; a JSON action gets this replica's verdict.

    The verdict is a result only; the replicated state does not depend on it, so
    replicas that disagree still agree on their checkpoints.
    """

    def __init__(self, recheck: Recheck) -> None:
        super().__init__()
        self.recheck = recheck

    def apply(self, op: bytes) -> bytes:
        if op[:1] != b"{":
            return super().apply(op)
        try:
            ok = bool(self.recheck(json.loads(op)))
        except Exception:  # apply() must be total: a check that fails rejects
            ok = False
        return ACCEPT if ok else REJECT


def _factory(recheck: Recheck) -> Any:
    def make(nid: int, cfg: Any, keys: Any, settings: Any, _sm: Any, rng: Any) -> Replica:
        return Replica(nid, cfg, keys, settings, lambda: ValidatingStore(recheck), rng)

    return make


@dataclass
class Validator:
    """A long-lived PBFT cluster of healer replicas (on the deterministic simulator)."""

    recheck: Recheck
    replicas: int = 4
    seed: int = 0
    healer_id: str = "healer-0"
    plan: FaultPlan | None = None
    overrides: Mapping[int, Recheck] = field(default_factory=dict)  # a replica's own (faulty) view

    def __post_init__(self) -> None:
        f = (self.replicas - 1) // 3
        views = {r: self.overrides.get(r, self._view) for r in range(3 * f + 1)}
        self.cluster = sim_cluster(
            f=f,
            clients=1,
            plan=self.plan or FaultPlan(seed=self.seed),
            replica_factories={r: _factory(v) for r, v in views.items()},
        )
        self.client = self.cluster.clients[0]

    def _view(self, op: dict[str, Any]) -> bool:
        return self.recheck(op)

    def _commit(self, op: bytes) -> Any:
        c = self.cluster
        n = len(c.client(self.client).completed)
        c.submit(self.client, op, want_certificate=True)
        res = c.run_until_done(max_time=c.sim.now + COMMIT_DEADLINE_S)
        if not res.reached:
            raise DeadlineExceededError(f"PBFT commit did not finish: {res.describe()}")
        return c.results(self.client)[n]

    def acquire(self, incident: str) -> tuple[bool, str]:
        """Take the incident's lease; returns (held, holder)."""
        r = self._commit(encode_op(CompareAndSet(f"lease/{incident}", None, self.healer_id)))
        res = decode_result(r.result)
        if res.ok:
            return True, self.healer_id
        holder = str(res.value or "")
        return holder == self.healer_id, holder

    def release(self, incident: str) -> None:
        """Give the lease back (compare-and-set to empty)."""
        self._commit(encode_op(CompareAndSet(f"lease/{incident}", self.healer_id, "")))

    def validate(self, incident: str, action: dict[str, Any]) -> Validation:
        """Commit the action; it is validated when at least 2f+1 replicas accept it."""
        c = self.cluster
        held, holder = self.acquire(incident)
        if not held:
            return Validation(
                committed=False,
                digest="",
                sequence=0,
                view=0,
                replicas=self.replicas,
                signers=[],
                accepts=0,
                rejects=0,
                lease_holder=holder,
                reason=f"incident lease held by {holder}",
            )
        body = json.dumps({"incident": incident, "action": action}, sort_keys=True).encode()
        r = self._commit(body)
        live = c.replicas()
        c.sim.run(
            until=lambda s: all(p.last_executed >= r.seq for p in live.values()),
            max_time=c.sim.now + 1.0,
        )
        verdicts = {
            nid: json.loads(e.requests[0].result)["verdict"]
            for _, nid, e in c.sim.events
            if isinstance(e, BatchExecuted) and e.seq == r.seq and e.requests
        }
        c.sim.events.clear()
        accepts = sum(v == "accept" for v in verdicts.values())
        verify_commit_certificate(r.certificate, c.config.verify_keys, request=r.request_digest)
        cert = r.certificate
        quorum = c.config.quorum
        ok = accepts >= quorum
        return Validation(
            committed=ok,
            digest=cert.digest.hex(),
            sequence=int(cert.seq),
            view=int(cert.view),
            replicas=self.replicas,
            signers=sorted(int(sig.replica) for sig in cert.signatures),
            accepts=accepts,
            rejects=len(verdicts) - accepts,
            lease_holder=holder,
            reason=f"{accepts} of {len(verdicts)} replicas accepted (quorum {quorum})",
        )
