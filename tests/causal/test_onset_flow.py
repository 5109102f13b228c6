"""The flow passes the crash choice through (onset, first hit) and reports "no crash found"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SWARMKIT_CAUSAL__CALIBRATION_MARKETS", "1")
    monkeypatch.setenv("SWARMKIT_CAUSAL__BOOTSTRAP", "5")
    monkeypatch.setenv("SWARMKIT_CAUSAL__LIVE_ROUTER", "false")
    monkeypatch.setenv("SWARMKIT_CAUSAL__OUTPUT_DIR", str(tmp_path))
    return tmp_path


def test_flow_takes_the_users_onset_and_reports_no_crash(quick: Path) -> None:
    from flows.causal import causal

    out = causal(n_series=4, n_steps=400, seed=2, onset=250, first_hit="A01")
    assert (out["crash_start"], out["first_hit"]) == (250, "A01")
    assert out["onset_how"] == "onset and first hit given by the user"
    table = (Path(out["files"]).parent / "interventions.md").read_text()
    assert "do(A01[t0] = 0), t0 = step 250" in table

    noise = quick / "noise.csv"
    frame = pd.DataFrame(np.random.default_rng(52003).normal(size=(400, 4)), columns=list("wxyz"))
    frame.rename_axis("t").to_csv(noise)
    out = causal(source=str(noise), target="z")
    assert out["first_hit"] is None and out["crash_start"] is None and out["effects"] == {}
    assert out["onset_how"].startswith("no crash found")
    table = (Path(out["files"]).parent / "interventions.md").read_text()
    assert "No do-intervention" in table and "do(" not in table
