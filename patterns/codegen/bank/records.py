"""Records of the reasoning bank: distilled items, their usage statistics, recall results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ItemKind(StrEnum):
    """What a distilled memory item teaches (also its memory-store ``kind``)."""

    STRATEGY = "strategy"  # an edit that fixed a failure: do it again
    PITFALL = "pitfall"  # an edit that did not fix it: avoid it


TRAJECTORY_KIND = "trajectory"  # memory-store kind of a stored trajectory
ITEM_KINDS = (ItemKind.STRATEGY.value, ItemKind.PITFALL.value)
UNTAGGED = "untagged"  # primary tag of an item without tags


@dataclass(frozen=True, slots=True)
class ItemContext:
    """Where an item applies: the failure it was about and the code's features.

    Attributes:
        signature: the failure signature before the edit (``AssertionError: ...``).
        features: code features (``for-range``, ``comparison``, ...).
    """

    signature: str = ""
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DistilledItem:
    """What a distiller extracts from one trajectory, before the bank stores it.

    Attributes:
        kind: strategy or pitfall.
        title: a short name.
        description: one line.
        content: the strategy or the pitfall, as a model or the rule distiller words it.
        tags: the strategy tags it is about; the first is its primary tag.
        context: the failure and features it applies to.
    """

    kind: ItemKind
    title: str
    description: str
    content: str
    tags: tuple[str, ...] = ()
    context: ItemContext = field(default_factory=ItemContext)

    @property
    def primary_tag(self) -> str:
        """The first tag, or ``untagged``: merges only join items with equal primary tags."""
        return self.tags[0] if self.tags else UNTAGGED


@dataclass(frozen=True, slots=True)
class UsageStats:
    """How an item fared when it was recalled and used.

    Attributes:
        retrieved: times recall returned it.
        used: times feedback reported on it.
        successes: feedback calls with success.
        failures: feedback calls with failure.
        last_used: time of the last feedback, or None.
    """

    retrieved: int = 0
    used: int = 0
    successes: int = 0
    failures: int = 0
    last_used: datetime | None = None

    def plus(self, other: UsageStats) -> UsageStats:
        """The sum of two items' statistics (on a merge); the later ``last_used``."""
        times = [t for t in (self.last_used, other.last_used) if t is not None]
        return UsageStats(
            retrieved=self.retrieved + other.retrieved,
            used=self.used + other.used,
            successes=self.successes + other.successes,
            failures=self.failures + other.failures,
            last_used=max(times) if times else None,
        )


@dataclass(frozen=True, slots=True)
class BankItem:
    """A stored strategy or pitfall.

    Attributes:
        id: its memory-store record id.
        kind: strategy or pitfall.
        title: a short name.
        description: one line.
        content: the strategy or the pitfall.
        tags: strategy tags; the first is the primary tag.
        context: the failure and code features it applies to.
        sources: ids of the trajectories it was distilled from (most recent last).
        support: how many distillations it stands for (1 + merges).
        stats: usage statistics.
        created_at: when it was first stored.
        seq: trajectories the bank held when the item was last supported (its recency).
    """

    id: str
    kind: ItemKind
    title: str
    description: str
    content: str
    tags: tuple[str, ...]
    context: ItemContext
    sources: tuple[str, ...]
    support: int
    stats: UsageStats
    created_at: datetime
    seq: int = 0

    @property
    def primary_tag(self) -> str:
        """The first tag, or ``untagged``."""
        return self.tags[0] if self.tags else UNTAGGED


@dataclass(frozen=True, slots=True)
class RecalledItem:
    """One recall result.

    Attributes:
        item: the item.
        similarity: cosine similarity of the item's text to the query.
        reliability: posterior mean success rate from its usage statistics.
        rank: the score recall orders by (similarity blended with reliability).
    """

    item: BankItem
    similarity: float
    reliability: float
    rank: float


@dataclass(frozen=True, slots=True)
class RecordReport:
    """What :meth:`ReasoningBank.record` wrote.

    Attributes:
        trajectory_id: the trajectory's id (its record id is ``record_id``).
        record_id: the memory-store id of the trajectory record.
        added_ids: ids of new items.
        merged_ids: ids of existing items a new distillation was merged into.
    """

    trajectory_id: str
    record_id: str
    added_ids: tuple[str, ...]
    merged_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BankStats:
    """Counts of one bank namespace.

    Attributes:
        trajectories: stored trajectories.
        strategies: stored strategy items.
        pitfalls: stored pitfall items.
        pending_retrievals: recall counts not yet persisted (written by the next feedback
            or :meth:`ReasoningBank.flush`).
    """

    trajectories: int
    strategies: int
    pitfalls: int
    pending_retrievals: int
