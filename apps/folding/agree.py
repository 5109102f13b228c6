"""Agreement on the final fold: PBFT (pattern 2) among replicas that re-score every candidate themselves.

Each candidate an agent reports (its fold and the energy it claims) is committed
as one operation. When a replica executes it, its :class:`ScoringStore` checks the
fold against the replica's own copy of the run's sequence and lattice with
:func:`apps.folding.lattice.check_fold` (connectivity, self-avoidance, recomputed
energy): the claimed energy must equal the recomputed one. A candidate is accepted
only when at least 2f+1 replicas accept it, so neither a lying agent nor f faulty
replicas can make a false fold win. Every rejection names the agent and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.folding.lattice import check_fold
from patterns.byzantine import KeyValueStore, Replica, sim_cluster, verify_commit_certificate
from patterns.byzantine.events import BatchExecuted
from patterns.core.exceptions import DeadlineExceededError
from patterns.net.faults import FaultPlan

COMMIT_DEADLINE_S = 30.0  # virtual seconds one commit may take (view changes included)

Scorer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fold an agent reports for agreement.

    Attributes:
        agent: the reporting agent's name.
        coords: one ``[x, y, z]`` site per residue.
        energy: the energy the agent claims.
        hp: the sequence the agent says it folded.
    """

    agent: str
    coords: list[list[int]]
    energy: int
    hp: str

    def op(self) -> bytes:
        """The operation committed through PBFT (canonical JSON)."""
        body = {"agent": self.agent, "coords": self.coords, "energy": self.energy, "hp": self.hp}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the replicas decided about one candidate."""

    agent: str
    claimed: int
    accepted: bool
    accepts: int
    rejects: int
    energy: int | None  # the energy the replicas recomputed (the majority's), None if invalid
    reason: str  # the majority's reason for rejecting ("" when accepted)
    sequence: int  # PBFT sequence number of the commit
    digest: str  # the commit certificate's digest
    signers: list[int] = field(default_factory=list)


def score(hp: str, dim: int, op: dict[str, Any]) -> dict[str, Any]:
    """A replica's own check of a candidate against the run's sequence ``hp`` on the ``dim``-D lattice."""
    claimed = op.get("energy")
    if op.get("hp") != hp:
        return {"ok": False, "energy": None, "reason": "fold of another sequence"}
    coords = op.get("coords")
    if not isinstance(coords, list):
        return {"ok": False, "energy": None, "reason": "no coordinates"}
    chk = check_fold(hp, coords, dim)
    if not chk.valid:
        return {"ok": False, "energy": None, "reason": f"invalid fold: {chk.reason}"}
    if not isinstance(claimed, int) or claimed != chk.energy:
        return {
            "ok": False,
            "energy": chk.energy,
            "reason": f"false energy: claimed {claimed}, recomputed {chk.energy}",
        }
    return {"ok": True, "energy": chk.energy, "reason": ""}


class ScoringStore(KeyValueStore):
    """The replicated state machine: a JSON candidate gets this replica's own verdict as its result.

    The verdict is a result only; the replicated state does not depend on it, so a
    replica with a faulty scorer still agrees on checkpoints with the others.
    """

    def __init__(self, scorer: Scorer) -> None:
        super().__init__()
        self.scorer = scorer

    def apply(self, op: bytes) -> bytes:
        if op[:1] != b"{":
            return super().apply(op)
        try:
            out = self.scorer(json.loads(op))
        except Exception as err:  # apply() must be total: a check that fails rejects
            out = {"ok": False, "energy": None, "reason": f"scoring failed: {err}"}
        return json.dumps(out, sort_keys=True).encode()


def _factory(scorer: Scorer) -> Any:
    def make(nid: int, cfg: Any, keys: Any, settings: Any, _sm: Any, rng: Any) -> Replica:
        return Replica(nid, cfg, keys, settings, lambda: ScoringStore(scorer), rng)

    return make


class Referee:
    """A PBFT cluster of ``replicas`` scorers on the deterministic simulator, for one sequence.

    Args:
        hp: the run's sequence (each replica keeps its own copy).
        dim: 2 or 3.
        replicas: cluster size (3f+1 are used).
        seed: the simulator's seed.
        plan: a fault plan (loss, crashes, ...); ``FaultPlan(seed=seed)`` by default.
        faulty: per replica id, a scorer replacing the honest one (a Byzantine replica).
    """

    def __init__(
        self,
        hp: str,
        dim: int,
        replicas: int = 4,
        seed: int = 0,
        plan: FaultPlan | None = None,
        faulty: Mapping[int, Scorer] | None = None,
    ) -> None:
        self.hp, self.dim = hp, dim
        f = (replicas - 1) // 3
        self.f = f
        own: Scorer = lambda op: score(self.hp, self.dim, op)  # noqa: E731
        scorers = {r: (faulty or {}).get(r, own) for r in range(3 * f + 1)}
        self.cluster = sim_cluster(
            f=f,
            clients=1,
            plan=plan or FaultPlan(seed=seed),
            replica_factories={r: _factory(s) for r, s in scorers.items()},
        )
        self.client = self.cluster.clients[0]

    def judge(self, cand: Candidate) -> Verdict:
        """Commit one candidate; it is accepted when 2f+1 replicas' own checks accept it."""
        c = self.cluster
        done = len(c.client(self.client).completed)
        c.submit(self.client, cand.op(), want_certificate=True)
        res = c.run_until_done(max_time=c.sim.now + COMMIT_DEADLINE_S)
        if not res.reached:
            raise DeadlineExceededError(f"PBFT commit did not finish: {res.describe()}")
        r = c.results(self.client)[done]
        live = c.replicas()
        c.sim.run(
            until=lambda s: all(p.last_executed >= r.seq for p in live.values()),
            max_time=c.sim.now + 1.0,
        )
        outs: dict[int, dict[str, Any]] = {
            nid: json.loads(e.requests[0].result)
            for _, nid, e in c.sim.events
            if isinstance(e, BatchExecuted) and e.seq == r.seq and e.requests
        }
        c.sim.events.clear()
        cert = r.certificate
        if cert is None:
            raise DeadlineExceededError("PBFT commit returned no certificate")
        verify_commit_certificate(cert, c.config.verify_keys, request=r.request_digest)
        accepts = sum(bool(o.get("ok")) for o in outs.values())
        ok = accepts >= c.config.quorum
        energies = [o.get("energy") for o in outs.values()]
        energy = max(set(energies), key=energies.count) if energies else None
        reasons = [str(o.get("reason", "")) for o in outs.values() if not o.get("ok")]
        reason = "" if ok else (max(set(reasons), key=reasons.count) if reasons else "no quorum")
        return Verdict(
            agent=cand.agent,
            claimed=cand.energy,
            accepted=ok,
            accepts=accepts,
            rejects=len(outs) - accepts,
            energy=energy if isinstance(energy, int) else None,
            reason=reason,
            sequence=int(cert.seq),
            digest=cert.digest.hex(),
            signers=sorted(int(sig.replica) for sig in cert.signatures),
        )

    def judge_all(self, cands: Sequence[Candidate]) -> list[Verdict]:
        """:meth:`judge` every candidate in order."""
        return [self.judge(c) for c in cands]
