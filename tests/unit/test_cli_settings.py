"""Every command line names a bad ``SWARMKIT_*`` variable in one line and exits 2, before any work
(the shared formatter in ``patterns.core.cli``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

# a check across fields names every variable set in the group
FOLDING_T_MAX = "SWARMKIT_FOLDING__T_MAX='0.1'): t_max=0.1 must be above t_min=0.25"

CASES = [  # module, argv ({t}: a temporary directory holding edges.csv), variable, value, line
    ("apps.pagerank", "run {t}/edges.csv --out {t}", "SWARMKIT_PAGERANK__ALPHA", "2", "Input should be less than 1"),
    ("apps.pagerank", "run {t}/edges.csv --out {t}", "SWARMKIT_PAGERANK__BACKEND", "dsak", "Input should be 'inprocess' or 'dask'"),
    ("apps.pagerank", "run {t}/edges.csv --out {t}", "SWARMKIT_PAGERANK__EXCLUDE_PASSAGES", "northwest", "not JSON"),
    ("apps.selfheal", "run --scenario bad-image-tag --memory {t}/m", "SWARMKIT_SELFHEAL__MIN_CONFIDENCE", "-3", "Input should be greater than or equal to 0"),
    ("apps.selfheal", "run --scenario bad-image-tag --memory {t}/m", "SWARMKIT_SELFHEAL__MODE", "aply", "Input should be 'dry-run' or 'apply'"),
    ("apps.selfheal", "run --scenario bad-image-tag --memory {t}/m", "SWARMKIT_K8S__BACKEND", "rael", "Input should be 'sim' or 'real'"),
    ("apps.selfheal", "run --scenario bad-image-tag --memory {t}/m", "SWARMKIT_K8S__WRITE_NAMESPACES", "shop", "not JSON"),
    ("apps.selfheal", "run --scenario bad-image-tag --memory {t}/m", "SWARMKIT_SELFHEAL__ALLOWED_ACTIONS", '["rollout_undoo"]', "unknown action type"),
    ("apps.causal", "simulate --out {t}/m.csv", "SWARMKIT_CAUSAL__MAX_LAG", "-1", "Input should be greater than or equal to 1"),
    ("apps.causal", "simulate --out {t}/m.csv", "SWARMKIT_CAUSAL__ALPHA", "x", "Input should be a valid number"),
    ("apps.folding", "fold --sequence HPPH --out {t}", "SWARMKIT_FOLDING__AGENTS", "0", "Input should be greater"),
    ("apps.folding", "fold --sequence HPPH --out {t}", "SWARMKIT_FOLDING__LATTICE", "4d", "Input should be"),
    ("apps.folding", "fold --sequence HPPH --out {t}", "SWARMKIT_FOLDING__T_MAX", "0.1", FOLDING_T_MAX),
    ("patterns.byzantine", "init {t}/c", "SWARMKIT_BYZANTINE__BATCH_MAX_REQUESTS", "0", "Input should be greater"),
    ("patterns.byzantine", "submit {t}/c get k", "SWARMKIT_QUIC__CONNECT_TIMEOUT_S", "-1", "Input should be greater"),
]  # fmt: skip


@pytest.mark.parametrize(("module", "argv", "var", "value", "line"), CASES)
def test_a_bad_variable_is_one_line_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    argv: str,
    var: str,
    value: str,
    line: str,
) -> None:
    (tmp_path / "edges.csv").write_text("src,dst\n0,1\n1,2\n2,0\n")
    monkeypatch.setenv(var, value)
    main = importlib.import_module(f"{module}.__main__").main
    assert main(argv.format(t=tmp_path).split()) == 2
    err = capsys.readouterr().err
    if line == FOLDING_T_MAX:
        assert err.startswith("error: SWARMKIT_FOLDING__* (") and line in err
    else:
        assert err.startswith(f"error: {var}={value!r}: {line}")
    assert err.count("\n") == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / "m").exists()  # no work done
