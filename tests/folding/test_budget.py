"""Run parameters: the swarm never spends more than its budget; a bad seed or liar count is named."""

from __future__ import annotations

import pytest

from apps.folding.exceptions import FoldingConfigError
from apps.folding.sequence import parse_sequence
from apps.folding.settings import FoldingSettings
from apps.folding.swarm import fold, lie_mix

CHAIN = parse_sequence("HPPHHPPHPH", name="t")


@pytest.mark.parametrize(("agents", "epochs"), [(1, 8), (4, 1000)])
def test_a_budget_below_one_round_per_agent_and_epoch_is_refused(agents: int, epochs: int) -> None:
    # each agent runs whole exchange rounds (temperatures x steps_per_exchange moves), so a
    # smaller budget used to be overspent (4 agents x 1000 epochs spent 12M moves of 2000)
    s = FoldingSettings(agents=agents, epochs=epochs, temperatures=6, budget_moves=2000)
    least = agents * epochs * 6 * s.steps_per_exchange
    with pytest.raises(FoldingConfigError, match=rf"budget_moves=2,000 .* = {least:,} moves"):
        fold(CHAIN, s, isolation="task")


def test_the_smallest_budget_that_works_is_not_exceeded() -> None:
    least = 2 * 2 * 2 * 500  # agents x epochs x temperatures x steps_per_exchange
    s = FoldingSettings(
        agents=2, epochs=2, temperatures=2, steps_per_exchange=500, budget_moves=least
    )
    r = fold(CHAIN, s, isolation="task")
    assert 0 < r.moves <= s.budget_moves


def test_bad_seed_and_liar_count_are_named() -> None:
    s = FoldingSettings(agents=1, epochs=1, budget_moves=100_000)
    with pytest.raises(FoldingConfigError, match=r"seed=-1 must be in 0\.\.2\*\*63-1"):
        fold(CHAIN, s, seed=-1, isolation="task")
    with pytest.raises(FoldingConfigError, match="byzantine=-2"):
        lie_mix(-2)
