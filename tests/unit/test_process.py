"""The collector settings of serving processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from patterns.core.process import SERVING_GC_THRESHOLD, tune_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_serving_processes_freeze_start_up_and_collect_less_often() -> None:
    built_at_start_up = [[i] for i in range(100)]
    tune_for_serving()
    assert gc.get_threshold() == SERVING_GC_THRESHOLD
    assert SERVING_GC_THRESHOLD[0] > 700  # CPython's default
    assert gc.get_freeze_count() >= len(built_at_start_up)
