"""Seeded edit triples (original, expected, the edit in every format) built from HumanEval.

Originals are single problems (``Problem.source``, about 20 lines) and modules of
about :data:`MODULE_LINES` lines made by concatenating problems (seeded choice;
problems whose top-level names collide are skipped; their imports are merged at the
top). A transformation is applied to the original's lines directly (positions from
``ast``) to give the expected text, which must parse and differ from the original.
The edit is then rendered the way a model writes it in each format.

=====================  ============================================================
transform              what changes (one function, chosen by the seed)
=====================  ============================================================
rename_local           a local variable renamed everywhere in its function
flip_comparison        one comparison operator (``<`` -> ``<=``, ``==`` -> ``!=``...)
change_constant        one integer literal (+1, +2 or -1, never below 0)
insert_guard           ``if <param> is None: raise ValueError(...)`` after the docstring
insert_log             ``print("<name>: returning")`` before the function's last return
delete_statement       one single-line statement of a block with two or more
rewrite_docstring      one docstring line: its first word of 4+ letters replaced
change_signature       a defaulted parameter appended to the ``def`` line
add_helper             a new helper function after the function
multi_site             2-3 of flip/constant/guard/log/delete in separated regions
=====================  ============================================================

Rendering
    - SEARCH_REPLACE: one block per group of nearby changes (gap <= 2 lines), with
      the minimal context (0 or 1 line to start, by the seed, grown alternately
      before and after) that makes the SEARCH text unique in the text the earlier
      blocks left; sometimes preceded by a file name line, sometimes in a fence.
    - UNIFIED_DIFF: ``difflib.unified_diff`` with 3 context lines.
    - LAZY: one segment per group (gap <= 4 lines) with 1-3 non-blank context lines
      on each side (blank lines met on the way included), sometimes starting at the
      enclosing ``def`` line instead; ``# ... existing code ...`` markers at the
      indentation of the first elided non-blank line, at both ends unless the
      segment reaches the file's edge.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from patterns.codegen.humaneval import Problem, load_problems
from patterns.codegen.records import EditFormat

MODULE_LINES = 300  # target length of a concatenated module, lines
DEFAULT_TRIPLES = 80  # triples when n is None (half problems, half modules)
MAX_ATTEMPTS = 40  # originals tried per triple before a transform is given up
MARKER = "# ... existing code ..."
FLIPS = {
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "in": "not in",
    "not in": "in",
    "is": "is not",
    "is not": "is",
}
HELPER_TEMPLATE = (
    "",
    "",
    "def _helper_{n}(value):",
    '    """Return ``value`` unchanged (used by {name})."""',
    "    return value",
)
DOC_WORDS = ("Computes", "Returns", "Given", "Checks", "Builds")
_WORD = re.compile(r"[A-Za-z]{4,}")


@dataclass(frozen=True, slots=True)
class EditTriple:
    """An original, the expected result, and the same edit in every format.

    Attributes:
        original: the source before the edit.
        expected: the source after it (parses).
        edits: the edit text per format.
        transform: the transformation's name (see the module docstring's table).
        task_ids: the HumanEval problems the original is made of.
    """

    original: str
    expected: str
    edits: dict[EditFormat, str]
    transform: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineEdit:
    """Original lines ``[start, end)`` become ``lines``."""

    start: int
    end: int
    lines: tuple[str, ...]


Transform = Callable[[random.Random, list[str], ast.FunctionDef], list[LineEdit] | None]


# -- originals ----------------------------------------------------------------------------


def _is_import(line: str) -> bool:
    return line.startswith(("import ", "from "))


def merge_imports(import_lines: Sequence[str]) -> list[str]:
    """``import x`` and ``from m import a, b`` lines merged and sorted."""
    plain: set[str] = set()
    froms: dict[str, set[str]] = {}
    for line in import_lines:
        if line.startswith("from "):
            module, _, names = line[5:].partition(" import ")
            froms.setdefault(module.strip(), set()).update(
                n.strip() for n in names.split(",") if n.strip()
            )
        else:
            plain.update(n.strip() for n in line[7:].split(",") if n.strip())
    out = [f"import {name}" for name in sorted(plain)]
    out += [f"from {m} import {', '.join(sorted(names))}" for m, names in sorted(froms.items())]
    return out


def build_module(rng: random.Random, problems: Sequence[Problem]) -> tuple[str, tuple[str, ...]]:
    """A module of about :data:`MODULE_LINES` lines from seeded problems, imports merged."""
    imports: list[str] = []
    bodies: list[list[str]] = []
    names: set[str] = set()
    ids: list[str] = []
    total = 0
    for index in rng.sample(range(len(problems)), len(problems)):
        problem = problems[index]
        tree = ast.parse(problem.source)
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)} | {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        if defined & names:
            continue
        lines = problem.source.rstrip("\n").split("\n")
        imports += [line for line in lines if _is_import(line)]
        body = [line for line in lines if not _is_import(line)]
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        names |= defined
        ids.append(problem.task_id)
        bodies.append(body)
        total += len(body) + 2
        if total >= MODULE_LINES - 10:
            break
    out = merge_imports(imports)
    for body in bodies:
        if out:
            out += ["", ""]
        out += body
    text = "\n".join(out) + "\n"
    ast.parse(text)
    return text, tuple(ids)


# -- transformations ----------------------------------------------------------------------


def _docstring_node(fn: ast.FunctionDef) -> ast.Expr | None:
    first = fn.body[0] if fn.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _body(fn: ast.FunctionDef) -> list[ast.stmt]:
    return fn.body[1:] if _docstring_node(fn) is not None else list(fn.body)


def _code_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """Every node of the function's code, docstring excluded."""
    out: list[ast.AST] = []
    for stmt in _body(fn):
        out.extend(ast.walk(stmt))
    return out


def _splice_bytes(line: str, start: int, end: int, new: str) -> str:
    """``line`` with UTF-8 byte columns ``[start, end)`` replaced (ast offsets are bytes)."""
    raw = line.encode()
    return (raw[:start] + new.encode() + raw[end:]).decode()


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def rename_local(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    nodes = list(ast.walk(fn))
    if any(isinstance(n, ast.JoinedStr | ast.Global | ast.Nonlocal) for n in nodes):
        return None
    params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    inner_args = {a.arg for n in nodes if isinstance(n, ast.arg) for a in [n]}
    stored = sorted(
        {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        - params
        - inner_args
    )
    if not stored:
        return None
    name = rng.choice(stored)
    source = "\n".join(lines)
    new = next(
        (name + s for s in ("_value", "_item", "_acc", "_tmp") if name + s not in source), None
    )
    if new is None:
        return None
    by_line: dict[int, list[tuple[int, int]]] = {}
    for n in nodes:
        if isinstance(n, ast.Name) and n.id == name:
            if n.lineno != n.end_lineno or n.end_col_offset is None:
                return None
            by_line.setdefault(n.lineno - 1, []).append((n.col_offset, n.end_col_offset))
    edits = []
    for row, spans in sorted(by_line.items()):
        line = lines[row]
        for start, end in sorted(spans, reverse=True):
            line = _splice_bytes(line, start, end, new)
        edits.append(LineEdit(row, row + 1, (line,)))
    return edits


def flip_comparison(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    options: list[tuple[int, int, int, str]] = []
    for n in _code_nodes(fn):
        if not isinstance(n, ast.Compare) or len(n.ops) != 1:
            continue
        left, right = n.left, n.comparators[0]
        if left.end_lineno != right.lineno or left.end_col_offset is None:
            continue
        row = right.lineno - 1
        raw = lines[row].encode()
        between = raw[left.end_col_offset : right.col_offset].decode()
        op = " ".join(between.split())
        if op in FLIPS:
            options.append((row, left.end_col_offset, right.col_offset, op))
    if not options:
        return None
    row, start, end, op = rng.choice(options)
    line = _splice_bytes(lines[row], start, end, f" {FLIPS[op]} ")
    return [LineEdit(row, row + 1, (line,))]


def change_constant(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    options: list[ast.Constant] = []
    for n in _code_nodes(fn):
        if (
            isinstance(n, ast.Constant)
            and type(n.value) is int
            and n.lineno == n.end_lineno
            and n.end_col_offset is not None
            and lines[n.lineno - 1].encode()[n.col_offset : n.end_col_offset]
            == str(n.value).encode()
        ):
            options.append(n)
    if not options:
        return None
    node = rng.choice(options)
    assert isinstance(node.value, int) and node.end_col_offset is not None
    value = node.value + rng.choice((1, 2, -1))
    if value < 0:
        value = node.value + 1
    row = node.lineno - 1
    line = _splice_bytes(lines[row], node.col_offset, node.end_col_offset, str(value))
    return [LineEdit(row, row + 1, (line,))]


def insert_guard(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
    body = _body(fn)
    if not params or not body:
        return None
    param = rng.choice(params)
    row = body[0].lineno - 1
    indent = _indent(lines[row])
    new = (
        f"{indent}if {param} is None:",
        f'{indent}    raise ValueError("{param} must not be None")',
    )
    return [LineEdit(row, row, new)]


def insert_log(rng: random.Random, lines: list[str], fn: ast.FunctionDef) -> list[LineEdit] | None:
    returns = [s for s in _body(fn) if isinstance(s, ast.Return)]
    if not returns:
        return None
    row = returns[-1].lineno - 1
    indent = _indent(lines[row])
    return [LineEdit(row, row, (f'{indent}print("{fn.name}: returning")',))]


def _blocks(stmts: list[ast.stmt]) -> list[list[ast.stmt]]:
    out = [stmts]
    for s in stmts:
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(s, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                out += _blocks(inner)
        for handler in getattr(s, "handlers", []) or []:
            out += _blocks(handler.body)
    return out


def delete_statement(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    options = [
        s
        for block in _blocks(_body(fn))
        if len(block) >= 2
        for s in block
        if isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Expr)
        and s.lineno == s.end_lineno
        and not isinstance(s, ast.FunctionDef)
    ]
    if not options:
        return None
    stmt = rng.choice(options)
    row = stmt.lineno - 1
    if lines[row].strip().endswith((":", ";")) or ";" in lines[row]:
        return None
    return [LineEdit(row, row + 1, ())]


def rewrite_docstring(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    doc = _docstring_node(fn)
    if doc is None or doc.end_lineno is None:
        return None
    options = []
    for row in range(doc.lineno - 1, doc.end_lineno):
        text = lines[row].strip()
        if text.startswith(">>>") or len(text.split()) < 3:
            continue
        match = _WORD.search(lines[row])
        if match:
            options.append((row, match))
    if not options:
        return None
    row, match = rng.choice(options)
    word = rng.choice([w for w in DOC_WORDS if w != match.group(0)])
    line = lines[row][: match.start()] + word + lines[row][match.end() :]
    return [LineEdit(row, row + 1, (line,))]


def change_signature(
    rng: random.Random, lines: list[str], fn: ast.FunctionDef
) -> list[LineEdit] | None:
    row = fn.lineno - 1
    line = lines[row]
    if fn.args.kwarg is not None or not line.rstrip().endswith(":") or "(" not in line:
        return None
    if fn.body and fn.body[0].lineno - 1 == row:
        return None
    cut = line.index(" -> ") if " -> " in line else len(line.rstrip()) - 1
    close = line.rfind(")", 0, cut)
    if close < 0:
        return None
    used = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    choices = [("verbose", "bool", "False"), ("strict", "bool", "True"), ("limit", "int", "0")]
    free = [c for c in choices if c[0] not in used]
    if not free:
        return None
    name, kind, default = rng.choice(free)
    inner = line[line.index("(") + 1 : close].strip()
    param = f"{name}: {kind} = {default}"
    new = line[:close] + (f", {param}" if inner else param) + line[close:]
    return [LineEdit(row, row + 1, (new,))]


def add_helper(rng: random.Random, lines: list[str], fn: ast.FunctionDef) -> list[LineEdit] | None:
    if fn.end_lineno is None:
        return None
    n = rng.randrange(100)
    new = tuple(t.format(n=n, name=fn.name) for t in HELPER_TEMPLATE)
    return [LineEdit(fn.end_lineno, fn.end_lineno, new)]


SINGLE: dict[str, Transform] = {
    "rename_local": rename_local,
    "flip_comparison": flip_comparison,
    "change_constant": change_constant,
    "insert_guard": insert_guard,
    "insert_log": insert_log,
    "delete_statement": delete_statement,
    "rewrite_docstring": rewrite_docstring,
    "change_signature": change_signature,
    "add_helper": add_helper,
}
MULTI_PARTS = (
    "flip_comparison",
    "change_constant",
    "insert_guard",
    "insert_log",
    "delete_statement",
)
MULTI_GAP = 4  # lines at least between the regions of a multi-site edit
TRANSFORMS = (*SINGLE, "multi_site")


def _functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef)]


def transform(
    name: str, rng: random.Random, lines: list[str], tree: ast.Module
) -> list[LineEdit] | None:
    """The line edits of transformation ``name`` on the module, or None when it does not apply."""
    functions = _functions(tree)
    rng.shuffle(functions)
    if name != "multi_site":
        for fn in functions:
            edits = SINGLE[name](rng, lines, fn)
            if edits:
                return edits
        return None
    want = rng.choice((2, 3))
    chosen: list[LineEdit] = []
    for _ in range(want * 4):
        fn = rng.choice(functions)
        part = SINGLE[rng.choice(MULTI_PARTS)](rng, lines, fn)
        if not part:
            continue
        lo, hi = min(e.start for e in part), max(e.end for e in part)
        if all(hi + MULTI_GAP <= c.start or c.end + MULTI_GAP <= lo for c in chosen):
            chosen += part
        if len(chosen) >= want:
            break
    return sorted(chosen, key=lambda e: (e.start, e.end)) if len(chosen) >= 2 else None


def apply_line_edits(lines: Sequence[str], edits: Sequence[LineEdit]) -> list[str]:
    """``lines`` with sorted, non-overlapping edits applied."""
    out: list[str] = []
    cursor = 0
    for e in edits:
        out += lines[cursor : e.start]
        out += e.lines
        cursor = e.end
    return out + list(lines[cursor:])


# -- rendering ------------------------------------------------------------------------------


def _groups(edits: Sequence[LineEdit], gap: int) -> list[list[LineEdit]]:
    groups: list[list[LineEdit]] = []
    for e in edits:
        if groups and e.start - groups[-1][-1].end <= gap:
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def _count(lines: Sequence[str], window: Sequence[str]) -> int:
    size = len(window)
    return sum(1 for i in range(len(lines) - size + 1) if lines[i : i + size] == list(window))


def render_search_replace(
    rng: random.Random, lines: list[str], edits: Sequence[LineEdit], path: str
) -> str:
    current = list(lines)
    delta = 0
    blocks: list[str] = []
    for group in _groups(edits, 2):
        start, end = group[0].start + delta, group[-1].end + delta
        region_new = apply_line_edits(
            lines[group[0].start : group[-1].end],
            [LineEdit(e.start - group[0].start, e.end - group[0].start, e.lines) for e in group],
        )
        before = after = rng.choice((0, 1)) if end > start else 1
        turn = 0
        while True:
            lo, hi = max(0, start - before), min(len(current), end + after)
            search = current[lo:hi]
            if any(s.strip() for s in search) and _count(current, search) == 1:
                break
            if lo == 0 and hi == len(current):
                break
            if (turn % 2 == 0 and lo > 0) or hi == len(current):
                before += 1
            else:
                after += 1
            turn += 1
        replace = current[lo:start] + region_new + current[end:hi]
        blocks.append(
            "<<<<<<< SEARCH\n"
            + "".join(s + "\n" for s in search)
            + "=======\n"
            + "".join(s + "\n" for s in replace)
            + ">>>>>>> REPLACE\n"
        )
        current[start:end] = region_new
        delta += len(region_new) - (end - start)
    body = "\n".join(blocks)
    style = rng.randrange(3)
    if style == 1:
        return f"{path}\n{body}"
    if style == 2:
        return f"{path}\n```python\n{body}```\n"
    return body


def render_unified_diff(original: str, expected: str, path: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            f"a/{path}",
            f"b/{path}",
            n=3,
        )
    )


def _enclosing_def(lines: Sequence[str], row: int) -> int | None:
    for i in range(min(row, len(lines) - 1), -1, -1):
        if lines[i].startswith(("def ", "async def ", "class ")):
            return i
    return None


def _marker(lines: Sequence[str], lo: int, hi: int) -> str:
    for line in lines[lo:hi]:
        if line.strip():
            return _indent(line) + MARKER
    return MARKER


def render_lazy(rng: random.Random, lines: list[str], edits: Sequence[LineEdit]) -> str:
    n = len(lines)
    windows: list[tuple[int, int, list[LineEdit]]] = []
    for group in _groups(edits, 4):
        start, end = group[0].start, group[-1].end
        lo = start
        want = rng.randint(1, 3)
        seen = 0
        while lo > 0 and seen < want:
            lo -= 1
            seen += bool(lines[lo].strip())
        d = _enclosing_def(lines, start)
        if d is not None and d <= start and start - d <= 12 and rng.random() < 0.35:
            lo = d
        hi = end
        want = rng.randint(1, 3)
        seen = 0
        while hi < n and seen < want:
            seen += bool(lines[hi].strip())
            hi += 1
        if windows and lo <= windows[-1][1]:
            plo, _, pgroup = windows[-1]
            windows[-1] = (plo, max(hi, windows[-1][1]), pgroup + group)
        else:
            windows.append((lo, hi, list(group)))
    out: list[str] = []
    previous = 0
    for lo, hi, group in windows:
        if lo > previous or (lo > 0 and not out):
            out.append(_marker(lines, previous, lo))
        local = [LineEdit(e.start - lo, e.end - lo, e.lines) for e in group]
        out += apply_line_edits(lines[lo:hi], local)
        previous = hi
    if previous < n:
        out.append(_marker(lines, previous, n))
    return "".join(line + "\n" for line in out)


# -- triples --------------------------------------------------------------------------------


def _triple(
    rng: random.Random, name: str, original: str, ids: tuple[str, ...], path: str
) -> EditTriple | None:
    final = original.endswith("\n")
    lines = (original[:-1] if final else original).split("\n")
    edits = transform(name, rng, lines, ast.parse(original))
    if not edits:
        return None
    expected = "\n".join(apply_line_edits(lines, edits)) + ("\n" if final else "")
    if expected == original:
        return None
    try:
        ast.parse(expected)
    except SyntaxError:
        return None
    return EditTriple(
        original=original,
        expected=expected,
        edits={
            EditFormat.LAZY: render_lazy(rng, lines, edits),
            EditFormat.SEARCH_REPLACE: render_search_replace(rng, lines, edits, path),
            EditFormat.UNIFIED_DIFF: render_unified_diff(original, expected, path),
        },
        transform=name,
        task_ids=ids,
    )


def build_edit_triples(seed: int, n: int | None = None) -> list[EditTriple]:
    """``n`` seeded triples (default :data:`DEFAULT_TRIPLES`): even ones on single
    problems, odd ones on ~300-line modules, transforms taken in turn.

    Raises:
        DatasetError: HumanEval is not installed.
    """
    problems = load_problems()
    rng = random.Random(seed)
    count = DEFAULT_TRIPLES if n is None else n
    out: list[EditTriple] = []
    for i in range(count):
        name = TRANSFORMS[(i // 2) % len(TRANSFORMS)]
        for _ in range(MAX_ATTEMPTS):
            if i % 2:
                original, ids = build_module(rng, problems)
                path = "module.py"
            else:
                problem = rng.choice(problems)
                original, ids = problem.source, (problem.task_id,)
                path = f"problem_{problem.number}.py"
            triple = _triple(rng, name, original, ids, path)
            if triple is not None:
                out.append(triple)
                break
    return out
