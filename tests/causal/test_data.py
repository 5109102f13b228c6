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


def _prices(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    return 100 * np.exp(_frame(rows, seed=seed).cumsum())


def test_unsorted_dates_are_put_in_time_order(tmp_path: Path) -> None:
    f = _prices()
    f.index = pd.Index(pd.date_range("2021-01-01", periods=len(f), freq="D"), name="date")
    f.sample(frac=1.0, random_state=0).to_csv(tmp_path / "shuffled.csv")  # e.g. newest first
    f.to_csv(tmp_path / "sorted.csv")
    shuffled = validate(read_table(tmp_path / "shuffled.csv"))
    ordered = validate(read_table(tmp_path / "sorted.csv"))
    assert shuffled.kind == "prices" and shuffled.index == ordered.index
    assert np.allclose(shuffled.data, ordered.data)


def test_same_time_written_twice_is_a_duplicate() -> None:
    f = _frame()
    dates = pd.date_range("2021-01-01", periods=len(f), freq="D").strftime("%Y-%m-%d")
    f.index = pd.Index([*dates[:-1], f"{dates[-2]}T00:00:00"])  # the same instant, other text
    with pytest.raises(InputDataError, match="duplicated time"):
        validate(f)


def test_table_without_time_column_keeps_every_series(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "noindex.csv", index=False)
    _prices().reset_index(drop=True).to_parquet(tmp_path / "noindex.parquet")
    for name, kind in (("noindex.csv", "returns"), ("noindex.parquet", "prices")):
        panel = validate(read_table(tmp_path / name))
        assert panel.names == ["s0", "s1", "s2"] and panel.kind == kind  # s0 is not the index


def test_semicolon_separated_csv(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "semi.csv", sep=";")
    assert validate(read_table(tmp_path / "semi.csv")).names == ["s0", "s1", "s2"]


def test_duplicated_column_name_in_csv_is_named(tmp_path: Path) -> None:
    f = _frame()
    f.columns = ["s0", "s1", "s0"]
    f.to_csv(tmp_path / "dup.csv")
    with pytest.raises(InputDataError, match="column name 's0' appears more than once") as err:
        read_table(tmp_path / "dup.csv")
    assert err.value.column == "s0"


def test_header_only_and_boolean_and_inf_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("date,a,b\n")
    with pytest.raises(InputDataError, match="no rows"):
        validate(read_table(tmp_path / "h.csv"))
    with pytest.raises(InputDataError, match="column 's1' is boolean") as err:
        validate(_frame().assign(s1=lambda f: f["s0"] > 0))
    assert err.value.column == "s1"
    f = _frame()
    f.iloc[7, 2] = np.inf
    with pytest.raises(
        InputDataError, match="column 's2' has 1 infinite values \\(first at '7'\\)"
    ):
        validate(f)


def test_prices_with_a_bad_value_or_mixed_with_returns_are_not_taken_for_returns() -> None:
    prices = _prices()
    prices.iloc[20, 1] = -1.0  # a data error in a price column: not returns
    with pytest.raises(InputDataError, match="column 's1' looks like prices") as err:
        validate(prices)
    assert err.value.column == "s1" and "'20'" in str(err.value)
    mixed = _prices().assign(s2=_frame()["s2"])
    with pytest.raises(InputDataError, match=r"'s0' looks like prices .* 's2' like returns"):
        validate(mixed)
    assert validate(mixed, "returns").kind == "returns"
    assert validate(_frame() * 100).kind == "returns"  # percent returns are still returns


def test_a_first_series_of_integer_prices_is_a_series_not_the_time_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    prices = 1000 + np.cumsum(rng.integers(-5, 6, size=(150, 3)), axis=0)
    path = tmp_path / "int_prices.csv"
    pd.DataFrame(prices, columns=["A", "B", "C"]).to_csv(path, index=False)
    frame = read_table(path)
    assert list(frame.columns) == ["A", "B", "C"]  # no series taken for the time index
    assert validate(frame).kind == "prices"
