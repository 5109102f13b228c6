"""Program repair on HumanEval: seeded verified bugs, a sandboxed test runner, search candidates.

- :mod:`~patterns.codegen.repair.sites`: the edit sites of a function (shared engine).
- :mod:`~patterns.codegen.repair.bugs`: seeded bug injection, verified in the sandbox.
- :mod:`~patterns.codegen.repair.sandbox`: run a program against a problem's tests.
- :mod:`~patterns.codegen.repair.suite`: the train / held-out repair suite.
- :mod:`~patterns.codegen.repair.operators`: the ranked search-based candidate generator.
"""

from __future__ import annotations

from patterns.codegen.repair.bugs import InjectedBug, inject, mutants
from patterns.codegen.repair.exceptions import NoMutantError
from patterns.codegen.repair.operators import (
    DEFAULT_OPERATOR_PRIOR,
    SearchGenerator,
    apply_candidate,
    site_features,
)
from patterns.codegen.repair.sandbox import (
    AssertionRecord,
    SpectrumOutcome,
    arun_tests,
    run_tests,
    suspiciousness,
)
from patterns.codegen.repair.sites import FAMILIES, OPERATORS, SiteEdit, function_edits
from patterns.codegen.repair.suite import (
    RepairSuite,
    RepairTask,
    abuild_suite,
    build_suite,
    sample_problems,
)

__all__ = [
    "DEFAULT_OPERATOR_PRIOR",
    "FAMILIES",
    "OPERATORS",
    "AssertionRecord",
    "InjectedBug",
    "NoMutantError",
    "RepairSuite",
    "RepairTask",
    "SearchGenerator",
    "SiteEdit",
    "SpectrumOutcome",
    "abuild_suite",
    "apply_candidate",
    "arun_tests",
    "build_suite",
    "function_edits",
    "inject",
    "mutants",
    "run_tests",
    "sample_problems",
    "site_features",
    "suspiciousness",
]
