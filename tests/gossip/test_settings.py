"""GossipSettings: every field described and bounded; invalid values refused."""

from __future__ import annotations

import annotated_types
import pytest
from pydantic import ValidationError

from patterns.core.exceptions import ConfigError
from patterns.gossip.settings import GossipSettings, checked


def test_every_field_is_described_and_bounded_on_both_sides() -> None:
    for name, field in GossipSettings.model_fields.items():
        assert field.description, name
        kinds = {type(m) for m in field.metadata}
        assert annotated_types.Ge in kinds or annotated_types.Gt in kinds, name
        assert annotated_types.Le in kinds or annotated_types.Lt in kinds, name


@pytest.mark.parametrize(
    "bad",
    [
        {"fanout": 0},
        {"fanout": 65},
        {"period_s": 0.0},
        {"rumor_hops": -1},
        {"probe_timeout_s": 0.3, "probe_interval_s": 0.2},
        {"view_size": -1},
        {"max_update_bytes": 10},
    ],
)
def test_invalid_values_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        GossipSettings.model_validate(bad)


def test_checked_revalidates_copies_and_maps_errors() -> None:
    assert checked(None) == GossipSettings()
    unchecked = GossipSettings().model_copy(update={"fanout": 0})  # model_copy skips validation
    with pytest.raises(ConfigError, match="fanout"):
        checked(unchecked)
    ok = GossipSettings(fanout=5, period_s=0.5)
    assert checked(ok) == ok
