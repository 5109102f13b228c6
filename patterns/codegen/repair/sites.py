"""Syntactic edit sites of one function: the mutation engine shared by bug injection and repair.

Every edit is a text splice ``source[start:end] -> replacement`` located with ``ast``
positions (UTF-8 byte columns converted to characters) and, for operators that
``ast`` does not locate, a regular expression over the gap between two operands.
Only the splice changes; every other character of the file, its formatting and
comments included, stays as it was (``ast.unparse`` is never used on the file).

Each operator's relation is symmetric (``<`` -> ``<=`` and ``<=`` -> ``<``, ``x`` ->
``x + 1`` and ``x + 1`` -> ``x`` ...), so the set of edits is closed under inversion:
whatever one edit breaks, another edit on the broken program restores exactly.

=====================  ================================  ==========================================
family                 operators                         edit
=====================  ================================  ==========================================
comparison-boundary    widen-comparison,                 ``<`` <-> ``<=``, ``>`` <-> ``>=``
                       narrow-comparison
comparison-flip        flip-comparison,                  ``<`` <-> ``>``, ``<=`` <-> ``>=``;
                       negate-comparison                 ``==`` <-> ``!=``, ``in`` <-> ``not in``,
                                                         ``is`` <-> ``is not``
arithmetic             swap-arithmetic                   ``+`` <-> ``-``, ``*`` <-> ``//``,
                                                         ``/`` <-> ``//``, ``%`` <-> ``//`` (also in
                                                         ``+=``-style augmented assignments)
range-bound            range-bound-inc, range-bound-dec  start / stop of ``range(...)``: ``n`` ->
                                                         ``n±1``, ``e`` -> ``e + 1`` / ``e - 1``,
                                                         ``e ± 1`` -> ``e``
index-bound            index-bound-inc, index-bound-dec  subscript index or slice bound, as above
boolean-op             swap-boolean                      ``and`` <-> ``or``
negation               drop-not, add-not                 ``not e`` -> ``e``; ``if e`` ->
                                                         ``if not e`` (if / while / ternary /
                                                         comprehension tests, and/or operands)
constant               const-inc, const-dec, flip-bool   int literal ``n`` -> ``n±1`` (|n| <= 1000,
                                                         so 0 <-> 1), ``True`` <-> ``False``
return-value           swap-return                       ``return x`` -> ``return y`` for another
                                                         local name ``y`` of the function
min-max                swap-min-max, flip-reverse,       ``min`` <-> ``max``; ``reverse=True`` <->
                       add-reverse, drop-reverse         ``False``; ``sorted(x)`` <->
                                                         ``sorted(x, reverse=True)``, ``.sort()``
=====================  ================================  ==========================================

Sites are searched in the body of the entry-point function only (its docstring, its
signature and the rest of the module are never touched), skipping f-strings.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

FAMILIES: tuple[str, ...] = (
    "comparison-boundary",
    "comparison-flip",
    "arithmetic",
    "range-bound",
    "index-bound",
    "boolean-op",
    "negation",
    "constant",
    "return-value",
    "min-max",
)

OPERATORS: tuple[str, ...] = (
    "widen-comparison",
    "narrow-comparison",
    "flip-comparison",
    "negate-comparison",
    "swap-arithmetic",
    "range-bound-inc",
    "range-bound-dec",
    "index-bound-inc",
    "index-bound-dec",
    "swap-boolean",
    "drop-not",
    "add-not",
    "const-inc",
    "const-dec",
    "flip-bool",
    "swap-return",
    "swap-min-max",
    "flip-reverse",
    "add-reverse",
    "drop-reverse",
)

MAX_CONSTANT = 1000  # |n| above which int literals are not mutated
MAX_RETURN_SWAPS = 10  # other local names tried per ``return name``

# (replacement, family, operator) per comparison operator text
_COMPARE_SWAPS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "<": (
        ("<=", "comparison-boundary", "widen-comparison"),
        (">", "comparison-flip", "flip-comparison"),
    ),
    "<=": (
        ("<", "comparison-boundary", "narrow-comparison"),
        (">=", "comparison-flip", "flip-comparison"),
    ),
    ">": (
        (">=", "comparison-boundary", "widen-comparison"),
        ("<", "comparison-flip", "flip-comparison"),
    ),
    ">=": (
        (">", "comparison-boundary", "narrow-comparison"),
        ("<=", "comparison-flip", "flip-comparison"),
    ),
    "==": (("!=", "comparison-flip", "negate-comparison"),),
    "!=": (("==", "comparison-flip", "negate-comparison"),),
    "in": (("not in", "comparison-flip", "negate-comparison"),),
    "not in": (("in", "comparison-flip", "negate-comparison"),),
    "is": (("is not", "comparison-flip", "negate-comparison"),),
    "is not": (("is", "comparison-flip", "negate-comparison"),),
}
_COMPARE_RE = re.compile(r"not\s+in\b|is\s+not\b|<=|>=|==|!=|<|>|\bin\b|\bis\b")

_ARITH_SWAPS: dict[str, tuple[str, ...]] = {
    "+": ("-",),
    "-": ("+",),
    "*": ("//",),
    "//": ("*", "/", "%"),
    "/": ("//",),
    "%": ("//",),
}
_ARITH_TYPES: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Div: "/",
    ast.Mod: "%",
}
_BINOP_RE = re.compile(r"\*\*|//|<<|>>|[-+*/%@&|^]")
_AUGOP_RE = re.compile(r"(\*\*|//|<<|>>|[-+*/%@&|^])=")
_BOOL_RE = re.compile(r"\b(and|or)\b")

# expressions that need parentheses before ``+ 1`` or after ``not``
_LOW_PRECEDENCE = (ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Compare, ast.UnaryOp)
_NOT_NEEDS_PARENS = (ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr)
_ADDITIVE_OR_TIGHTER = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.MatMult,
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True, slots=True)
class SiteEdit:
    """One splice of the source at one syntactic site.

    Attributes:
        family: the bug family the edit belongs to (see the module table).
        operator: the finer transformation (``widen-comparison``...).
        start: character offset where the replaced text starts.
        end: character offset where it ends (``start == end``: an insertion).
        replacement: the new text.
        before: the replaced text (``source[start:end]``).
        line: 1-based line of ``start``.
        col: 0-based character column of ``start``.
        context: the syntactic context of the site (``for-range``, ``if-test``, ``return``...).
    """

    family: str
    operator: str
    start: int
    end: int
    replacement: str
    before: str
    line: int
    col: int
    context: str

    def apply(self, source: str) -> str:
        """The source with this edit made."""
        return source[: self.start] + self.replacement + source[self.end :]

    @property
    def description(self) -> str:
        """One human line: ``line 12: `<` -> `<=```."""
        return f"line {self.line}: `{_short(self.before)}` -> `{_short(self.replacement)}`"


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The top-level function ``name`` of a module (the last definition wins, as at runtime)."""
    found: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            found = node
    return found


def body_statements(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The function's body without its docstring."""
    body = list(func.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return body


class _Text:
    """Offsets of a source text: ``ast`` (line, byte column) -> character offset."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line)
        self.starts.append(pos)

    def offset(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:byte_col].decode(errors="replace"))

    def start_of(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end_of(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        return self.source[self.start_of(node) : self.end_of(node)]

    def line_col(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.lines) - 1
        while lo < hi:  # last line start <= offset
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo]


class _Finder:
    """Walks one function body and yields its edits."""

    def __init__(
        self, source: str, tree: ast.Module, func: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        self.text = _Text(source)
        self.func = func
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(func):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.body = body_statements(func)
        self.skip_constants: set[ast.AST] = set()
        self.local_names = self._local_names()

    # -- helpers ---------------------------------------------------------------

    def _local_names(self) -> list[str]:
        names: list[str] = []
        args = self.func.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            names.append(arg.arg)
        if args.vararg:
            names.append(args.vararg.arg)
        if args.kwarg:
            names.append(args.kwarg.arg)
        for stmt in self.body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.append(node.id)
        return list(dict.fromkeys(names))

    def _make(
        self, family: str, operator: str, start: int, end: int, replacement: str, context: str
    ) -> SiteEdit:
        line, col = self.text.line_col(start)
        return SiteEdit(
            family=family,
            operator=operator,
            start=start,
            end=end,
            replacement=replacement,
            before=self.text.source[start:end],
            line=line,
            col=col,
            context=context,
        )

    def _gap(self, left: ast.AST, right: ast.AST) -> tuple[int, str]:
        start = self.text.end_of(left)
        return start, self.text.source[start : self.text.start_of(right)]

    def _in_fstring(self, node: ast.AST) -> bool:
        cur: ast.AST | None = node
        while cur is not None and cur is not self.func:
            if isinstance(cur, ast.JoinedStr):
                return True
            cur = self.parents.get(cur)
        return False

    def context(self, node: ast.AST) -> str:
        """The innermost structural context of ``node``, else its statement's role."""
        child: ast.AST = node
        cur = self.parents.get(node)
        while cur is not None:
            if isinstance(cur, ast.comprehension) and child in cur.ifs:
                return "comp-filter"
            if isinstance(cur, _COMPREHENSIONS):
                return "comprehension"
            if isinstance(cur, ast.Lambda):
                return "lambda"
            if isinstance(cur, ast.IfExp) and child is cur.test:
                return "ifexp-test"
            if isinstance(cur, ast.Subscript) and child is cur.slice:
                return "slice" if isinstance(child, ast.Slice) else "index"
            if isinstance(cur, ast.Slice):
                return "slice"
            if isinstance(cur, ast.Call) and call_name(cur) == "range":
                return "for-range" if self._is_for_iter(cur) else "range"
            if isinstance(cur, ast.stmt):
                return _stmt_context(cur, child)
            child, cur = cur, self.parents.get(cur)
        return "expr"

    def _is_for_iter(self, call: ast.Call) -> bool:
        parent = self.parents.get(call)
        return (isinstance(parent, ast.For | ast.AsyncFor) and parent.iter is call) or (
            isinstance(parent, ast.comprehension) and parent.iter is call
        )

    # -- the walk ----------------------------------------------------------------

    def edits(self) -> Iterator[SiteEdit]:
        nodes: list[ast.AST] = []
        for stmt in self.body:
            nodes.extend(ast.walk(stmt))
        nodes.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
        # bounds handled by range-bound / index-bound are not also constants
        for node in nodes:
            for bound in self._bounds(node):
                self.skip_constants.add(bound[0])
            if isinstance(node, ast.keyword) and node.arg == "reverse":
                self.skip_constants.add(node.value)
        for node in nodes:
            if self._in_fstring(node):
                continue
            yield from self._edits_at(node)

    def _edits_at(self, node: ast.AST) -> Iterator[SiteEdit]:
        if isinstance(node, ast.Compare):
            yield from self._compare(node)
        elif isinstance(node, ast.BinOp):
            yield from self._binop(node)
        elif isinstance(node, ast.AugAssign):
            yield from self._augassign(node)
        elif isinstance(node, ast.BoolOp):
            yield from self._boolop(node)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield from self._drop_not(node)
        elif isinstance(node, ast.Constant) or (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and _int_literal(node) is not None
        ):
            yield from self._constant(node)
        elif isinstance(node, ast.Return):
            yield from self._return(node)
        elif isinstance(node, ast.Call):
            yield from self._call(node)
        for bound, family, context in self._bounds(node):
            yield from self._bound(bound, family, context)
        yield from self._add_not(node)

    def _compare(self, node: ast.Compare) -> Iterator[SiteEdit]:
        operands = [node.left, *node.comparators]
        context = self.context(node)
        for i in range(len(node.ops)):
            base, gap = self._gap(operands[i], operands[i + 1])
            match = _COMPARE_RE.search(gap)
            if match is None:
                continue
            text = " ".join(match.group().split())
            for replacement, family, operator in _COMPARE_SWAPS.get(text, ()):
                yield self._make(
                    family, operator, base + match.start(), base + match.end(), replacement, context
                )

    def _binop(self, node: ast.BinOp) -> Iterator[SiteEdit]:
        symbol = _ARITH_TYPES.get(type(node.op))
        if symbol is None:
            return
        base, gap = self._gap(node.left, node.right)
        match = _BINOP_RE.search(gap)
        if match is None or match.group() != symbol:
            return
        context = self.context(node)
        for replacement in _ARITH_SWAPS[symbol]:
            yield self._make(
                "arithmetic",
                "swap-arithmetic",
                base + match.start(),
                base + match.end(),
                replacement,
                context,
            )

    def _augassign(self, node: ast.AugAssign) -> Iterator[SiteEdit]:
        symbol = _ARITH_TYPES.get(type(node.op))
        if symbol is None:
            return
        base, gap = self._gap(node.target, node.value)
        match = _AUGOP_RE.search(gap)
        if match is None or match.group(1) != symbol:
            return
        for replacement in _ARITH_SWAPS[symbol]:
            yield self._make(
                "arithmetic",
                "swap-arithmetic",
                base + match.start(1),
                base + match.end(1),
                replacement,
                "augassign",
            )

    def _boolop(self, node: ast.BoolOp) -> Iterator[SiteEdit]:
        context = self.context(node)
        for left, right in zip(node.values, node.values[1:], strict=False):
            base, gap = self._gap(left, right)
            match = _BOOL_RE.search(gap)
            if match is None:
                continue
            replacement = "or" if match.group() == "and" else "and"
            yield self._make(
                "boolean-op",
                "swap-boolean",
                base + match.start(),
                base + match.end(),
                replacement,
                context,
            )

    def _drop_not(self, node: ast.UnaryOp) -> Iterator[SiteEdit]:
        start, end = self.text.start_of(node), self.text.end_of(node)
        parent = self.parents.get(node)
        if isinstance(node.operand, _NOT_NEEDS_PARENS) and not isinstance(parent, ast.stmt):
            inner = self.text.source[start + 3 : end].strip()  # keep the operand's parentheses
        else:
            inner = self.text.segment(node.operand)
        yield self._make("negation", "drop-not", start, end, inner, self.context(node))

    def _add_not(self, node: ast.AST) -> Iterator[SiteEdit]:
        tests: list[ast.expr] = []
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            tests.append(node.test)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        elif isinstance(node, ast.BoolOp):
            tests.extend(node.values)
        for test in tests:
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                continue
            if self._in_fstring(test):
                continue
            text = self.text.segment(test)
            replacement = f"not ({text})" if isinstance(test, _NOT_NEEDS_PARENS) else f"not {text}"
            yield self._make(
                "negation",
                "add-not",
                self.text.start_of(test),
                self.text.end_of(test),
                replacement,
                self.context(test),
            )

    def _constant(self, node: ast.AST) -> Iterator[SiteEdit]:
        if node in self.skip_constants:
            return
        parent = self.parents.get(node)
        if (
            isinstance(node, ast.Constant)
            and isinstance(parent, ast.UnaryOp)
            and isinstance(parent.op, ast.USub)
        ):
            return  # handled as the negative literal
        start, end = self.text.start_of(node), self.text.end_of(node)
        context = self.context(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield self._make("constant", "flip-bool", start, end, str(not node.value), context)
            return
        value = _int_literal(node)
        if value is None or abs(value) > MAX_CONSTANT + 1:  # +1: n -> n+1 stays invertible
            return
        yield self._make("constant", "const-inc", start, end, str(value + 1), context)
        yield self._make("constant", "const-dec", start, end, str(value - 1), context)

    def _return(self, node: ast.Return) -> Iterator[SiteEdit]:
        if not isinstance(node.value, ast.Name):
            return
        current = node.value.id
        others = [name for name in self.local_names if name != current][:MAX_RETURN_SWAPS]
        start, end = self.text.start_of(node.value), self.text.end_of(node.value)
        for name in others:
            yield self._make("return-value", "swap-return", start, end, name, "return")

    def _call(self, node: ast.Call) -> Iterator[SiteEdit]:
        name = call_name(node)
        context = self.context(node)
        if isinstance(node.func, ast.Name) and name in ("min", "max"):
            other = "max" if name == "min" else "min"
            yield self._make(
                "min-max",
                "swap-min-max",
                self.text.start_of(node.func),
                self.text.end_of(node.func),
                other,
                context,
            )
        if name not in ("sorted", "sort"):
            return
        if name == "sort" and not isinstance(node.func, ast.Attribute):
            return
        reverse = next((kw for kw in node.keywords if kw.arg == "reverse"), None)
        if reverse is None:
            close = self.text.end_of(node) - 1
            if self.text.source[close] != ")":
                return
            has_args = bool(node.args or node.keywords)
            yield self._make(
                "min-max",
                "add-reverse",
                close,
                close,
                ", reverse=True" if has_args else "reverse=True",
                context,
            )
            return
        if isinstance(reverse.value, ast.Constant) and isinstance(reverse.value.value, bool):
            yield self._make(
                "min-max",
                "flip-reverse",
                self.text.start_of(reverse.value),
                self.text.end_of(reverse.value),
                str(not reverse.value.value),
                context,
            )
            if reverse is node.keywords[-1]:
                previous: list[ast.AST] = [*node.args, *node.keywords[:-1]]
                if previous:
                    last = max(previous, key=self.text.end_of)
                    start = self.text.end_of(last)
                else:
                    start = self.text.start_of(reverse)
                end = self.text.end_of(reverse)
                if self.text.source[start:end].strip(" ,").startswith("reverse"):
                    yield self._make("min-max", "drop-reverse", start, end, "", context)

    def _bounds(self, node: ast.AST) -> list[tuple[ast.expr, str, str]]:
        """The ±1-able bounds at ``node``: (expression, family, context)."""
        found: list[tuple[ast.expr, str, str]] = []
        if (
            isinstance(node, ast.Call)
            and call_name(node) == "range"
            and isinstance(node.func, ast.Name)
        ):
            context = "for-range" if self._is_for_iter(node) else "range"
            for arg in node.args[:2]:
                if not isinstance(arg, ast.Starred):
                    found.append((arg, "range-bound", context))
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                for bound in (node.slice.lower, node.slice.upper):
                    if bound is not None and _indexish(bound):
                        found.append((bound, "index-bound", "slice"))
            elif _indexish(node.slice):
                found.append((node.slice, "index-bound", "index"))
        return found

    def _bound(self, expr: ast.expr, family: str, context: str) -> Iterator[SiteEdit]:
        if self._in_fstring(expr):
            return
        prefix = "range-bound" if family == "range-bound" else "index-bound"
        start, end = self.text.start_of(expr), self.text.end_of(expr)
        value = _int_literal(expr)
        if value is not None:
            yield self._make(family, f"{prefix}-inc", start, end, str(value + 1), context)
            yield self._make(family, f"{prefix}-dec", start, end, str(value - 1), context)
            return
        if (
            isinstance(expr, ast.BinOp)
            and isinstance(expr.op, ast.Add | ast.Sub)
            and _int_literal(expr.right) == 1
        ):
            operator = f"{prefix}-dec" if isinstance(expr.op, ast.Add) else f"{prefix}-inc"
            yield self._make(family, operator, start, end, self.text.segment(expr.left), context)
            return
        text = self.text.segment(expr)
        if isinstance(expr, _LOW_PRECEDENCE) or (
            isinstance(expr, ast.BinOp) and not isinstance(expr.op, _ADDITIVE_OR_TIGHTER)
        ):
            text = f"({text})"
        yield self._make(family, f"{prefix}-inc", start, end, f"{text} + 1", context)
        yield self._make(family, f"{prefix}-dec", start, end, f"{text} - 1", context)


def call_name(node: ast.Call) -> str | None:
    """The called name of ``f(...)`` or ``obj.f(...)``; None for any other callee."""
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


def _indexish(node: ast.AST) -> bool:
    """Whether a subscript index plausibly is an integer position."""
    if _int_literal(node) is not None:
        return True
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.BinOp) and isinstance(
        node.op, ast.Add | ast.Sub | ast.FloorDiv | ast.Mult
    ):
        return True
    return isinstance(node, ast.Call) and call_name(node) in ("len", "int", "abs", "min", "max")


def _stmt_context(stmt: ast.stmt, child: ast.AST) -> str:
    if isinstance(stmt, ast.If):
        return "if-test" if child is stmt.test else "if"
    if isinstance(stmt, ast.While):
        return "while-test" if child is stmt.test else "while"
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return "for-iter" if child is stmt.iter else "for"
    if isinstance(stmt, ast.Return):
        return "return"
    if isinstance(stmt, ast.AugAssign):
        return "augassign"
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        return "assign"
    if isinstance(stmt, ast.Expr):
        return "expr-stmt"
    if isinstance(stmt, ast.Assert):
        return "assert"
    return type(stmt).__name__.lower()


def function_edits(source: str, entry_point: str) -> list[SiteEdit]:
    """Every edit in the body of ``entry_point``, in source order, each giving a parseable program.

    Returns an empty list when the source does not parse or has no such function.
    Duplicate splices (same span, same replacement) are kept once, first family wins.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    func = find_function(tree, entry_point)
    if func is None:
        return []
    finder = _Finder(source, tree, func)
    seen: set[tuple[int, int, str]] = set()
    result: list[SiteEdit] = []
    for edit in finder.edits():
        key = (edit.start, edit.end, edit.replacement)
        if key in seen or edit.replacement == edit.before:
            continue
        seen.add(key)
        try:
            ast.parse(edit.apply(source))
        except SyntaxError:
            continue
        result.append(edit)
    result.sort(key=lambda e: (e.line, e.col, OPERATORS.index(e.operator), e.replacement))
    return result
