"""Search-based repair candidates: generic program transformations at every site, ranked.

The operators are the edits of :mod:`patterns.codegen.repair.sites` (comparison
boundary and flip, arithmetic swap, ``range``/index/slice bound ±1, and/or swap,
``not`` dropped/added, small int and bool constants, returned name swap, min/max
and ``reverse``), applied to every site of the entry-point function. They look at
the program only: the generator has no argument through which ground truth could
reach it.

Ranking score of a candidate (higher first)::

    score = ochiai(line)                           # 0 without a spectrum
          + DEFAULT_OPERATOR_PRIOR[operator]       # 0.0 for every operator
          + sum(priors.get(tag, 0.0) for tag in tags)

``ochiai(line)`` is the Ochiai suspiciousness of the edited line
(:func:`patterns.codegen.repair.sandbox.suspiciousness`). The default prior is the
same for every operator on purpose: it is a generic ordering, not fitted to any
bug distribution; learned ``priors`` (from the reasoning bank) are what moves
operators. Ties break by line, then column, then the operator's position in
:data:`patterns.codegen.repair.sites.OPERATORS`, then the replacement text, so the
order is deterministic.

Each candidate is one SEARCH/REPLACE block whose search text is the changed
line(s) plus the fewest surrounding lines that make it occur exactly once in the
file, so ``source.replace(search, replace, 1)`` gives the edited program.
Tags: ``op:<operator>``, ``op:<operator>@<context>``, ``fam:<family>``,
``ctx:<context>``, ``delta:<before>-><after>`` for operator-token swaps, and
``op:<operator>~<error type>`` when a failing outcome is given.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from patterns.codegen.records import Candidate, EditFormat, TestOutcome
from patterns.codegen.repair.sandbox import SpectrumOutcome, suspiciousness
from patterns.codegen.repair.sites import (
    OPERATORS,
    SiteEdit,
    call_name,
    find_function,
    function_edits,
)

DEFAULT_MAX_CANDIDATES = 200
DEFAULT_OPERATOR_PRIOR: Mapping[str, float] = dict.fromkeys(OPERATORS, 0.0)
SEARCH_MARK = "<<<<<<< SEARCH\n"
DIVIDER = "=======\n"
REPLACE_MARK = ">>>>>>> REPLACE\n"
_TOKEN_OPERATORS = {
    "widen-comparison",
    "narrow-comparison",
    "flip-comparison",
    "negate-comparison",
    "swap-arithmetic",
    "swap-boolean",
    "swap-min-max",
    "flip-bool",
    "flip-reverse",
}


def search_replace_block(source: str, edit: SiteEdit) -> str:
    """A SEARCH/REPLACE block for ``edit``, its search text unique in ``source``."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    first = edit.line - 1
    last = first
    while last + 1 < len(lines) and starts[last + 1] < edit.end:
        last += 1
    lo, hi = first, last
    while True:
        search = source[starts[lo] : starts[hi + 1]]
        if source.count(search) == 1 or (lo == 0 and hi == len(lines) - 1):
            break
        if lo > 0 and (hi == len(lines) - 1 or (first - lo) <= (hi - last)):
            lo -= 1
        else:
            hi += 1
    replace = source[starts[lo] : edit.start] + edit.replacement + source[edit.end : starts[hi + 1]]
    if not search.endswith("\n"):
        search += "\n"
        replace += "\n"
    return f"{SEARCH_MARK}{search}{DIVIDER}{replace}{REPLACE_MARK}"


def parse_block(edit: str) -> tuple[str, str]:
    """(search, replace) of one block made by :func:`search_replace_block`.

    Raises:
        ValueError: not such a block.
    """
    if not edit.startswith(SEARCH_MARK) or not edit.endswith(REPLACE_MARK):
        raise ValueError("not a SEARCH/REPLACE block")
    body = edit[len(SEARCH_MARK) : -len(REPLACE_MARK)]
    search, sep, replace = body.partition("\n" + DIVIDER)
    if not sep:
        raise ValueError("SEARCH/REPLACE block without a divider")
    return search + "\n", replace


def apply_candidate(source: str, candidate: Candidate) -> str:
    """Apply a search candidate with ``str.replace`` once.

    Raises:
        ValueError: the block is malformed or its search text is not unique in ``source``.
    """
    search, replace = parse_block(candidate.edit)
    count = source.count(search)
    if count != 1:
        if count == 0 and source.count(search.rstrip("\n")) == 1 and not source.endswith("\n"):
            return source.replace(search.rstrip("\n"), replace.rstrip("\n"), 1)
        raise ValueError(f"search text occurs {count} times")
    return source.replace(search, replace, 1)


@dataclass(frozen=True, slots=True)
class _Ranked:
    score: float
    edit: SiteEdit
    tags: tuple[str, ...]


def candidate_tags(edit: SiteEdit, outcome: TestOutcome | None = None) -> tuple[str, ...]:
    """The strategy tags of one edit (see the module docstring)."""
    tags = [
        f"op:{edit.operator}",
        f"op:{edit.operator}@{edit.context}",
        f"fam:{edit.family}",
        f"ctx:{edit.context}",
    ]
    if edit.operator in _TOKEN_OPERATORS:
        tags.append(f"delta:{' '.join(edit.before.split())}->{edit.replacement}")
    if outcome is not None and not outcome.passed and outcome.error_type:
        tags.append(f"op:{edit.operator}~{outcome.error_type}")
    return tuple(tags)


class SearchGenerator:
    """Enumerates and ranks single-edit repairs of one function (no model, no ground truth)."""

    def __init__(self, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        """Args:
        max_candidates: the ranked list is cut to this length.
        """
        if max_candidates < 1:
            raise ValueError("max_candidates must be at least 1")
        self.max_candidates = max_candidates

    def candidates(
        self,
        source: str,
        entry_point: str,
        *,
        outcome: TestOutcome | SpectrumOutcome | None = None,
        spectrum: SpectrumOutcome | None = None,
        priors: Mapping[str, float] | None = None,
    ) -> list[Candidate]:
        """Ranked repair candidates for ``entry_point`` in ``source``, best first.

        Args:
            source: the whole (buggy) module.
            entry_point: the function to repair.
            outcome: the failing test outcome (adds ``op:<operator>~<error>`` tags); a
                :class:`SpectrumOutcome` here also serves as ``spectrum``.
            spectrum: a coverage run of the buggy program; its Ochiai scores rank lines.
            priors: additive score boosts per tag, learned from past trajectories.

        Returns:
            At most ``max_candidates`` candidates; several edits giving the same program
            are merged into one (tags united). Empty when the source does not parse.
        """
        if isinstance(outcome, SpectrumOutcome):
            spectrum = spectrum or outcome
            outcome = outcome.outcome
        if outcome is None and spectrum is not None:
            outcome = spectrum.outcome
        line_scores = suspiciousness(spectrum) if spectrum is not None else {}
        boosts = priors or {}
        merged: dict[str, tuple[SiteEdit, list[str]]] = {}
        for edit in function_edits(source, entry_point):
            program = ast.dump(ast.parse(edit.apply(source)))
            tags = candidate_tags(edit, outcome)
            if program in merged:
                kept = merged[program][1]
                kept.extend(t for t in tags if t not in kept)
            else:
                merged[program] = (edit, list(tags))
        ranked = [
            _Ranked(
                score=line_scores.get(edit.line, 0.0)
                + DEFAULT_OPERATOR_PRIOR.get(edit.operator, 0.0)
                + sum(boosts.get(tag, 0.0) for tag in tags),
                edit=edit,
                tags=tuple(tags),
            )
            for edit, tags in merged.values()
        ]
        ranked.sort(
            key=lambda r: (
                -r.score,
                r.edit.line,
                r.edit.col,
                OPERATORS.index(r.edit.operator),
                r.edit.replacement,
            )
        )
        used: dict[str, int] = {}
        result: list[Candidate] = []
        for item in ranked[: self.max_candidates]:
            base = f"{item.edit.operator}@L{item.edit.line}c{item.edit.col}"
            used[base] = used.get(base, 0) + 1
            result.append(
                Candidate(
                    id=base if used[base] == 1 else f"{base}#{used[base]}",
                    edit=search_replace_block(source, item.edit),
                    format=EditFormat.SEARCH_REPLACE,
                    tags=item.tags,
                    description=item.edit.description,
                    score=item.score,
                    source="search",
                )
            )
        return result


_STRING_METHODS = {
    "split",
    "join",
    "lower",
    "upper",
    "strip",
    "replace",
    "startswith",
    "endswith",
    "isdigit",
    "isalpha",
    "isupper",
    "islower",
    "find",
    "count",
    "swapcase",
    "ord",
    "chr",
}


def site_features(source: str, entry_point: str) -> list[str]:
    """A few retrieval keywords about the entry-point function (sorted, deduplicated).

    E.g. ``for-loop``, ``while-loop``, ``range``, ``indexing``, ``slicing``,
    ``comparison``, ``boolean-logic``, ``arithmetic``, ``modulo``, ``recursion``,
    ``string-ops``, ``comprehension``, ``sorting``, ``min-max``, ``dict``, ``set``,
    ``early-return``, ``helper-call``. Empty when the source does not parse.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    func = find_function(tree, entry_point)
    if func is None:
        return []
    module_functions = {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    features: set[str] = set()
    returns = 0
    body = [n for stmt in func.body for n in ast.walk(stmt)]  # not the signature's annotations
    for node in body:
        if isinstance(node, ast.For | ast.AsyncFor):
            features.add("for-loop")
        elif isinstance(node, ast.While):
            features.add("while-loop")
        elif isinstance(node, ast.Subscript):
            features.add("slicing" if isinstance(node.slice, ast.Slice) else "indexing")
        elif isinstance(node, ast.Compare):
            features.add("comparison")
        elif isinstance(node, ast.BoolOp) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            features.add("boolean-logic")
        elif isinstance(node, ast.BinOp | ast.AugAssign):
            features.add("modulo" if isinstance(node.op, ast.Mod) else "arithmetic")
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            features.add("comprehension")
        elif isinstance(node, ast.Dict):
            features.add("dict")
        elif isinstance(node, ast.Set):
            features.add("set")
        elif isinstance(node, ast.Return):
            returns += 1
        elif isinstance(node, ast.Call):
            name = call_name(node) or ""
            if name == entry_point:
                features.add("recursion")
            elif name in module_functions:
                features.add("helper-call")
            if name == "range":
                features.add("range")
            elif name in ("sorted", "sort"):
                features.add("sorting")
            elif name in ("min", "max"):
                features.add("min-max")
            elif name in ("dict", "Counter", "defaultdict"):
                features.add("dict")
            elif name == "set":
                features.add("set")
            elif name in _STRING_METHODS:
                features.add("string-ops")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node is not _docstring(func)
        ):
            features.add("string-ops")
    if returns > 1:
        features.add("early-return")
    return sorted(features)


def _docstring(func: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST | None:
    first = func.body[0] if func.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.value
    return None
