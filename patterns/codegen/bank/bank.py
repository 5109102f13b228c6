"""ReasoningBank: trajectories and the strategies and pitfalls distilled from them, in a MemoryStore."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from patterns.codegen.bank import ranking
from patterns.codegen.bank.codec import (
    item_from_record,
    item_metadata,
    item_text,
    trajectory_from_dict,
    trajectory_text,
    vector_text,
)
from patterns.codegen.bank.distill import AsyncDistiller, Distiller, RuleDistiller
from patterns.codegen.bank.exceptions import (
    DuplicateTrajectoryError,
    InvalidQueryError,
    InvalidTrajectoryError,
    UnknownItemError,
)
from patterns.codegen.bank.records import (
    ITEM_KINDS,
    TRAJECTORY_KIND,
    BankItem,
    BankStats,
    DistilledItem,
    ItemKind,
    RecalledItem,
    RecordReport,
    UsageStats,
)
from patterns.codegen.bank.settings import BankSettings
from patterns.codegen.records import Trajectory
from patterns.memory.exceptions import UnknownNamespaceError
from patterns.memory.schema import MAX_ID_CHARS, MemoryItem, MemoryRecord, check_name
from patterns.memory.store import MAX_K, MemoryStore

DEFAULT_NAMESPACE = "codegen"
MAX_RECALL_K = 1000  # largest k recall() accepts
DEFAULT_PROMPT_CHARS = 1500  # default budget of prompt_block(), characters
ID_DIGEST_CHARS = 20  # hex characters of the hash in an item id (80 bits)


@dataclass(slots=True)
class _Planned:
    """An item about to be written: new (``record`` None) or an existing one being merged."""

    id: str
    kind: ItemKind
    primary_tag: str
    vector: NDArray[np.float32]
    text: str
    item: DistilledItem | BankItem
    sources: list[str]
    support: int
    stats: UsageStats
    record: MemoryRecord | None = None
    seq: int = 0


class ReasoningBank:
    """A ReasoningBank-style memory of what fixed failures and what did not.

    Finished trajectories are stored (kind ``trajectory``) and distilled into
    ``strategy`` and ``pitfall`` items (Ouyang et al. 2025, "ReasoningBank: Scaling
    Agent Self-Evolving with Reasoning Memory"), all in one namespace of a
    :class:`~patterns.memory.store.MemoryStore`. Recall ranks items by similarity
    blended with their reliability from feedback; :meth:`priors` and
    :meth:`prompt_block` turn recalled items into search-generator boosts and
    model-prompt text.

    Each write is one store commit. Recall counts are kept in process and
    written with the next :meth:`feedback` (or :meth:`flush`), so recall itself
    never writes.

    Args:
        store: the memory store.
        namespace: the store namespace of this bank.
        distiller: turns trajectories into items; a :class:`RuleDistiller` by default.
        settings: merge, ranking and prior settings.
        clock: returns the current time (for ``last_used``); UTC now by default.

    Raises:
        InvalidRecordError: ``namespace`` is not a valid memory namespace.
    """

    def __init__(
        self,
        store: MemoryStore,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        distiller: Distiller | None = None,
        settings: BankSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.namespace = check_name(namespace, "namespace")
        self.distiller: Distiller = distiller if distiller is not None else RuleDistiller()
        self.settings = settings if settings is not None else BankSettings()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pending: dict[str, int] = {}  # item id -> recalls not yet persisted
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ids

    def trajectory_record_id(self, trajectory_id: str) -> str:
        """The memory-store id of a trajectory's record."""
        return f"{self.namespace}:{TRAJECTORY_KIND}:{trajectory_id}"

    def _item_id(self, kind: ItemKind, trajectory_id: str, index: int) -> str:
        key = f"{self.namespace}\0{trajectory_id}\0{index}".encode()
        digest = hashlib.sha256(key).hexdigest()[:ID_DIGEST_CHARS]
        return f"{self.namespace}:{kind.value}:{digest}"

    # ------------------------------------------------------------------ record

    def _check_trajectory(self, trajectory: Trajectory) -> str:
        """Validate a trajectory; return its record id."""
        if not isinstance(trajectory, Trajectory):
            raise InvalidTrajectoryError(f"expected a Trajectory, got {type(trajectory).__name__}")
        if not isinstance(trajectory.id, str) or not trajectory.id.strip():
            raise InvalidTrajectoryError("the trajectory has no id")
        if not trajectory.task.strip():
            raise InvalidTrajectoryError(f"trajectory {trajectory.id!r} has an empty task")
        if not trajectory.steps:
            raise InvalidTrajectoryError(
                f"trajectory {trajectory.id!r} has no steps: record finished trajectories only"
            )
        winner = trajectory.winning_step
        if trajectory.success and winner is None:
            raise InvalidTrajectoryError(
                f"trajectory {trajectory.id!r} is marked successful but no step passed its tests"
            )
        if not trajectory.success and winner is not None:
            raise InvalidTrajectoryError(
                f"trajectory {trajectory.id!r} is marked failed but step {winner.index} passed"
            )
        try:
            json.dumps(trajectory.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as err:
            raise InvalidTrajectoryError(
                f"trajectory {trajectory.id!r} is not JSON-serializable: {err}"
            ) from err
        record_id = self.trajectory_record_id(trajectory.id)
        if len(record_id) > MAX_ID_CHARS:
            raise InvalidTrajectoryError(
                f"trajectory id {trajectory.id[:40]!r}... is too long for a record id "
                f"({len(record_id)} > {MAX_ID_CHARS} characters with the namespace)"
            )
        if self.store.get_many([record_id]):
            raise DuplicateTrajectoryError(trajectory.id, self.namespace)
        return record_id

    def _skips(self, trajectory: Trajectory) -> bool:
        return self.settings.success_only and not trajectory.success

    def _kept(self, distilled: list[DistilledItem]) -> list[DistilledItem]:
        """With ``success_only``, nothing learned from a failure: strategies only."""
        if not self.settings.success_only:
            return distilled
        return [d for d in distilled if d.kind is ItemKind.STRATEGY]

    def record(self, trajectory: Trajectory) -> RecordReport:
        """Store a finished trajectory and the items distilled from it, in one commit.

        New items that are near-duplicates (``settings.merge_threshold``) of an
        existing item of the same kind and primary tag are merged into it: its
        support grows by one and the trajectory joins its sources.

        Returns:
            The trajectory's record id and the ids of added and merged items.

        Raises:
            InvalidTrajectoryError: no steps, an inconsistent outcome, non-JSON context.
            DuplicateTrajectoryError: the trajectory is recorded already.
        """
        record_id = self._check_trajectory(trajectory)
        distilled = [] if self._skips(trajectory) else self.distiller.distill(trajectory)
        return self._write(trajectory, record_id, self._kept(distilled))

    async def arecord(self, trajectory: Trajectory) -> RecordReport:
        """:meth:`record` for event loops: an :class:`AsyncDistiller` runs on this loop."""
        record_id = self._check_trajectory(trajectory)
        if self._skips(trajectory):
            distilled: list[DistilledItem] = []
        elif isinstance(self.distiller, AsyncDistiller):
            distilled = await self.distiller.adistill(trajectory)
        else:
            distilled = self.distiller.distill(trajectory)
        return self._write(trajectory, record_id, self._kept(distilled))

    def _checked_items(self, distilled: Sequence[DistilledItem]) -> list[DistilledItem]:
        out: list[DistilledItem] = []
        limit = self.settings.content_chars
        for pos, item in enumerate(distilled):
            if not isinstance(item, DistilledItem):
                raise InvalidTrajectoryError(
                    f"the distiller returned a {type(item).__name__} at {pos}, not a DistilledItem"
                )
            if not item.title.strip() or not item.content.strip():
                continue  # nothing to remember
            out.append(replace(item, kind=ItemKind(item.kind), content=item.content[:limit]))
        return out

    def _write(
        self, trajectory: Trajectory, record_id: str, distilled: Sequence[DistilledItem]
    ) -> RecordReport:
        items = self._checked_items(distilled)
        seq = self._trajectory_count()
        vectors = (
            self.store.embedder.embed([vector_text(d, self.settings.embed) for d in items])
            if items
            else np.zeros((0, self.store.dim), dtype=np.float32)
        )
        new: list[_Planned] = []
        merged: dict[str, _Planned] = {}
        for index, (d, vec) in enumerate(zip(items, vectors, strict=True)):
            target = self._merge_target(d, vec, new, merged)
            if target is not None:
                target.support += 1
                target.seq = seq
                if trajectory.id not in target.sources:
                    target.sources.append(trajectory.id)
                del target.sources[: -self.settings.max_sources]
                continue
            new.append(
                _Planned(
                    id=self._item_id(d.kind, trajectory.id, index),
                    kind=d.kind,
                    primary_tag=d.primary_tag,
                    vector=vec,
                    text=item_text(d),
                    item=d,
                    sources=[trajectory.id],
                    support=1,
                    stats=UsageStats(),
                    seq=seq,
                )
            )
        rows = [
            MemoryItem(
                text=trajectory_text(trajectory, self.settings.trajectory_text_chars),
                namespace=self.namespace,
                kind=TRAJECTORY_KIND,
                id=record_id,
                metadata={
                    "trajectory": trajectory.to_dict(),
                    "task_id": trajectory.task_id,
                    "success": trajectory.success,
                    "attempts": trajectory.attempts,
                    "added": [p.id for p in new],
                    "merged": list(merged),
                },
            )
        ]
        rows.extend(self._row(p) for p in [*new, *merged.values()])
        self.store.upsert(rows)
        return RecordReport(
            trajectory_id=trajectory.id,
            record_id=record_id,
            added_ids=tuple(p.id for p in new),
            merged_ids=tuple(merged),
        )

    def _row(self, p: _Planned) -> MemoryItem:
        score = ranking.reliability(p.stats, self.settings)
        metadata = item_metadata(
            p.item, sources=p.sources, support=p.support, stats=p.stats, seq=p.seq
        )
        if p.record is None:
            return MemoryItem(
                text=p.text,
                namespace=self.namespace,
                kind=p.kind.value,
                id=p.id,
                metadata=metadata,
                vector=p.vector,
                score=score,
            )
        return MemoryItem(
            text=p.record.text,
            namespace=self.namespace,
            kind=p.kind.value,
            id=p.id,
            metadata=metadata,
            vector=p.vector,
            created_at=p.record.created_at,
            expires_at=p.record.expires_at,
            score=score,
        )

    def _merge_target(
        self,
        d: DistilledItem,
        vec: NDArray[np.float32],
        new: list[_Planned],
        merged: dict[str, _Planned],
    ) -> _Planned | None:
        """The planned or stored item ``d`` merges into, if any (most similar first)."""
        threshold = self.settings.merge_threshold
        best: tuple[float, _Planned] | None = None
        for p in new:
            if p.kind is d.kind and p.primary_tag == d.primary_tag:
                sim = float(np.dot(p.vector, vec))
                if sim >= threshold and (best is None or sim > best[0]):
                    best = (sim, p)
        try:
            hits = self.store.search(
                vec,
                k=self.settings.merge_candidates,
                namespace=self.namespace,
                kind=d.kind.value,
                with_vectors=True,
            )
        except UnknownNamespaceError:
            hits = []
        for hit in hits:
            if hit.similarity < threshold or (best is not None and hit.similarity <= best[0]):
                continue
            planned = merged.get(hit.record.id)
            if planned is None:
                existing = item_from_record(hit.record)
                if existing.primary_tag != d.primary_tag:
                    continue
                planned = _Planned(
                    id=existing.id,
                    kind=existing.kind,
                    primary_tag=existing.primary_tag,
                    vector=np.asarray(hit.record.vector, dtype=np.float32),
                    text=hit.record.text,
                    item=existing,
                    sources=list(existing.sources),
                    support=existing.support,
                    stats=existing.stats,
                    record=hit.record,
                    seq=existing.seq,
                )
            best = (hit.similarity, planned)
        if best is not None and best[1].record is not None:
            merged.setdefault(best[1].id, best[1])
        return best[1] if best is not None else None

    def _trajectory_count(self) -> int:
        try:
            return self.store.count(self.namespace, TRAJECTORY_KIND)
        except UnknownNamespaceError:
            return 0

    # ------------------------------------------------------------------ recall

    def recall(
        self, query: str, *, k: int = 8, kinds: Sequence[str] = ITEM_KINDS
    ) -> list[RecalledItem]:
        """The items most useful for ``query``, best first.

        Fetches the ``k * settings.overfetch`` most similar items of each kind
        (one store search per kind), drops those below ``settings.min_similarity``,
        and orders the rest by :func:`~patterns.codegen.bank.ranking.rank_score`.
        Returned items count as retrieved (persisted with the next write of
        :meth:`feedback` or :meth:`flush`).

        Args:
            query: what the caller is about to fix: task, failure signature, code features.
            k: how many items at most.
            kinds: item kinds to recall (``strategy``, ``pitfall``).

        Raises:
            InvalidQueryError: an empty query, ``k`` outside 1..1000, an unknown kind.
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("the recall query is empty")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_RECALL_K:
            raise InvalidQueryError(f"k={k!r} must be an integer in 1..{MAX_RECALL_K}")
        if isinstance(kinds, str):
            kinds = (kinds,)
        wanted = list(dict.fromkeys(kinds))
        unknown = [kind for kind in wanted if kind not in ITEM_KINDS]
        if unknown or not wanted:
            raise InvalidQueryError(
                f"kinds {list(kinds)!r} must be a non-empty subset of {ITEM_KINDS}"
            )
        vec = self.store.embedder.embed_one(query)
        fetch = min(k * self.settings.overfetch, MAX_K)
        s = self.settings
        now = self._trajectory_count() if s.recency_weight > 0 else 0
        out: list[RecalledItem] = []
        for kind in wanted:
            try:
                hits = self.store.search(vec, k=fetch, namespace=self.namespace, kind=kind)
            except UnknownNamespaceError:
                return []
            for hit in hits:
                if hit.similarity < s.min_similarity:
                    continue
                item = item_from_record(hit.record)
                rel = ranking.reliability(item.stats, s)
                fresh = ranking.recency(now - item.seq, s)
                out.append(
                    RecalledItem(
                        item, hit.similarity, rel, ranking.rank_score(hit.similarity, rel, s, fresh)
                    )
                )
        out.sort(key=lambda r: (-r.rank, -r.similarity, r.item.id))
        out = out[:k]
        with self._lock:
            for r in out:
                self._pending[r.item.id] = self._pending.get(r.item.id, 0) + 1
        return out

    def priors(self, recalled: Sequence[RecalledItem]) -> dict[str, float]:
        """Per-tag additive score boosts for a search generator; see :func:`ranking.priors`."""
        return ranking.priors(recalled, self.settings)

    def prompt_block(
        self, recalled: Sequence[RecalledItem], max_chars: int = DEFAULT_PROMPT_CHARS
    ) -> str:
        """Recalled items as prompt text ("Relevant past strategies: ... Pitfalls to avoid: ...").

        Raises:
            InvalidQueryError: ``max_chars`` is negative.
        """
        if max_chars < 0:
            raise InvalidQueryError(f"max_chars={max_chars} must be >= 0")
        return ranking.prompt_block(recalled, max_chars, self.settings.prompt_item_chars)

    # ------------------------------------------------------------------ feedback

    def feedback(self, item_ids: Iterable[str], success: bool) -> list[BankItem]:
        """Record that the items ``item_ids`` were used and the attempt succeeded or failed.

        Each item's ``used`` and ``successes`` or ``failures`` count grows by one and
        ``last_used`` is set; pending recall counts are written along. One store
        read and one commit, whatever the number of items.

        Returns:
            The updated items, in input order (duplicates once).

        Raises:
            UnknownItemError: an id is no strategy or pitfall of this namespace
                (nothing is written).
        """
        ids = list(dict.fromkeys([item_ids] if isinstance(item_ids, str) else item_ids))
        if any(not isinstance(i, str) or not i for i in ids):
            raise UnknownItemError(
                [repr(i) for i in ids if not isinstance(i, str) or not i], self.namespace
            )
        return self._update(ids, success=bool(success))

    def flush(self) -> int:
        """Persist pending recall counts now (one commit); return how many items changed."""
        return len(self._update([], success=False, flush_only=True))

    def _update(self, ids: list[str], *, success: bool, flush_only: bool = False) -> list[BankItem]:
        with self._lock:
            pending = dict(self._pending)
        targets = set(ids)
        fetch = ids + [i for i in pending if i not in targets]
        if not fetch:
            return []
        records = {
            r.id: r
            for r in self.store.get_many(fetch)
            if r.namespace == self.namespace and r.kind in ITEM_KINDS
        }
        missing = [i for i in ids if i not in records]
        if missing:
            raise UnknownItemError(missing, self.namespace)
        now = self._clock()
        rows: list[MemoryItem] = []
        updated: dict[str, BankItem] = {}
        for rid, record in records.items():
            item = item_from_record(record)
            st = item.stats
            stats = UsageStats(
                retrieved=st.retrieved + pending.get(rid, 0),
                used=st.used + (rid in targets),
                successes=st.successes + (rid in targets and success),
                failures=st.failures + (rid in targets and not success),
                last_used=now if rid in targets else st.last_used,
            )
            planned = _Planned(
                id=rid,
                kind=item.kind,
                primary_tag=item.primary_tag,
                vector=np.asarray(record.vector, dtype=np.float32),
                text=record.text,
                item=item,
                sources=list(item.sources),
                support=item.support,
                stats=stats,
                record=record,
                seq=item.seq,
            )
            rows.append(self._row(planned))
            updated[rid] = replace(item, stats=stats)
        if rows:
            self.store.upsert(rows)
        with self._lock:
            for rid, count in pending.items():
                left = self._pending.get(rid, 0) - count
                if left > 0:
                    self._pending[rid] = left
                else:
                    self._pending.pop(rid, None)
        if flush_only:
            return list(updated.values())
        return [updated[i] for i in ids]

    # ------------------------------------------------------------------ reads

    def get(self, item_id: str) -> BankItem | None:
        """The strategy or pitfall ``item_id`` of this namespace, or None."""
        found = [
            r
            for r in self.store.get_many([item_id])
            if r.namespace == self.namespace and r.kind in ITEM_KINDS
        ]
        return item_from_record(found[0]) if found else None

    def _all(self, kind: str) -> list[MemoryRecord]:
        """Every record of ``kind`` in the namespace (at most ``MAX_K``), via an exact scan."""
        total = self.store.count(self.namespace, kind)
        if total == 0:
            return []
        probe = np.zeros(self.store.dim, dtype=np.float32)
        probe[0] = 1.0
        hits = self.store.search(
            probe,
            k=min(total, MAX_K),
            namespace=self.namespace,
            kind=kind,
            exact=True,
            include_expired=True,
        )
        return [h.record for h in hits]

    def items(self, kind: str | None = None) -> list[BankItem]:
        """Stored items (of one kind, or both), oldest first.

        Raises:
            InvalidQueryError: ``kind`` is not ``strategy`` or ``pitfall``.
        """
        if kind is not None and kind not in ITEM_KINDS:
            raise InvalidQueryError(f"kind {kind!r} must be one of {ITEM_KINDS}")
        kinds = [kind] if kind is not None else list(ITEM_KINDS)
        out = [item_from_record(r) for k in kinds for r in self._all(k)]
        out.sort(key=lambda i: (i.created_at, i.id))
        return out

    def trajectories(self, limit: int = 100) -> list[Trajectory]:
        """Stored trajectories, most recently recorded first.

        Raises:
            InvalidQueryError: ``limit`` is not positive.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidQueryError(f"limit={limit!r} must be a positive integer")
        records = sorted(
            self._all(TRAJECTORY_KIND), key=lambda r: (r.created_at, r.id), reverse=True
        )
        out: list[Trajectory] = []
        for record in records:
            data: Any = record.metadata.get("trajectory")
            if not isinstance(data, dict):
                continue
            try:
                out.append(trajectory_from_dict(data))
            except (KeyError, ValueError, TypeError):
                continue  # not written by this bank
            if len(out) == limit:
                break
        return out

    def stats(self) -> BankStats:
        """Counts of trajectories, strategies, pitfalls and unwritten recall counts."""
        count = self.store.count
        with self._lock:
            pending = sum(self._pending.values())
        return BankStats(
            trajectories=count(self.namespace, TRAJECTORY_KIND),
            strategies=count(self.namespace, ItemKind.STRATEGY.value),
            pitfalls=count(self.namespace, ItemKind.PITFALL.value),
            pending_retrievals=pending,
        )
