"""Errors of the causal app.

Hierarchy::

    CausalError
    ├── InputDataError      bad input table (the column / row is named); permanent
    └── MethodError         a discovery method could not run on this data; permanent
"""

from __future__ import annotations


class CausalError(Exception):
    """Base class of the causal app's errors."""


class InputDataError(CausalError, ValueError):
    """The input table cannot be analysed; the message names the column or row."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class MethodError(CausalError, RuntimeError):
    """A discovery method could not run on this data (its voter abstains)."""
