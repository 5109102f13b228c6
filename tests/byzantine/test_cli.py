"""``python -m patterns.byzantine``: ports checked at init, bad input exits 2 in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patterns.byzantine.__main__ import main, parse_ops
from patterns.byzantine.clusterfile import ClusterFile, init_cluster
from patterns.core.exceptions import ConfigError


def test_init_refuses_ports_outside_the_udp_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "c"), "--base-port", "70000"]) == 2
    assert "base_port=70000" in capsys.readouterr().err and not (tmp_path / "c").exists()
    # 4 replicas + 1 client on 65531..65535 fit; one more port does not
    assert main(["init", str(tmp_path / "c"), "--base-port", "65532"]) == 2
    assert "must be in 1..65531" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "c"), "--base-port", "65531"]) == 0
    assert main(["init", str(tmp_path / "d"), "--base-port", "0"]) == 2
    with pytest.raises(ConfigError, match=r"ports\[2\]=0 is outside 1..65535"):
        init_cluster(tmp_path / "e", 1, 0, ports=[7000, 7001, 0, 7003])


def test_a_cluster_file_with_a_bad_port_is_refused_on_load(tmp_path: Path) -> None:
    cf = init_cluster(tmp_path / "c", 1, 1, base_port=7400)
    data = json.loads(cf.path.read_text())
    data["addresses"]["2"][1] = 70002
    cf.path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"node 2's port=70002 is outside 1\.\.65535"):
        ClusterFile.load(tmp_path / "c")
    assert main(["serve", str(tmp_path / "c")]) == 2


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (["put", "k"], "operation 1 ('put k'): missing argument(s)"),
        (["get", "k", "frob", "x"], "operation 2 ('frob x'): unknown verb"),
    ],
)
def test_a_bad_operation_exits_2_before_contacting_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ops: list[str], message: str
) -> None:
    assert main(["submit", str(tmp_path / "nowhere"), *ops]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {message}; operations are put K V | get K | delete K\n"
    with pytest.raises(ValueError, match="operations are"):
        parse_ops(ops)


def test_init_takes_protocol_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMKIT_BYZANTINE__BATCH_MAX_REQUESTS", "7")
    monkeypatch.setenv("SWARMKIT_BYZANTINE__F", "2")
    assert main(["init", str(tmp_path / "c")]) == 0
    cf = ClusterFile.load(tmp_path / "c")
    assert cf.settings.batch_max_requests == 7 and cf.config.f == 2
    assert main(["init", str(tmp_path / "d"), "--f", "1"]) == 0
    assert ClusterFile.load(tmp_path / "d").config.f == 1
