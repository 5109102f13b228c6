"""Evaluation helpers for repair learning: paired significance and the memoryless baseline.

- :func:`mcnemar`: McNemar's exact test on paired pass/fail outcomes (the same tasks
  solved by two agents): only the discordant pairs count, and under the null each is
  equally likely to favour either agent, so the two-sided p-value is a binomial tail
  (McNemar 1947; the exact form as in Fagerland et al. 2013, BMC Med Res Methodol 13:91).
- :func:`frequency_prior`: the operator-frequency prior a skeptic compares a memory
  with: the share of training fixes each strategy tag took part in, the same for
  every task (no recall, no context).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from patterns.codegen.records import Trajectory


@dataclass(frozen=True, slots=True)
class McNemar:
    """McNemar's exact test of agent A against agent B on the same tasks.

    Attributes:
        a_only: tasks A solved and B did not.
        b_only: tasks B solved and A did not.
        p_value: two-sided exact p-value (1.0 when there is no discordant pair).
    """

    a_only: int
    b_only: int
    p_value: float


def binomial_two_sided(k: int, n: int) -> float:
    """Two-sided exact binomial p-value of ``k`` successes in ``n`` trials at p = 1/2."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return float(min(1.0, 2.0 * tail))


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> McNemar:
    """McNemar's exact test on paired outcomes ``a[i]``, ``b[i]`` of task ``i``.

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} and {len(b)}")
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return McNemar(a_only, b_only, binomial_two_sided(a_only, a_only + b_only))


def frequency_prior(
    trajectories: Iterable[Trajectory], prefixes: Sequence[str] = ()
) -> dict[str, float]:
    """Share of successful trajectories whose winning edit carried each tag.

    Fitted once on training trajectories and then used for every task alike (a
    memoryless prior over repair operators, their edit deltas and contexts).

    Args:
        trajectories: training trajectories (failed ones are ignored).
        prefixes: keep only tags starting with one of these (all when empty).

    Returns:
        Tag -> share in (0, 1]; empty when no trajectory succeeded.
    """
    counts: dict[str, int] = {}
    wins = 0
    for trajectory in trajectories:
        step = trajectory.winning_step
        if step is None:
            continue
        wins += 1
        for tag in dict.fromkeys(step.tags):
            if not prefixes or tag.startswith(tuple(prefixes)):
                counts[tag] = counts.get(tag, 0) + 1
    return {tag: n / wins for tag, n in sorted(counts.items())} if wins else {}
