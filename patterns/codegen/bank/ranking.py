"""Ranking of recalled items, per-tag priors for a search generator, and the prompt block.

Pure functions of items and settings; no store access.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from patterns.codegen.bank.records import ItemKind, RecalledItem, UsageStats
from patterns.codegen.bank.settings import BankSettings

STRATEGIES_HEADER = "Relevant past strategies:"
PITFALLS_HEADER = "Pitfalls to avoid:"
ELLIPSIS = "…"
MIN_LINE_CHARS = 40  # a cut item line shorter than this is left out instead


def reliability(stats: UsageStats, settings: BankSettings) -> float:
    """Posterior mean success rate of an item under a Beta(alpha, beta) prior.

    ``(successes + alpha) / (successes + failures + alpha + beta)``: 0.5 for an
    unused item under the default Beta(1, 1), falling towards 0 as failures pile up.
    """
    a, b = settings.prior_successes, settings.prior_failures
    return (stats.successes + a) / (stats.successes + stats.failures + a + b)


def recency(age: int, settings: BankSettings) -> float:
    """``0.5 ** (age / recency_half_life)``: 1 for an item the latest trajectory supported."""
    return float(0.5 ** (max(age, 0) / settings.recency_half_life))


def rank_score(
    similarity: float, reliability_: float, settings: BankSettings, recency_: float = 1.0
) -> float:
    """``(1 - w - r) * similarity + w * reliability + r * recency``.

    ``w = settings.reliability_weight`` (usefulness from feedback), ``r =
    settings.recency_weight``; with ``r = 0`` this is the similarity/reliability blend.
    """
    w, r = settings.reliability_weight, settings.recency_weight
    return (1.0 - w - r) * similarity + w * reliability_ + r * recency_


def priors(recalled: Sequence[RecalledItem], settings: BankSettings) -> dict[str, float]:
    """Additive score boosts per strategy tag, for a search-based candidate generator.

    Every recalled item votes on each of its tags with weight ``max(rank, 0)``:
    ``+`` for a strategy, ``-`` for a pitfall. A tag's boost is
    ``cap * tanh(sum of its votes)``, so it keeps its sign, grows with more and
    better-ranked evidence, and stays strictly inside ``(-cap, cap)``
    (``cap = settings.prior_cap``). Tags whose votes cancel exactly are left out.

    Returns:
        Boost per tag.
    """
    if settings.prior_mode == "share":
        return share_priors(recalled, settings)
    raw: dict[str, float] = {}
    for r in recalled:
        sign = 1.0 if r.item.kind is ItemKind.STRATEGY else -1.0
        weight = max(r.rank, 0.0)
        for tag in dict.fromkeys(r.item.tags):
            raw[tag] = raw.get(tag, 0.0) + sign * weight
    cap = settings.prior_cap
    return {tag: cap * math.tanh(v) for tag, v in raw.items() if v != 0.0}


def share_priors(recalled: Sequence[RecalledItem], settings: BankSettings) -> dict[str, float]:
    """Tag boosts as shares of the recalled evidence (``prior_mode="share"``).

    Each item carries evidence ``e = max(rank, 0) * support`` (support: how many
    trajectories were merged into it). A tag's boost is
    ``cap * (E_strategy(tag) - pitfall_weight * E_pitfall(tag)) / E_total`` where the
    sums run over the items holding the tag and ``E_total`` over every recalled item
    (pitfalls counted with their weight). Boosts keep the relative frequency of what
    worked in similar past tasks, and lie in ``[-cap, cap]``.
    """
    pos: dict[str, float] = {}
    neg: dict[str, float] = {}
    total = 0.0
    for r in recalled:
        evidence = max(r.rank, 0.0) * max(r.item.support, 1)
        if r.item.kind is ItemKind.STRATEGY:
            bucket = pos
        else:
            bucket = neg
            evidence *= settings.pitfall_weight
        total += evidence
        for tag in dict.fromkeys(r.item.tags):
            bucket[tag] = bucket.get(tag, 0.0) + evidence
    if total <= 0.0:
        return {}
    cap = settings.prior_cap
    out: dict[str, float] = {}
    for tag in pos.keys() | neg.keys():
        net = pos.get(tag, 0.0) - neg.get(tag, 0.0)
        if net != 0.0:
            out[tag] = cap * net / total
    return out


def _line(r: RecalledItem, limit: int) -> str:
    item = r.item
    body = item.content if item.content else item.description
    text = f"- {item.title}: {body}".replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return text


def prompt_block(recalled: Sequence[RecalledItem], max_chars: int, item_chars: int) -> str:
    """A compact text block of recalled items for a model prompt.

    Strategies come first, then pitfalls, each section best-ranked first; items that
    would push the block past ``max_chars`` are left out (a section header is only
    written with at least one item under it). Each item line is cut to ``item_chars``.

    Returns:
        The block, at most ``max_chars`` characters; empty when nothing fits.
    """
    ordered = sorted(recalled, key=lambda r: -r.rank)
    lines: list[str] = []
    used = 0
    for kind, header in (
        (ItemKind.STRATEGY, STRATEGIES_HEADER),
        (ItemKind.PITFALL, PITFALLS_HEADER),
    ):
        section = [r for r in ordered if r.item.kind is kind]
        wrote_header = False
        for r in section:
            line = _line(r, item_chars)
            cost = len(line) + 1 + (0 if wrote_header else len(header) + 1)
            if used + cost - 1 > max_chars:  # -1: the block has no trailing newline
                room = max_chars - used - (0 if wrote_header else len(header) + 1)
                if room < MIN_LINE_CHARS:  # too little left for a readable line
                    continue
                line = _line(r, room)
                cost = len(line) + 1 + (0 if wrote_header else len(header) + 1)
            if not wrote_header:
                lines.append(header)
                wrote_header = True
            lines.append(line)
            used += cost
    return "\n".join(lines)
