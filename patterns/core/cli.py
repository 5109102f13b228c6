"""Helpers of the command lines: one-line messages for invalid settings, checked arguments.

Settings are read from the environment by pydantic-settings classes (``SWARMKIT_`` prefix,
``__`` between a group and its field). A bad value raises a pydantic ``ValidationError``
(a value out of its bounds, an unknown enum member) or a pydantic-settings ``SettingsError``
(a list or dict field whose value is not JSON); neither names the environment variable.
:func:`settings_error_lines` turns either into lines such as::

    SWARMKIT_SELFHEAL__MIN_CONFIDENCE='-3': Input should be greater than or equal to 0
    SWARMKIT_K8S__WRITE_NAMESPACES='shop': not JSON (Expecting value ...); write a list as '["a", "b"]'

and :func:`report_settings_error` prints them as ``error: ...`` and returns exit status 2.
Errors of models built from command-line options are named by their option (``--top=-2: ...``).

:func:`int_at_least`, :func:`float_at_least` and :func:`new_file` are ``argparse`` types that
refuse a bad value when the command line is parsed (usage, one error line, exit status 2),
before any work is done.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsError

from patterns.core.settings import ENV_PREFIX

SETTINGS_ERRORS: tuple[type[ValidationError], type[SettingsError]] = (
    ValidationError,
    SettingsError,
)
"""What reading settings raises on a bad value: catch these, then :func:`report_settings_error`."""

_FIELD_OF_SOURCE = re.compile(r'value for field "(?P<field>[^"]+)" from source "(?P<source>\w+)"')


def _settings_classes() -> list[type[BaseSettings]]:
    """Every imported ``BaseSettings`` subclass, the project's (``SWARMKIT_``) first."""
    out: list[type[BaseSettings]] = []
    stack = list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in out:
            out.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(out, key=lambda c: _config(c)[0] != ENV_PREFIX)


def _settings_class(err: ValidationError) -> type[BaseSettings] | None:
    """The settings class that raised ``err``: its name, and a field its first error names
    (another library may have a settings class of the same name)."""
    first = err.errors()[0]["loc"] if err.error_count() else ()
    for cls in _settings_classes():
        if cls.__name__ == err.title and (not first or first[0] in cls.model_fields):
            return cls
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``Group`` or ``Group | None``), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for a in typing.get_args(annotation) if (m := _model_of(a)) is not None]
        return models[0] if len(models) == 1 else None
    return None


def _is_complex(annotation: Any) -> str | None:
    """``'list'`` or ``'object'`` if pydantic-settings reads the field as JSON, else ``None``."""
    if _model_of(annotation) is not None:
        return "object"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {k for a in typing.get_args(annotation) if (k := _is_complex(a))}
        return kinds.pop() if len(kinds) == 1 else ("object" if kinds else None)
    if origin in (list, set, frozenset, tuple) or annotation in (list, set, frozenset, tuple):
        return "list"
    if origin is dict or annotation is dict or origin is Mapping:
        return "object"
    return None


def _walk(
    model: type[BaseModel] | None, loc: tuple[Any, ...]
) -> tuple[list[str], FieldInfo | None]:
    """The leading field names of ``loc`` that are fields of nested models, and the last field."""
    names: list[str] = []
    info: FieldInfo | None = None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            break
        names.append(part)
        info = model.model_fields[part]
        model = _model_of(info.annotation)
    return names, info


def _env_lookup(name: str, case_sensitive: bool) -> tuple[str, str] | None:
    """``(variable, value)`` of the environment variable ``name`` if set."""
    if case_sensitive:
        return (name, os.environ[name]) if name in os.environ else None
    wanted = name.lower()
    return next(((k, v) for k, v in os.environ.items() if k.lower() == wanted), None)


def _config(cls: type[BaseSettings]) -> tuple[str, str, bool]:
    cfg = cls.model_config
    return (
        str(cfg.get("env_prefix") or ""),
        str(cfg.get("env_nested_delimiter") or "__"),
        bool(cfg.get("case_sensitive") or False),
    )


def _message(e: Mapping[str, Any]) -> str:
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _env_line(cls: type[BaseSettings], e: Mapping[str, Any]) -> str:
    """``SWARMKIT_GROUP__FIELD='value': what is wrong`` for one error of a settings class."""
    prefix, delim, case_sensitive = _config(cls)
    loc = tuple(e["loc"])
    names, info = _walk(cls, loc)
    rest = loc[len(names) :]
    where = f" (item {rest[0]})" if rest and isinstance(rest[0], int) else ""
    if not names:
        return f"{prefix}*: {_message(e)}"
    # the variable actually set: the field's own, or the group's (a JSON object) above it
    for depth in range(len(names), 0, -1):
        var = prefix + delim.join(names[:depth]).upper()
        found = _env_lookup(var, case_sensitive)
        if found is not None:
            key, value = found
            inner = "." + ".".join(names[depth:]) if depth < len(names) else ""
            return f"{key}={value!r}{inner}{where}: {_message(e)}"
    var = prefix + delim.join(names).upper()
    if info is not None and _model_of(info.annotation) is not None and not rest:
        # a check of the whole group, over several of its fields: name the ones set
        head = (var + delim).lower()
        given = ", ".join(
            f"{k}={v!r}" for k, v in sorted(os.environ.items()) if k.lower().startswith(head)
        )
        var += delim + "*" + (f" ({given})" if given else "")
    return f"{var}{where}: {_message(e)}"


def _option_line(err: ValidationError, e: Mapping[str, Any], options: Mapping[str, str]) -> str:
    loc = [str(p) for p in e["loc"]]
    if not loc:
        return f"{err.title}: {_message(e)}"
    option = "--" + options.get(loc[0], loc[0].replace("_", "-"))
    return f"{option}={e.get('input')!r}: {_message(e)}"


def _model_line(err: ValidationError, e: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in e["loc"])
    field = f"{loc}={e.get('input')!r}" if loc else err.title
    return f"{err.title}: {field}: {_message(e)}"


def _json_lines(err: SettingsError) -> list[str]:
    """The variables behind a pydantic-settings parse error (a list/dict value that is not JSON)."""
    m = _FIELD_OF_SOURCE.search(str(err))
    if m is None or m.group("source") != "EnvSettingsSource":
        return []
    field = m.group("field")
    lines: list[str] = []
    for cls in _settings_classes():
        if field not in cls.model_fields:
            continue
        prefix, delim, case_sensitive = _config(cls)
        head = (prefix + field).lower() if not case_sensitive else prefix + field
        for key, value in sorted(os.environ.items()):
            k = key if case_sensitive else key.lower()
            if k != head and not k.startswith(head + delim.lower()):
                continue
            path = [field, *(p.lower() for p in key[len(head) + len(delim) :].split(delim) if p)]
            names, info = _walk(cls, tuple(path))
            kind = _is_complex(info.annotation) if info is not None and names == path else None
            if kind is None:
                continue
            try:
                json.loads(value)
            except ValueError as bad:
                example = '\'["a", "b"]\'' if kind == "list" else '\'{"key": "value"}\''
                line = f"{key}={value!r}: not JSON ({bad}); write a {kind} as {example}"
                if line not in lines:
                    lines.append(line)
    return lines


def settings_error_lines(
    err: ValidationError | SettingsError, options: Mapping[str, str] | None = None
) -> list[str]:
    """One line per problem, naming the environment variable (or the option) and its value.

    Args:
        err: what reading or validating the settings raised.
        options: for models built from command-line options, the option of each field
            (``{"top_k": "top"}``; unlisted fields are ``--field-name``). Without it, such
            errors are named ``Model: field=value``.
    """
    if isinstance(err, SettingsError):
        lines = _json_lines(err)
        cause = f": {err.__cause__}" if err.__cause__ is not None else ""
        return lines or [f"{err}{cause}"]
    cls = _settings_class(err)
    out: list[str] = []
    for e in err.errors():
        if cls is not None:
            out.append(_env_line(cls, e))
        elif options is not None:
            out.append(_option_line(err, e, options))
        else:
            out.append(_model_line(err, e))
    return out


def report_settings_error(
    err: ValidationError | SettingsError,
    options: Mapping[str, str] | None = None,
    file: IO[str] | None = None,
) -> int:
    """Print :func:`settings_error_lines` as ``error: ...`` lines (to stderr); return 2."""
    for line in settings_error_lines(err, options):
        print(f"error: {line}", file=file or sys.stderr)
    return 2


def int_at_least(lo: int) -> Callable[[str], int]:
    """An ``argparse`` type: an integer ``>= lo``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {value}")
        return value

    parse.__name__ = f"integer >= {lo}"
    return parse


def float_at_least(
    lo: float, *, strict: bool = False, below: float | None = None
) -> Callable[[str], float]:
    """An ``argparse`` type: a finite number ``>= lo`` (``> lo`` if ``strict``), and
    ``< below`` if given."""
    what = f"{'above' if strict else 'of at least'} {lo:g}" + (
        f" and below {below:g}" if below is not None else ""
    )

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if (
            not math.isfinite(value)
            or value < lo
            or (strict and value == lo)
            or (below is not None and value >= below)
        ):
            raise argparse.ArgumentTypeError(f"must be a finite number {what}, got {text}")
        return value

    parse.__name__ = f"number {what}"
    return parse


def new_file(text: str) -> Path:
    """An ``argparse`` type: a file path that can be written: its directory exists and it
    is not a directory itself (checked before the work whose result it receives)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file path")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text}: its directory {parent} {what}")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: its directory {parent} is not writable")
    return path
