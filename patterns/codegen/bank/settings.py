"""Settings of the reasoning bank: merge threshold, ranking weights, prior bounds (pydantic only)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BankSettings(BaseModel):
    """How the reasoning bank merges, ranks and turns memories into priors.

    Ranking (see :mod:`patterns.codegen.bank.ranking`): an item's reliability is the
    posterior mean of a Beta(``prior_successes``, ``prior_failures``) prior updated by
    its feedback, and its rank is
    ``(1 - reliability_weight) * similarity + reliability_weight * reliability``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    merge_threshold: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="Cosine similarity from which a new distilled item is merged into an "
        "existing item of the same kind and primary tag instead of being inserted.",
    )
    merge_candidates: int = Field(
        5, ge=1, le=100, description="Nearest existing items checked for a merge per new item."
    )
    reliability_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of an item's rank that comes from its reliability instead of "
        "its similarity to the query.",
    )
    prior_successes: float = Field(
        1.0, gt=0, le=100, description="Beta prior pseudo-count of successes (alpha)."
    )
    prior_failures: float = Field(
        1.0, gt=0, le=100, description="Beta prior pseudo-count of failures (beta)."
    )
    min_similarity: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="Items less similar to the query than this are never recalled.",
    )
    overfetch: int = Field(
        3,
        ge=1,
        le=50,
        description="Recall fetches k * overfetch nearest items per kind, so reliability "
        "can re-rank items just past the top k by similarity.",
    )
    prior_cap: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Bound of the per-tag score boosts of priors(): every boost lies in "
        "(-prior_cap, prior_cap).",
    )
    prior_mode: Literal["share", "tanh"] = Field(
        "share",
        description="How priors() turns recalled items into tag boosts: 'share' gives each "
        "tag its share of the recalled evidence (strategies minus pitfalls, weighted by rank "
        "and support), so frequencies survive; 'tanh' squashes each tag's summed votes.",
    )
    pitfall_weight: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="Weight of a pitfall's evidence against a strategy's in 'share' priors.",
    )
    max_sources: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Source trajectory ids kept per item (the most recent on a merge).",
    )
    success_only: bool = Field(
        False,
        description="Learn from successes only: distil only successful trajectories into "
        "strategy items; failed trajectories are stored, not distilled, and no pitfall is "
        "kept (not even from a successful trajectory's failed steps). The benchmark "
        "compares both.",
    )
    trajectory_text_chars: int = Field(
        2000, ge=100, le=100_000, description="Longest searchable text of a trajectory record."
    )
    content_chars: int = Field(
        2000, ge=50, le=100_000, description="Longest content of one distilled item."
    )
    prompt_item_chars: int = Field(
        300, ge=40, le=10_000, description="Longest line one item takes in a prompt block."
    )
    embed: Literal["item", "context"] = Field(
        "item",
        description="What an item's vector embeds: 'item' its whole text (title, content, "
        "context, tags); 'context' only the context it applies to (failure signature and "
        "features, e.g. the repair agent's failure-shape and code tokens), so recall ranks "
        "by similarity of situations, not of wording. Items without features embed their text.",
    )
    recency_weight: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of an item's rank that comes from its recency: 1 for an item "
        "supported by the latest trajectory, halving every recency_half_life trajectories.",
    )
    recency_half_life: int = Field(
        200,
        ge=1,
        le=1_000_000,
        description="Trajectories recorded after an item's last support that halve its recency.",
    )

    @model_validator(mode="after")
    def _weights_fit(self) -> BankSettings:
        if self.reliability_weight + self.recency_weight > 1.0:
            raise ValueError(
                f"reliability_weight ({self.reliability_weight}) + recency_weight "
                f"({self.recency_weight}) must not exceed 1"
            )
        return self


def repair_bank_settings(**overrides: object) -> BankSettings:
    """The bank settings the repair agent is benchmarked with: context embedding, recency.

    Items embed the failure context (:mod:`patterns.codegen.repair.context`), and
    a fifth of an item's rank is its recency, so a growing bank keeps recalling
    what recent, similar trajectories taught. ``overrides`` replace single fields.
    """
    base: dict[str, object] = {
        "embed": "context",
        "recency_weight": REPAIR_RECENCY_WEIGHT,
        "reliability_weight": REPAIR_RELIABILITY_WEIGHT,
    }
    return BankSettings.model_validate({**base, **overrides})


REPAIR_RECENCY_WEIGHT = 0.1
REPAIR_RELIABILITY_WEIGHT = 0.2
