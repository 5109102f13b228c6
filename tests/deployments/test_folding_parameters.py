"""The folding deployment runs with -p fasta=... as well as -p sequence=... (merged parameters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployments.serve import load_deployment_specs, load_flow
from tasks.folding import read_input


def _merged(**given: Any) -> dict[str, Any]:
    """The parameters of a run of the deployment with ``given`` (Prefect merges them over its
    defaults), validated by the flow as a run would be."""
    (spec,) = [s for s in load_deployment_specs() if s["name"] == "folding"]
    flow = load_flow(spec["entrypoint"])
    params: dict[str, Any] = flow.validate_parameters({**(spec.get("parameters") or {}), **given})
    return params


def _chains(params: dict[str, Any]) -> list[str]:
    got = read_input.fn(params.get("sequence"), params.get("fasta"), params["alphabet"], 200)
    return [c.hp for c in got]


def test_fasta_can_be_given_to_the_deployment(tmp_path: Path) -> None:
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">a\nHPHPPHHPHP\n>b\nHHPPHH\n")
    assert _chains(_merged(fasta=str(fasta))) == ["HPHPPHHPHP", "HHPPHH"]


def test_sequence_can_be_given_to_the_deployment() -> None:
    assert _chains(_merged(sequence="HPPHHP")) == ["HPPHHP"]


def test_both_or_neither_is_named() -> None:
    with pytest.raises(ValueError, match="both were given"):
        _chains(_merged(sequence="HPPH", fasta="x.fasta"))
    with pytest.raises(ValueError, match="neither was given"):
        _chains(_merged())
