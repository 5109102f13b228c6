"""Outputs (JSON, PDB-like text, PNGs), the CLI, the tasks and the flow with its artifacts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from apps.folding.__main__ import main
from apps.folding.exceptions import FoldFormatError, SequenceError
from apps.folding.render import pdb_text, read_fold, write_outputs
from apps.folding.sequence import parse_sequence
from apps.folding.settings import FoldingSettings, get_folding_settings
from apps.folding.swarm import fold, lie_mix
from flows.folding import folding
from tasks.folding import read_input

SEQ = "HPHPPHHPHPPHPHHPPHPH"


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    s = FoldingSettings(agents=2, temperatures=4, epochs=2, budget_moves=2_000_000)
    return fold(parse_sequence(SEQ, name="S1-1"), s, seed=1, byzantine=lie_mix(3), isolation="task")


def test_files_are_written_and_the_json_re_scores(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = write_outputs(report, tmp_path, best_known=-9)
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    data = read_fold(paths["json"])
    assert data["energy"] == report.energy and len(data["coords"]) == 20
    assert set(data["liars"]) == {"agent-2", "agent-3", "agent-4"}
    data["coords"][5] = data["coords"][3]  # tamper: a crossing
    paths["json"].write_text(json.dumps(data))
    with pytest.raises(FoldFormatError, match="does not re-score"):
        read_fold(paths["json"])
    with pytest.raises(FoldFormatError, match="cannot read"):
        read_fold(tmp_path / "nope.json")


def test_pdb_like_text() -> None:
    text = pdb_text("HPH", [[0, 0, 0], [1, 0, 0], [1, 1, 0]], "t", "MKV")
    atoms = [ln for ln in text.splitlines() if ln.startswith("ATOM")]
    assert len(atoms) == 3 and " HYD " in atoms[0] and " POL " in atoms[1]
    assert atoms[1][30:38].strip() == "3.800"  # x of residue 2 in Å
    assert text.count("CONECT") == 2 and "REMARK   2 SEQUENCE MKV" in text


def test_cli_folds_and_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMKIT_FOLDING__ISOLATION", "task")
    assert main(["fold", "--sequence", "HPHXPH"]) == 2
    assert "position 4" in capsys.readouterr().err
    assert main(["fold", "--sequence", SEQ, "--agents", "0"]) == 2
    assert "agents" in capsys.readouterr().err
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">a\nHPHPPHHPH\n>b\nMKVLAIV\n")
    rc = main(
        [
            "fold",
            "--fasta",
            str(fasta),
            "--budget",
            "200000",
            "--epochs",
            "1",
            "--agents",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "a (9 residues, 2d)" in out and "b (7 residues, 2d)" in out
    assert (tmp_path / "o" / "a-2d.json").exists()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_FOLDING__AGENTS", "7")
    monkeypatch.setenv("SWARMKIT_FOLDING__LATTICE", "3d")
    s = get_folding_settings(budget_moves=5000)
    assert (s.agents, s.lattice.dim, s.budget_moves) == (7, 3, 5000)


def test_read_input_task() -> None:
    assert read_input.fn(SEQ, None, "auto", 200)[0].hp == SEQ
    # the flow names a sequence= chain after its letters, as the CLI does: two runs into one
    # output directory keep both
    other = "HHPPHHPP"
    names = {read_input.fn(s, None, "auto", 200)[0].name for s in (SEQ, other)}
    assert len(names) == 2 and other in names
    with pytest.raises(ValueError, match="exactly one"):
        read_input.fn(None, None, "auto", 200)
    with pytest.raises(SequenceError, match="position 2"):
        read_input.fn("HZ H", None, "auto", 200)


def test_flow_run_leaves_files_and_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMKIT_FOLDING__TEMPERATURES", "3")
    monkeypatch.setenv("SWARMKIT_FOLDING__EPOCHS", "2")
    monkeypatch.setenv("SWARMKIT_FOLDING__ISOLATION", "task")
    out = folding(
        sequence=SEQ, agents=2, budget_moves=400_000, byzantine=2, output_dir=str(tmp_path)
    )
    row = out["chains"][0]
    assert row["energy"] <= -5 and row["liars"] == "agent-2, agent-3"
    assert Path(row["json"]).exists()

    async def keys() -> set[str]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="folding-"))
            )
        return {a.key for a in arts if a.key}

    found = asyncio.run(keys())
    key = f"folding-{SEQ.lower()}"  # the chain is named after its letters
    assert {
        "folding-runs",
        key,
        f"{key}-fold",
        f"{key}-energy",
        f"{key}-verdicts",
    } <= found


def test_settings_reject_an_inverted_ladder() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"t_max=0\.2 must be above t_min=0\.5"):
        FoldingSettings(t_min=0.5, t_max=0.2)
    with pytest.raises(ValidationError, match="budget_moves"):
        FoldingSettings(budget_moves=10)
