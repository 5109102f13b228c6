"""Input tables: read and validate a wide CSV/Parquet of prices or returns, standardize it.

A valid table has a time index (first column, or a column named by ``time_column``) and
one numeric column per series. Every problem is reported with the column (and where
useful the row) that caused it; nothing is changed on disk.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from apps.causal.exceptions import InputDataError
from apps.causal.records import FloatArray

MIN_ROWS = 100  # fewer observations than this cannot support lagged tests
MIN_SERIES = 2
MAX_SERIES = 200


@dataclass(slots=True)
class Panel:
    """Standardized returns ready for analysis."""

    names: list[str]
    index: list[str]
    data: FloatArray  # (T, n), each column mean 0, sd 1
    scale: FloatArray  # sd of each return series before standardizing
    kind: str  # "returns" or "prices" (prices were turned into log returns)


def read_table(path: Path | str, time_column: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame indexed by its time column."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = _read_csv(path)
        else:
            raise InputDataError(
                f"input file {path}: unsupported type {suffix!r} (use .csv or .parquet)"
            )
    except (ValueError, OSError) as err:
        if isinstance(err, InputDataError):
            raise
        raise InputDataError(f"input file {path} cannot be read: {err}") from err
    if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):  # a stored index
        frame = frame.reset_index()
    if frame.shape[1] == 0:
        raise InputDataError(f"input file {path} has no columns")
    if time_column is None:
        first = frame.columns[0]
        if not _looks_like_time(frame[first]):  # no time column: the rows' order is the time
            return frame.rename_axis("row")
        time_column = str(first)
    if time_column not in frame.columns:
        raise InputDataError(
            f"time column {time_column!r} not found; columns are {list(frame.columns)}",
            time_column,
        )
    return frame.set_index(time_column)


def _read_csv(path: Path) -> pd.DataFrame:
    """A comma-separated file, or one separated by ``;``, tab or ``|`` (sniffed from its header)."""
    frame = pd.read_csv(path)
    header = str(frame.columns[0]) if frame.shape[1] == 1 else ""
    sep = next((s for s in (";", "\t", "|") if s in header), ",")
    if sep != ",":
        frame = pd.read_csv(path, sep=sep)
    raw = pd.read_csv(path, sep=sep, header=None, nrows=1).iloc[0]  # names before pandas renames
    names = [str(v) for v in raw if not pd.isna(v)]
    dup = next((n for k, n in enumerate(names) if n in names[:k]), None)
    if dup is not None:  # pandas would silently call the second one "<name>.1"
        raise InputDataError(f"column name {dup!r} appears more than once", dup)
    return frame


def _looks_like_time(col: pd.Series) -> bool:
    """Dates, date strings, or strictly increasing numbers: a time column, not a series (a
    first series of integer prices, which goes up and down, stays a series)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return True
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return bool(col.is_monotonic_increasing and col.is_unique)
    return True  # strings (dates, quarters, labels): only a time column holds those first


def _time_order(index: pd.Index) -> pd.Index | None:
    """The index as sortable times (dates or numbers), or None when it is neither."""
    if pd.api.types.is_numeric_dtype(index) or pd.api.types.is_datetime64_any_dtype(index):
        return index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt in (None, "mixed"):  # one inferred format (fast), else element by element
            try:
                return pd.Index(pd.to_datetime(index, format=fmt))
            except (ValueError, TypeError, OverflowError):
                continue
    return None


def validate(frame: pd.DataFrame, kind: str = "auto") -> Panel:
    """Check a wide table (index: time, columns: series) and return standardized returns.

    ``kind``: ``"returns"``, ``"prices"`` (turned into log returns) or ``"auto"`` (prices
    when every value is positive and no column looks like returns).

    Raises:
        InputDataError: naming the column (and row) that is non-numeric, missing,
            constant, non-positive for prices, or when there are too few rows or series.
    """
    if len(frame) == 0:
        raise InputDataError(f"the table has no rows; need at least {MIN_ROWS} observations")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        raise InputDataError(f"time index has a duplicated value {str(dup)!r}")
    order = _time_order(frame.index)
    if order is not None and order.has_duplicates:  # e.g. "2021-01-02" and "2021-01-02 00:00"
        dup = frame.index[order.duplicated()][0]
        raise InputDataError(f"time index has a duplicated time {str(dup)!r}")
    if order is not None and not order.is_monotonic_increasing:
        frame = frame.iloc[np.argsort(order.to_numpy(), kind="stable")]  # rows in time order
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise InputDataError("column names are not unique")
    if not MIN_SERIES <= len(names) <= MAX_SERIES:
        raise InputDataError(f"need {MIN_SERIES}..{MAX_SERIES} series, got {len(names)}")
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            raise InputDataError(f"column {c!r} is boolean, not numeric", str(c))
        if not pd.api.types.is_numeric_dtype(col):
            bad = next((v for v in col if not _is_number(v)), col.iloc[0])
            raise InputDataError(f"column {c!r} is not numeric (e.g. value {bad!r})", str(c))
        missing = col.isna().to_numpy()
        if missing.any():
            row = str(frame.index[int(np.argmax(missing))])
            raise InputDataError(
                f"column {c!r} has {int(missing.sum())} missing values (first at {row!r})", str(c)
            )
        infinite = ~np.isfinite(col.to_numpy(dtype=float))
        if infinite.any():
            row = str(frame.index[int(np.argmax(infinite))])
            raise InputDataError(
                f"column {c!r} has {int(infinite.sum())} infinite values (first at {row!r})",
                str(c),
            )
    values = frame.to_numpy(dtype=float)
    if kind == "auto":
        kind = _guess_kind(values, names, frame.index)
    if kind == "prices":
        for k, c in enumerate(names):
            if (values[:, k] <= 0).any():
                raise InputDataError(f"column {c!r} has non-positive prices", c)
        values = np.diff(np.log(values), axis=0)
        index = [str(v) for v in frame.index[1:]]
    elif kind == "returns":
        index = [str(v) for v in frame.index]
    else:
        raise InputDataError(f"kind must be 'returns', 'prices' or 'auto', got {kind!r}")
    if len(values) < MIN_ROWS:
        raise InputDataError(f"need at least {MIN_ROWS} observations, got {len(values)}")
    scale = values.std(axis=0)
    for k, c in enumerate(names):
        if scale[k] <= 1e-12 * max(1.0, float(np.abs(values[:, k]).max())):
            raise InputDataError(f"column {c!r} is constant", c)
    data = (values - values.mean(axis=0)) / scale
    return Panel(names, index, data, scale, kind)


def _guess_kind(values: FloatArray, names: list[str], index: pd.Index) -> str:
    """``prices`` when every column is positive levels, ``returns`` when none is.

    A column of levels with a few non-positive values (a data error, not returns, which
    are negative about half the time), or a table mixing levels and returns, is an error
    naming the column: the kind cannot be guessed, ``kind`` must be given.
    """
    levels = [bool((v > 0).all() and np.median(np.abs(v)) > 0.5) for v in values.T]
    if all(levels):
        return "prices"
    for k, c in enumerate(names):
        v = values[:, k]
        bad = v <= 0
        if not levels[k] and np.median(np.abs(v)) > 0.5 and bad.mean() < 0.02:
            row = str(index[int(np.argmax(bad))])
            raise InputDataError(
                f"column {c!r} looks like prices but has {int(bad.sum())} non-positive "
                f"values (first at {row!r}); fix them, or pass kind='returns'",
                c,
            )
    if any(levels):
        first = names[levels.index(True)]
        other = names[levels.index(False)]
        raise InputDataError(
            f"column {first!r} looks like prices (positive levels) but {other!r} like "
            "returns; give every column the same kind, or pass kind='prices'/'returns'",
            first,
        )
    return "returns"


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def macro_panel() -> pd.DataFrame:
    """US quarterly macro data shipped with statsmodels (1959-2009), as levels by quarter.

    Real GDP, consumption, investment, government spending, disposable income, CPI, M1
    and the unemployment and T-bill rates (rates are in levels, so they are differenced
    as returns by :func:`macro_returns`).
    """
    from statsmodels.datasets import macrodata

    raw = macrodata.load_pandas().data
    index = [f"{int(y)}Q{int(q)}" for y, q in zip(raw["year"], raw["quarter"], strict=True)]
    cols = [
        "realgdp",
        "realcons",
        "realinv",
        "realgovt",
        "realdpi",
        "cpi",
        "m1",
        "unemp",
        "tbilrate",
    ]
    frame = raw[cols].copy()
    frame.index = pd.Index(index, name="quarter")
    return frame


def macro_returns() -> pd.DataFrame:
    """Quarterly growth (log differences) of the macro levels, differences of the rates."""
    levels = macro_panel()
    out = pd.DataFrame(index=levels.index[1:])
    for c in levels.columns:
        v = levels[c].to_numpy(dtype=float)
        out[c] = np.diff(v) if c in ("unemp", "tbilrate") else np.diff(np.log(v))
    out.index.name = "quarter"
    return out
