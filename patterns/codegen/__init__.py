"""Pattern 1: self-improving code generation.

Fast deterministic edit application (:mod:`patterns.codegen.edits`), a seeded
program-repair suite on HumanEval with a sandboxed test runner
(:mod:`patterns.codegen.repair`), and a reasoning bank that distils trajectories
into memory items on the shared LanceDB store (:mod:`patterns.codegen.bank`).
"""
