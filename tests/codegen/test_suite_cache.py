"""The repair-suite build is cached on its inputs: the same call twice builds once."""

from __future__ import annotations

import uuid

from prefect import flow

from tasks.codegen import build_repair_suite


def test_the_same_suite_is_built_once_and_other_inputs_build_again() -> None:
    seed = uuid.uuid4().int % 10**9  # fresh inputs: results persist across test sessions

    @flow
    def twice() -> list[str]:
        states = [
            build_repair_suite(seed=seed, bugs_per_problem=1, problems=[2], return_state=True),
            build_repair_suite(seed=seed, bugs_per_problem=1, problems=[2], return_state=True),
            build_repair_suite(seed=seed + 1, bugs_per_problem=1, problems=[2], return_state=True),
        ]
        return [s.name for s in states]

    first, second, other = twice()
    assert first != "Cached" and second == "Cached" and other != "Cached"
