"""The retrieval context of a failing program: what failed, how, and in what code.

A repair agent recalls memories by the similarity of this context, so it must carry
what a memoryless prior over edit operators cannot know about the task at hand:

- ``err:<type>`` and ``fail:all|most|some``: the first failure's exception type and
  the share of assertions that failed;
- ``shape:<token>``: how the failing assertions failed, from the sandbox
  (``shape:num:off-by-one``, ``shape:seq:reversed``, ``shape:bool:inverted``,
  ``shape:raised:IndexError``...; see :class:`~patterns.codegen.records.TestOutcome`);
- ``msg:<words>``: an exception's message with its literals removed (never an
  assertion's text, which only names the problem's own test);
- ``tb:<kind>`` and ``tb:nested``: the statement kind at the program's innermost
  traceback line, and whether several of its frames were on the stack;
- ``hot:<kind>``: the syntax on the lines fault localization finds most suspicious
  (comparison operators, arithmetic, ``range``, subscripts, ``not``...);
- ``code:<feature>``: features of the whole function
  (:func:`~patterns.codegen.repair.operators.site_features`).

Pure functions of the program and its test outcome; nothing here reads ground truth.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from patterns.codegen.records import TestOutcome
from patterns.codegen.repair.sandbox import SpectrumOutcome, suspiciousness
from patterns.codegen.repair.sites import call_name, find_function

MAX_SHAPES = 4  # shape tokens kept in a context
MESSAGE_WORDS = 8  # words of an exception message kept
HOT_LINES = 2  # most suspicious lines whose syntax is described
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?")

_CMP = {
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.In: "in",
    ast.NotIn: "not-in",
    ast.Is: "is",
    ast.IsNot: "is-not",
}


def _failed_share(outcome: TestOutcome) -> str:
    if outcome.total == 0:
        return "fail:load"
    share = outcome.failed / outcome.total
    return "fail:all" if share >= 1.0 else "fail:most" if share > 0.5 else "fail:some"


def _message_words(outcome: TestOutcome) -> str | None:
    if not outcome.error_type or outcome.error_type == "AssertionError":
        return None
    words = _LITERAL.sub(" ", outcome.error_message).lower().split()
    words = [w.strip(".,:;()[]") for w in words[:MESSAGE_WORDS]]
    text = "-".join(w for w in words if w)
    return f"msg:{text}" if text else None


def node_kinds(node: ast.AST) -> set[str]:
    """Syntax kinds of one node (not its children): ``cmp:lt``, ``arith:add``, ``call:range``..."""
    kinds: set[str] = set()
    if isinstance(node, ast.Compare):
        kinds.update(f"cmp:{_CMP.get(type(op), 'other')}" for op in node.ops)
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        kinds.add(f"arith:{type(node.op).__name__.lower()}")
    elif isinstance(node, ast.BoolOp):
        kinds.add(f"bool:{type(node.op).__name__.lower()}")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        kinds.add("not")
    elif isinstance(node, ast.Subscript):
        kinds.add("slice" if isinstance(node.slice, ast.Slice) else "index")
    elif isinstance(node, ast.Call):
        name = call_name(node) or ""
        if name in ("range", "len", "min", "max", "sorted", "sort", "abs", "sum"):
            kinds.add(f"call:{name}")
    elif isinstance(node, ast.Return):
        kinds.add("return")
    elif isinstance(node, ast.Constant) and type(node.value) in (int, bool):
        kinds.add("const")
    elif isinstance(node, ast.For | ast.While | ast.If | ast.IfExp):
        kinds.add(type(node).__name__.lower())
    return kinds


def _line_kinds(func: ast.AST, lines: set[int]) -> set[str]:
    kinds: set[str] = set()
    for node in ast.walk(func):
        line = getattr(node, "lineno", None)
        if line in lines and not isinstance(node, ast.FunctionDef):
            kinds |= node_kinds(node)
    return kinds


def _statement_kind(func: ast.AST, line: int) -> str | None:
    best: ast.stmt | None = None
    for node in ast.walk(func):
        if (
            isinstance(node, ast.stmt)
            and not isinstance(node, ast.FunctionDef)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
            and (best is None or node.lineno >= best.lineno)
        ):
            best = node
    return type(best).__name__.lower() if best is not None else None


def failure_context(
    source: str,
    entry_point: str,
    outcome: TestOutcome,
    spectrum: SpectrumOutcome | None = None,
    features: Sequence[str] = (),
) -> tuple[str, ...]:
    """The context tokens of a failing program (see the module docstring), in a fixed order.

    Args:
        source: the program.
        entry_point: the function under repair.
        outcome: its failing test outcome.
        spectrum: a coverage run of it, for the ``hot:`` tokens.
        features: its :func:`site_features` (``code:`` tokens).
    """
    tokens = [f"err:{outcome.error_type or 'none'}", _failed_share(outcome)]
    tokens += [f"shape:{s}" for s in outcome.shapes[:MAX_SHAPES]]
    message = _message_words(outcome)
    if message:
        tokens.append(message)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    func = find_function(tree, entry_point) if tree is not None else None
    if func is not None:
        if outcome.fault_line:
            kind = _statement_kind(func, outcome.fault_line)
            if kind:
                tokens.append(f"tb:{kind}")
        if outcome.fault_depth > 1:
            tokens.append("tb:nested")
        if spectrum is not None:
            scores = suspiciousness(spectrum)
            top = sorted((s for s in set(scores.values()) if s > 0), reverse=True)[:1]
            hot = {line for line, s in scores.items() if top and s >= top[0]}
            if hot and len(hot) <= HOT_LINES * 4:
                tokens += [f"hot:{k}" for k in sorted(_line_kinds(func, hot))]
    tokens += [f"code:{f}" for f in features]
    return tuple(dict.fromkeys(tokens))


def context_query(tokens: Sequence[str]) -> str:
    """The recall text of a context: its tokens, space-separated."""
    return " ".join(tokens)
