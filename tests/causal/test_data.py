"""Bad inputs error clearly, naming the column; good ones are standardized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.causal.analysis import resolve_target
from apps.causal.data import macro_returns, read_table, validate
from apps.causal.exceptions import InputDataError


def _frame(rows: int = 200, cols: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.standard_normal((rows, cols)) * 0.01,
        columns=[f"s{k}" for k in range(cols)],
        index=pd.Index(range(rows), name="t"),
    )


def test_good_returns_are_standardized() -> None:
    panel = validate(_frame())
    assert panel.kind == "returns" and panel.names == ["s0", "s1", "s2"]
    assert np.allclose(panel.data.std(axis=0), 1.0)


def test_prices_become_log_returns() -> None:
    prices = 100 * np.exp(_frame().cumsum())
    panel = validate(prices, "prices")
    assert panel.data.shape == (199, 3)


@pytest.mark.parametrize(
    ("mutate", "match", "column"),
    [
        (
            lambda f: f.assign(s1=np.where(np.arange(len(f)) == 7, np.nan, f["s1"])),
            "column 's1' has 1 missing",
            "s1",
        ),
        (lambda f: f.assign(s2="x"), "column 's2' is not numeric", "s2"),
        (lambda f: f.assign(s0=0.5), "column 's0' is constant", "s0"),
        (lambda f: f.iloc[:50], "at least 100 observations", None),
        (lambda f: f[["s0"]], "need 2..200 series", None),
    ],
)
def test_bad_input_names_what_is_wrong(mutate, match: str, column: str | None) -> None:
    with pytest.raises(InputDataError, match=match) as err:
        validate(mutate(_frame()))
    assert err.value.column == column


def test_nonpositive_prices_name_the_column() -> None:
    prices = 100 * np.exp(_frame().cumsum())
    prices.iloc[10, 1] = -1.0
    with pytest.raises(InputDataError, match="column 's1' has non-positive prices"):
        validate(prices, "prices")


def test_files_csv_and_parquet_and_errors(tmp_path: Path) -> None:
    f = _frame()
    f.to_csv(tmp_path / "r.csv")
    f.to_parquet(tmp_path / "r.parquet")
    assert np.allclose(
        validate(read_table(tmp_path / "r.csv")).data,
        validate(read_table(tmp_path / "r.parquet")).data,
    )
    with pytest.raises(InputDataError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(InputDataError, match="unsupported type"):
        read_table(tmp_path / "x.xlsx")
    with pytest.raises(InputDataError, match="time column 'when' not found"):
        read_table(tmp_path / "r.csv", time_column="when")
    before = (tmp_path / "r.csv").read_bytes()
    bad = f.assign(s1="oops")
    bad.to_csv(tmp_path / "bad.csv")
    with pytest.raises(InputDataError, match="column 's1'"):
        validate(read_table(tmp_path / "bad.csv"))
    assert (tmp_path / "r.csv").read_bytes() == before  # nothing stored is touched


def test_unknown_target_is_named() -> None:
    with pytest.raises(InputDataError, match="target 'zz' is not a column"):
        resolve_target(["a", "b"], "zz")
    assert resolve_target(["a", "b"], "b") == 1 and resolve_target(["a", "b"], None) == 1


def test_statsmodels_macro_data_is_a_valid_panel() -> None:
    panel = validate(macro_returns(), "returns")
    assert "realgdp" in panel.names and panel.data.shape[0] == 202
