"""The search candidate generator: blocks that apply, ranking, priors, spectra, no ground truth."""

from __future__ import annotations

import ast
import inspect
import random
import re
from pathlib import Path

import pytest

from patterns.codegen.humaneval import get_problem, load_problems
from patterns.codegen.records import EditFormat
from patterns.codegen.repair import operators
from patterns.codegen.repair.bugs import inject, mutants
from patterns.codegen.repair.operators import (
    SearchGenerator,
    apply_candidate,
    parse_block,
    site_features,
)
from patterns.codegen.repair.sandbox import run_tests
from patterns.codegen.repair.sites import function_edits

BLOCK = re.compile(r"\A<<<<<<< SEARCH\n(.*\n)=======\n(.*\n)>>>>>>> REPLACE\n\Z", re.S)


def test_blocks_apply_with_one_str_replace() -> None:
    generator = SearchGenerator(max_candidates=10_000)
    rng = random.Random(2)
    for problem in rng.sample(list(load_problems()), 25):
        edits = function_edits(problem.source, problem.entry_point)
        expected = {edit.apply(problem.source) for edit in edits}
        produced = set()
        for candidate in generator.candidates(problem.source, problem.entry_point):
            assert candidate.format is EditFormat.SEARCH_REPLACE
            match = BLOCK.match(candidate.edit)
            assert match, candidate.edit
            search, replace = match.groups()
            assert (search, replace) == parse_block(candidate.edit)
            assert problem.source.count(search) == 1
            result = problem.source.replace(search, replace, 1)
            assert result == apply_candidate(problem.source, candidate)
            assert result != problem.source
            produced.add(result)
        assert produced <= expected
        # merged duplicates aside, every distinct program is offered
        distinct = {ast.dump(ast.parse(p)) for p in expected}
        assert len(produced) == len(distinct)


def test_candidates_carry_operator_and_context_tags() -> None:
    problem = get_problem(0)
    candidates = SearchGenerator().candidates(problem.source, problem.entry_point)
    assert candidates
    ids = [c.id for c in candidates]
    assert len(ids) == len(set(ids))
    for candidate in candidates:
        ops = [t for t in candidate.tags if t.startswith("op:") and "@" not in t and "~" not in t]
        assert ops
        assert any(t.startswith(f"{ops[0]}@") for t in candidate.tags)
        assert any(t.startswith("ctx:") for t in candidate.tags)
        assert candidate.source == "search"
    widen = next(c for c in candidates if "op:widen-comparison" in c.tags)
    assert "op:widen-comparison@if-test" in widen.tags
    assert "delta:<-><=" in widen.tags


def test_context_of_range_and_slice_sites() -> None:
    problem = get_problem(14)  # all_prefixes: for i in range(len(string)): string[:i+1]
    tags = {
        t for c in SearchGenerator().candidates(problem.source, problem.entry_point) for t in c.tags
    }
    assert "op:range-bound-inc@for-range" in tags
    assert "op:index-bound-dec@slice" in tags


def test_ordering_is_deterministic_and_by_line_without_evidence() -> None:
    problem = get_problem(0)
    generator = SearchGenerator()
    first = generator.candidates(problem.source, problem.entry_point)
    assert first == generator.candidates(problem.source, problem.entry_point)
    assert all(c.score == 0.0 for c in first)
    lines = [int(re.search(r"@L(\d+)c", c.id).group(1)) for c in first]  # type: ignore[union-attr]
    assert lines == sorted(lines)


def test_priors_move_a_tagged_candidate_to_the_front() -> None:
    problem = get_problem(0)
    generator = SearchGenerator()
    plain = generator.candidates(problem.source, problem.entry_point)
    last = plain[-1]
    tag = next(t for t in last.tags if sum(t in c.tags for c in plain) == 1)
    boosted = generator.candidates(problem.source, problem.entry_point, priors={tag: 5.0})
    assert boosted[0].id == last.id
    assert boosted[0].score == pytest.approx(5.0)
    assert boosted[1:] == plain[:-1]  # the others keep their order
    penalised = generator.candidates(
        problem.source, problem.entry_point, priors={t: -1.0 for t in plain[0].tags}
    )
    assert penalised[0].id != plain[0].id
    demoted = next(c for c in penalised if c.id == plain[0].id)
    assert demoted.score == pytest.approx(-len(plain[0].tags))
    assert penalised.index(demoted) > 0


def test_spectrum_ranks_the_faulty_line_first() -> None:
    problem = get_problem(14)
    bug = inject(problem, 0)
    spectrum = run_tests(problem, bug.buggy_source, coverage=True)
    generator = SearchGenerator()
    ranked = generator.candidates(bug.buggy_source, problem.entry_point, spectrum=spectrum)
    assert ranked[0].description.startswith(f"line {bug.line}:")
    assert ranked[0].score == pytest.approx(1.0)
    fixes = [
        i
        for i, c in enumerate(ranked)
        if ast.dump(ast.parse(apply_candidate(bug.buggy_source, c)))
        == ast.dump(ast.parse(problem.source))
    ]
    assert fixes and fixes[0] < 3
    assert any(t.endswith(f"~{spectrum.outcome.error_type}") for t in ranked[0].tags)


def test_exact_fix_is_offered_for_seeded_bugs() -> None:
    """Over 40 seeded mutants (sites drawn uniformly), the canonical program is a candidate."""
    rng = random.Random(40)
    generator = SearchGenerator()
    pool = [p for p in load_problems() if mutants(p)]
    hits = 0
    total = 40
    for problem in rng.sample(pool, total):
        edit = rng.choice(mutants(problem))
        buggy = edit.apply(problem.source)
        reference = ast.dump(ast.parse(problem.source))
        programs = [
            ast.dump(ast.parse(apply_candidate(buggy, c)))
            for c in generator.candidates(buggy, problem.entry_point)
        ]
        hits += reference in programs
    assert hits / total >= 0.8, f"{hits}/{total}"


def test_max_candidates_cuts_the_list() -> None:
    problem = get_problem(0)
    assert (
        len(SearchGenerator(max_candidates=3).candidates(problem.source, problem.entry_point)) == 3
    )
    with pytest.raises(ValueError):
        SearchGenerator(max_candidates=0)


def test_unparseable_source_gives_no_candidates() -> None:
    assert SearchGenerator().candidates("def f(:\n", "f") == []
    assert SearchGenerator().candidates("def g():\n    return 1\n", "f") == []


def test_generator_cannot_see_ground_truth() -> None:
    parameters = set(inspect.signature(SearchGenerator.candidates).parameters)
    assert parameters == {"self", "source", "entry_point", "outcome", "spectrum", "priors"}
    for module in ("operators.py", "sites.py"):
        tree = ast.parse((Path(operators.__file__).parent / module).read_text())
        imported = {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not any(name.endswith((".bugs", ".suite", ".humaneval")) for name in imported), (
            imported
        )
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        assert not names & {"InjectedBug", "RepairTask", "truth"}


def test_site_features() -> None:
    assert site_features(get_problem(0).source, "has_close_elements") == [
        "arithmetic",
        "comparison",
        "early-return",
        "for-loop",
    ]
    features = site_features(get_problem(10).source, "make_palindrome")
    assert {"while-loop", "slicing", "helper-call", "string-ops"} <= set(features)
    assert site_features("def f(:", "f") == []


def test_spectrum_outcome_passed_as_outcome_ranks_like_a_spectrum() -> None:
    problem = get_problem(14)
    bug = inject(problem, 0)
    spectrum = run_tests(problem, bug.buggy_source, coverage=True)
    assert spectrum.spectrum is spectrum
    assert (spectrum.passed, spectrum.failed, spectrum.signature) == (
        spectrum.outcome.passed,
        spectrum.outcome.failed,
        spectrum.outcome.signature,
    )
    generator = SearchGenerator()
    via_outcome = generator.candidates(bug.buggy_source, problem.entry_point, outcome=spectrum)
    via_spectrum = generator.candidates(bug.buggy_source, problem.entry_point, spectrum=spectrum)
    assert via_outcome == via_spectrum
    assert via_outcome != generator.candidates(bug.buggy_source, problem.entry_point)
