"""Crash onset and first hit are detected from the returns alone (never from the truth).

Markets come from :mod:`apps.causal.simulate` with seeds 50000+ and 51000+ (the bench
uses 1..30 and 999, the calibration 900000+, the detector was designed on 40000..40059).
Measured here: on 20 markets with a clear crash (first hit of 14 sds) the detector puts
the onset within 2 steps of the truth and names the true first hit on 18 (0.90); on 20
default markets (first hit of 8 sds among Student-t(4) shocks with GARCH) on 9 (0.45),
with the true event among the three listed candidates on 16 (0.80). The default
market's crash is often not its largest fall even relative to the simulator's true
volatilities (the largest true standardized innovation was the crash's on 37% of
design markets), so no detector that reads only the returns can do much better there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.causal.__main__ import main
from apps.causal.analysis import Onset, detect_onset, resolve_crash_choice
from apps.causal.data import read_table, validate
from apps.causal.exceptions import InputDataError
from apps.causal.simulate import Market, MarketSpec, simulate_market

SHAPES = ((4, 400), (7, 800), (12, 1500), (16, 600), (9, 300))  # (series, steps)
MARKETS = 20


def _markets(base: int, **spec: float) -> list[Market]:
    out = []
    for k in range(MARKETS):
        n, steps = SHAPES[k % len(SHAPES)]
        density = (1.0, 2.0, 3.0)[k % 3]
        s = MarketSpec(n_series=n, n_steps=steps, density=density, seed=base + k, **spec)  # type: ignore[arg-type]
        out.append(simulate_market(s, replications=10))  # the true effects are not used
    return out


def _right(o: Onset, m: Market) -> bool:
    return o.step is not None and abs(o.step - m.crash_start) <= 2 and o.first_hit == m.origin


def _listed(o: Onset, m: Market) -> bool:
    return any(abs(e.step - m.crash_start) <= 2 and e.series == m.origin for e in o.candidates)


def test_clear_crashes_are_found_with_their_first_hit() -> None:
    markets = _markets(51000, crash_size=14.0)
    found = [detect_onset(m.data, m.names) for m in markets]
    rate = np.mean([_right(o, m) for o, m in zip(found, markets, strict=True)])
    misses = [m.spec.seed for o, m in zip(found, markets, strict=True) if not _right(o, m)]
    assert rate >= 0.8, f"onset+first hit right on {rate:.2f}; missed seeds {misses}"
    assert all(o.found for o in found)


def test_default_markets_right_or_listed() -> None:
    markets = _markets(50000)
    found = [detect_onset(m.data, m.names) for m in markets]
    right = np.mean([_right(o, m) for o, m in zip(found, markets, strict=True)])
    listed = np.mean([_listed(o, m) for o, m in zip(found, markets, strict=True)])
    assert right >= 0.35, f"onset+first hit right on {right:.2f} (measured 0.45)"
    assert listed >= 0.7, f"true crash among the candidates on {listed:.2f} (measured 0.80)"


def _tester_csv(tmp_path: Path, n: int, steps: int) -> Path:
    """The tester's file: ``python -m apps.causal simulate --series n --steps steps --seed 3``."""
    path = tmp_path / f"market{n}.csv"
    assert (
        main(
            [
                "simulate",
                "--series",
                str(n),
                "--steps",
                str(steps),
                "--seed",
                "3",
                "--out",
                str(path),
            ]
        )
        == 0
    )
    return path


@pytest.mark.parametrize(("n", "steps", "crash"), [(8, 1000, 700), (6, 500, 350)])
def test_tester_cases_through_the_loader(tmp_path: Path, n: int, steps: int, crash: int) -> None:
    """Regression: the old window gave A05@614 and A04@0 (a series with no effect).

    In both files another series has a larger fall relative to its volatility than the
    crash (A07 at 679; A03 at 446), so the detector's top pick is that fall; the true
    event (A05 at ``crash``) must be listed as crash-like, and choosing its onset (by
    time label) or its first hit must recover the other half.
    """
    path = _tester_csv(tmp_path, n, steps)
    assert f"first hit: A05 at t={crash}" in path.with_suffix(".truth.txt").read_text()
    panel = validate(read_table(path))
    o = detect_onset(panel.data, panel.names)
    assert o.found and o.step not in (0, 614)
    assert any(
        e.step == crash and panel.names[e.series] == "A05" and e.shock <= -o.threshold
        for e in o.candidates
    )
    by_onset = resolve_crash_choice(panel.names, panel.index, str(crash))
    chosen = detect_onset(panel.data, panel.names, onset=by_onset.onset)
    assert (chosen.step, panel.names[chosen.first_hit or 0]) == (crash, "A05")
    assert chosen.how.startswith("onset given by the user")
    by_hit = resolve_crash_choice(panel.names, panel.index, first_hit="A05")
    chosen = detect_onset(panel.data, panel.names, first_hit=by_hit.first_hit)
    assert chosen.step == crash and "first hit given" in chosen.how


def test_white_noise_has_no_crash(tmp_path: Path) -> None:
    rng = np.random.default_rng(52000)
    noise = [rng.normal(size=(1000, 8)) for _ in range(10)]
    found = [detect_onset(x, [f"s{k}" for k in range(8)]) for x in noise]
    assert sum(o.found for o in found) <= 1
    path = tmp_path / "noise.csv"
    pd.DataFrame(noise[0], columns=[f"s{k}" for k in range(8)]).rename_axis("t").to_csv(path)
    panel = validate(read_table(path))
    o = detect_onset(panel.data, panel.names)
    assert (o.found, o.step, o.first_hit) == (False, None, None)
    assert o.how.startswith("no crash found")


def test_rise_is_fall_and_bad_choices() -> None:
    rng = np.random.default_rng(52001)
    x = rng.normal(size=(600, 3))
    x[400, 1] = 12.0  # a jump up in a series whose rise is the bad move (unemployment)
    names = ["gdp", "unemp", "rate"]
    assert not detect_onset(x, names).found
    o = detect_onset(
        x, names, rise_is_fall=resolve_crash_choice(names, [], rise_is_fall=["unemp"]).rise_is_fall
    )
    assert (o.step, o.first_hit, o.found) == (400, 1, True)
    times = [str(k) for k in range(600)]
    with pytest.raises(InputDataError, match="'inflation' is not a column"):
        resolve_crash_choice(names, times, first_hit="inflation")
    with pytest.raises(InputDataError, match="onset 'soon' is neither a time label"):
        resolve_crash_choice(names, times, onset="soon")
    with pytest.raises(InputDataError, match="onset row 900 is outside"):
        resolve_crash_choice(names, times, onset=900)


def test_cli_reports_no_crash_and_a_user_chosen_onset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARMKIT_CAUSAL__CALIBRATION_MARKETS", "1")
    monkeypatch.setenv("SWARMKIT_CAUSAL__BOOTSTRAP", "5")
    monkeypatch.setenv("SWARMKIT_CAUSAL__OUTPUT_DIR", str(tmp_path))
    rng = np.random.default_rng(52002)
    path = tmp_path / "noise.csv"
    pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd")).rename_axis("t").to_csv(path)
    assert main(["analyze", str(path), "--out-dir", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "no crash found" in out and "No do-intervention" in out and "do(" not in out
    assert (
        main(
            [
                "analyze",
                str(path),
                "--onset",
                "120",
                "--first-hit",
                "c",
                "--out-dir",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "onset and first hit given by the user" in out and "do(c[t0] = 0), t0 = step 120" in out
    assert main(["analyze", str(path), "--first-hit", "zz"]) == 2
    assert "first hit 'zz' is not a column" in capsys.readouterr().err
