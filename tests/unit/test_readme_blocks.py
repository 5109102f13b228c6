"""The README's code stays true: every Python example compiles and imports what exists.

Each ```python block is compiled and every name it imports is resolved
(``import X``, ``from X import Y``), so a renamed or moved module fails here.
Dotted project references in the prose (`patterns.settings.Settings`) and repo
paths (`apps/k8s/scenarios/*.yaml`) are resolved too. Blocks are not run, since
most start flows; the self-healing section is run by tests/selfheal/test_readme.py
and the kernel simulator example (pure, virtual time) is run below.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PROJECT_PACKAGES = ("patterns", "apps", "tasks", "flows", "deployments")
PATH_ROOTS = (*PROJECT_PACKAGES, "infra", "tests")
KERNEL_MODULES = ("patterns.core", "patterns.net")  # pure and in-memory: safe to run


def _text() -> str:
    return README.read_text()


def _blocks() -> list[tuple[int, str]]:
    """Every ```python block with the README line its code starts on."""
    text = _text()
    return [
        (text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    ]


def _inline_spans() -> list[str]:
    prose = re.sub(r"^```.*?^```", "", _text(), flags=re.S | re.M)
    return sorted(set(re.findall(r"`([^`\n]+)`", prose)))


def _dotted_references() -> list[str]:
    pattern = re.compile(rf"(?:{'|'.join(PROJECT_PACKAGES)})(?:\.[A-Za-z_]\w*)+")
    return [s for s in _inline_spans() if pattern.fullmatch(s)]


def _path_references() -> list[str]:
    pattern = re.compile(rf"(?:{'|'.join(PATH_ROOTS)})/[\w./*-]*")
    return [s for s in _inline_spans() if pattern.fullmatch(s)]


def _import_module(name: str) -> ModuleType | None:
    """``name`` imported, or ``None`` if no such module (errors inside a module propagate)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is not None and (name == err.name or name.startswith(err.name + ".")):
            return None
        raise


def resolve(dotted: str) -> object:
    """The object a dotted path names: its longest importable module, then attributes.

    Raises:
        LookupError: naming the part that does not exist.
    """
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = _import_module(".".join(parts[:i]))
        if module is None:
            continue
        obj: object = module
        for j, attr in enumerate(parts[i:], start=i):
            if not hasattr(obj, attr):
                raise LookupError(f"{'.'.join(parts[:j])} has no attribute {attr!r} ({dotted})")
            obj = getattr(obj, attr)
        return obj
    raise LookupError(f"no module {parts[0]!r} ({dotted})")


def imported_names(source: str) -> list[str]:
    """Dotted names of everything ``source`` imports (absolute imports only)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, "README examples use absolute imports"
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


BLOCKS = _blocks()


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 10  # the extraction still finds the examples


@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=[f"line{ln}" for ln, _ in BLOCKS])
def test_block_compiles_and_its_imports_resolve(line: int, source: str) -> None:
    compile(source, f"README.md:{line}", "exec")
    names = imported_names(source)
    assert names, f"README.md:{line}: a block with no imports"
    for name in names:
        resolve(name)


@pytest.mark.parametrize("dotted", _dotted_references())
def test_prose_reference_resolves(dotted: str) -> None:
    resolve(dotted)


@pytest.mark.parametrize("path", _path_references())
def test_prose_path_exists(path: str) -> None:
    assert any(ROOT.glob(path.rstrip("/"))), f"README names {path}, which is not in the repo"


def test_resolve_rejects_wrong_paths() -> None:
    from patterns.settings import Settings

    assert resolve("patterns.settings.Settings") is Settings
    with pytest.raises(LookupError, match="Settings"):
        resolve("patterns.core.settings.Settings")
    with pytest.raises(LookupError):
        resolve("patterns.no_such_module.Thing")
    assert imported_names("import json\nfrom a.b import c, d\n") == ["json", "a.b.c", "a.b.d"]


def test_kernel_simulator_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    kernel = [
        (line, src)
        for line, src in BLOCKS
        if all(
            n.split(".")[0] not in PROJECT_PACKAGES or n.startswith(KERNEL_MODULES)
            for n in imported_names(src)
        )
        and any(n.startswith(KERNEL_MODULES) for n in imported_names(src))
    ]
    assert kernel, "the kernel simulator example is gone from the README"
    for line, source in kernel:
        exec(compile(source, f"README.md:{line}", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out
