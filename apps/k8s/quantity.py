"""Kubernetes resource quantities: parse ``"250m"``, ``"1.5Gi"``, ``"123456n"`` and format them."""

from __future__ import annotations

import functools

from patterns.core.exceptions import ConfigError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
MIB = 2**20  # bytes in a mebibyte


@functools.lru_cache(maxsize=4096)
def parse_quantity(value: str | int | float) -> float:
    """A quantity as a plain number (cores for CPU, bytes for memory)."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    if text and text[-1] in _DECIMAL and not text[-1].isdigit():
        return _number(text[:-1], value) * _DECIMAL[text[-1]]
    if "e" in text.lower():
        return _number(text, value)
    return _number(text, value)


def _number(text: str, original: object) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"invalid quantity {original!r}") from err


def cpu_millicores(value: str | int | float | None) -> float:
    """CPU quantity in millicores (``"250m"`` -> 250, ``"2"`` -> 2000); None -> 0."""
    return 0.0 if value is None else parse_quantity(value) * 1000.0


def memory_bytes(value: str | int | float | None) -> float:
    """Memory quantity in bytes (``"256Mi"`` -> 268435456); None -> 0."""
    return 0.0 if value is None else parse_quantity(value)


def format_cpu(millicores: float) -> str:
    """Millicores as a quantity string (``250`` -> ``"250m"``)."""
    return f"{round(millicores)}m"


def format_memory(nbytes: float) -> str:
    """Bytes as a quantity string in Mi (``268435456`` -> ``"256Mi"``)."""
    mib = nbytes / MIB
    return f"{round(mib)}Mi" if abs(mib - round(mib)) < 1e-9 else f"{round(nbytes / 1024)}Ki"
