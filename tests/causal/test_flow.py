"""The flow runs end to end under Prefect (simulated market and real macro data); the CLI too."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.causal.__main__ import main


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SWARMKIT_CAUSAL__CALIBRATION_MARKETS", "1")
    monkeypatch.setenv("SWARMKIT_CAUSAL__BOOTSTRAP", "10")
    monkeypatch.setenv("SWARMKIT_CAUSAL__OUTPUT_DIR", str(tmp_path))
    return tmp_path


def test_flow_on_a_simulated_market(quick: Path) -> None:
    from flows.causal import causal

    out = causal(n_series=4, n_steps=400, seed=1)
    assert set(out["edges"]) == {"granger", "te", "pcmci", "varlingam", "pcmci_robust", "consensus"}
    assert 0.0 <= out["f1"]["consensus"] <= 1.0 and out["f1"]["pcmci"] >= 0.0
    assert out["first_hit"] == out["true_origin"]
    assert Path(out["files"]).exists() and Path(out["files"]).stat().st_size > 1000
    assert (Path(out["files"]).parent / "interventions.md").read_text().count("|") > 10
    # both graphs are reported: the discovery graph and the SCM graph of the interventions
    table = (Path(out["files"]).parent / "consensus.md").read_text()
    assert table.count("| yes |") == out["scm_edges"]
    assert table.count("**edge**") == out["edges"]["consensus"]
    assert 0.0 <= out["f1"]["scm_graph"] <= 1.0
    assert list(quick.glob("calibration/calibration-*.json"))  # the calibration is cached


def test_cli_on_real_macro_data_and_bad_file(
    quick: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["macro", "--target", "realgdp", "--out-dir", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "realgdp" in printed and (tmp_path / "m" / "graph.png").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("t,a,b\n" + "\n".join(f"{k},{k % 7},x" for k in range(150)))
    assert main(["analyze", str(bad)]) == 2
    assert "column 'b' is not numeric" in capsys.readouterr().err
