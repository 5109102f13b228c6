"""Step 8: store trajectories in LanceDB memory and distill them in the pattern-1 reasoning bank.

Each trajectory is written twice before anything else happens: appended to a JSON
Lines journal (durable even when the vector store is down) and upserted into the
memory table (kind ``incident``). The reasoning bank then distills it into
strategies (what fixed this kind of cause) and pitfalls (what did not), which the
loop recalls in detection (a recognised incident is acted on sooner), in proposal
ranking and in the memory voter.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.k8s.actions import action_to_dict
from apps.selfheal.records import Trajectory
from patterns.codegen.bank import (
    BankSettings,
    DistilledItem,
    ItemContext,
    ItemKind,
    ReasoningBank,
)
from patterns.codegen.records import EditFormat, Step, TestOutcome
from patterns.codegen.records import Trajectory as BankTrajectory
from patterns.core.exceptions import RetryableError, SwarmError
from patterns.memory import MemoryItem, MemorySettings, MemoryStore

NAMESPACE = "k8s-incidents"
RECOGNISE_SIMILARITY = 0.6  # a recalled strategy this similar (cosine) recognises an incident
RECOGNISE_RELIABILITY = 0.5  # ... unless its uses failed more often than they worked


def action_tag(action_type: str, hypothesis_kind: str) -> str:
    """The bank tag of one action type used against one kind of cause."""
    return f"action:{action_type}@{hypothesis_kind}"


class IncidentDistiller:
    """One strategy per winning attempt, one pitfall per failed attempt, in incident words."""

    def distill(self, traj: BankTrajectory) -> list[DistilledItem]:
        sig = str(traj.context.get("signature", ""))
        features = tuple(traj.context.get("features", ()))
        out = []
        for step in traj.steps:
            won = step.succeeded
            verdict = (
                f"recovered in {traj.metadata.get('time_to_recover_s', 0):.0f}s"
                if won
                else f"did not recover ({step.outcome.error_message if step.outcome else 'not applied'})"
            )
            out.append(
                DistilledItem(
                    kind=ItemKind.STRATEGY if won else ItemKind.PITFALL,
                    title=f"{step.tags[0]} for {sig[:60]}",
                    description=f"{step.description}: {verdict}",
                    content=f"For an incident with {sig}: {step.description} {verdict}.",
                    tags=step.tags,
                    context=ItemContext(signature=sig, features=features),
                )
            )
        return out


@dataclass
class Experience:
    """The loop's memory: the trajectory journal, the LanceDB table and the reasoning bank."""

    directory: Path
    store: MemoryStore = field(init=False)
    bank: ReasoningBank = field(init=False)
    pending: list[Trajectory] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.journal = self.directory / "trajectories.jsonl"
        self.store = MemoryStore(
            MemorySettings(
                uri=str(self.directory / "lancedb"), table="selfheal", create_if_missing=True
            )
        )
        self.bank = ReasoningBank(
            self.store,
            namespace=NAMESPACE,
            distiller=IncidentDistiller(),
            settings=BankSettings(merge_threshold=0.9),
        )

    # writing --------------------------------------------------------------------------------
    def store_trajectory(self, traj: Trajectory) -> list[str]:
        """Journal, store and distill one trajectory; returns what was learned (item titles).

        A vector store that is down keeps the trajectory in :attr:`pending` (retried
        by :meth:`retry_pending`); the journal line is written first either way, so a
        permanent refusal loses nothing either.
        """
        with self._lock:
            with self.journal.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(traj.to_dict(), sort_keys=True, default=str) + "\n")
            try:
                return self._store(traj)
            except (RetryableError, OSError):
                self.pending.append(traj)  # the store may come back: retried next iteration
                raise

    def retry_pending(self) -> int:
        """Store trajectories a failing store could not take; returns how many went in."""
        done = 0
        while self.pending:
            traj = self.pending[0]
            try:
                self._store(traj)
            except (RetryableError, OSError):
                break
            except SwarmError:
                pass  # a permanent refusal will not change: the journal keeps the trajectory
            self.pending.pop(0)
            done += 1
        return done

    def _store(self, traj: Trajectory) -> list[str]:
        inc = traj.incident
        top = traj.hypotheses[0] if traj.hypotheses else None
        text = (
            f"{inc.signature} | cause {top.kind if top else 'unknown'} {top.ref if top else ''}"
            f" | outcome {traj.outcome}"
        )
        self.store.upsert(
            [
                MemoryItem(
                    text=text,
                    namespace=NAMESPACE,
                    kind="incident",
                    id=f"incident:{inc.id}",
                    metadata={"trajectory": traj.to_dict()},
                    score=1.0 if traj.outcome == "healed" else 0.0,
                )
            ]
        )
        steps: list[Step] = []
        for i, ex in enumerate(traj.executions):
            if not ex.applied:
                continue
            kind = action_to_dict(ex.action)["type"]
            hyp = self._hypothesis_kind(traj, ex.action)
            steps.append(
                Step(
                    index=len(steps),
                    candidate_id=f"{inc.id}-a{i}",
                    edit=ex.action.describe(),
                    format=EditFormat.LAZY,
                    tags=(action_tag(kind, hyp), f"cause:{hyp}"),
                    description=f"{kind} on the {hyp} cause",
                    applied=True,
                    outcome=TestOutcome(
                        passed=ex.verified,
                        error_type=None if ex.verified else "NotRecovered",
                        error_message="" if ex.verified else "; ".join(ex.problems_after[:2]),
                        duration_s=ex.finished_at - ex.started_at,
                    ),
                )
            )
        if not steps:
            return []
        report = self.bank.record(
            BankTrajectory(
                id=inc.id,
                task_id=f"incident/{inc.id}",
                task=f"Recover from {inc.signature}",
                context={
                    "signature": self.query(inc.signature, top.kind if top else ""),
                    "features": [top.kind] if top else [],
                },
                steps=tuple(steps),
                success=any(s.succeeded for s in steps),
                metadata={"time_to_recover_s": traj.time_to_recover_s or 0.0},
            )
        )
        learned = []
        for item_id in [*report.added_ids, *report.merged_ids]:
            item = self.bank.get(item_id)
            if item is not None:
                learned.append(f"{item.kind.value}: {item.title}")
        return learned

    @staticmethod
    def _hypothesis_kind(traj: Trajectory, action: Any) -> str:
        for p in traj.proposals:
            if p.action == action:
                return traj.hypotheses[p.hypothesis].kind
        return traj.hypotheses[0].kind if traj.hypotheses else "unknown"

    # reading --------------------------------------------------------------------------------
    @staticmethod
    def query(signature: str, hypothesis_kind: str = "") -> str:
        """The recall text of an incident."""
        return f"{signature} {hypothesis_kind}".strip()

    def recall(
        self, signature: str, hypothesis_kind: str = "", k: int = 8
    ) -> tuple[list[Any], dict[str, float]]:
        """Items similar to this incident and the bank's priors per tag."""
        recalled = self.bank.recall(self.query(signature, hypothesis_kind), k=k)
        return recalled, self.bank.priors(recalled)

    def recognise(self, signature: str) -> tuple[float, list[str]]:
        """How well memory knows an incident like this: best similar strategy's rank, and its titles."""
        if self.bank.stats().strategies == 0:
            return 0.0, []
        recalled = self.bank.recall(signature, k=3, kinds=("strategy",))
        good = [
            r
            for r in recalled
            if r.similarity >= RECOGNISE_SIMILARITY and r.reliability >= RECOGNISE_RELIABILITY
        ]
        if not good:
            return 0.0, [r.item.title for r in recalled]
        return max(r.rank for r in good), [r.item.title for r in good]

    def feedback(self, item_ids: list[str], success: bool) -> None:
        """Credit or blame the recalled items that were used."""
        if item_ids:
            self.bank.feedback(item_ids, success)

    def close(self) -> None:
        """Flush the bank and close the store."""
        self.bank.flush()
        self.store.close()
