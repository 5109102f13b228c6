"""Settings groups validated again after a copy that skipped validation."""

from __future__ import annotations

import pytest

from patterns.byzantine.settings import ByzantineSettings
from patterns.byzantine.settings import checked as byzantine_checked
from patterns.core.exceptions import ConfigError
from patterns.gossip.settings import GossipSettings
from patterns.gossip.settings import checked as gossip_checked


def test_none_gives_the_defaults_and_a_valid_copy_passes_unchanged() -> None:
    assert byzantine_checked(None) == ByzantineSettings()
    copy = GossipSettings().model_copy(update={"fanout": 5})
    assert gossip_checked(copy).fanout == 5


def test_a_copy_holding_a_forbidden_value_is_refused_naming_group_and_field() -> None:
    bad = ByzantineSettings().model_copy(update={"f": -1})  # model_copy does not validate
    with pytest.raises(ConfigError, match=r"(?s)invalid byzantine settings.*\bf\b"):
        byzantine_checked(bad)
    bad_gossip = GossipSettings().model_copy(update={"fanout": 0})
    with pytest.raises(ConfigError, match=r"(?s)invalid gossip settings.*fanout"):
        gossip_checked(bad_gossip)
