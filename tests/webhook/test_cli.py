"""``python -m deployments.webhook``: --help, PREFECT_API_URL checks, settings errors naming the variable."""

from __future__ import annotations

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.webhook.__main__ import ConfigurationError, check_api_url, main
from deployments.webhook.settings import WebhookSettings


def test_help_lists_every_setting_with_its_variable_and_default_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m deployments.webhook")
    for name in WebhookSettings.model_fields:
        assert f"SWARMKIT_WEBHOOK__{name.upper()}" in out
    assert "SWARMKIT_WEBHOOK__HOST  (default: 127.0.0.1)" in out and "0.0.0.0" in out
    assert "SWARMKIT_WEBHOOK__GENERIC_WINDOW_S  (default: 300.0)" in out
    assert "PREFECT_API_URL  (required)" in out


@pytest.mark.parametrize("mode", ["event", "run-deployment"])
def test_a_missing_prefect_api_url_exits_2_naming_it(
    mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARMKIT_WEBHOOK__TOKEN", "t")
    monkeypatch.setenv("SWARMKIT_WEBHOOK__MODE", mode)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main([]) == 2
    assert "PREFECT_API_URL is not set" in capsys.readouterr().err


def test_an_api_url_without_api_exits_2_with_the_url_to_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARMKIT_WEBHOOK__TOKEN", "t")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/"}):
        assert main([]) == 2
    err = capsys.readouterr().err
    assert "has no /api path" in err and "http://127.0.0.1:9/api" in err


def test_the_api_path_check_accepts_api_urls_and_a_proxy_that_answers_like_prefect() -> None:
    calls: list[str] = []

    def ui(request: httpx.Request) -> httpx.Response:  # the UI: an HTML page for every path
        calls.append(request.url.path)
        return httpx.Response(200, text="<html></html>")

    def proxied_api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=True)

    assert check_api_url("http://h:4200/api", httpx.MockTransport(ui)) == "http://h:4200/api"
    cloud = "https://api.prefect.cloud/api/accounts/a/workspaces/w"
    assert check_api_url(cloud, httpx.MockTransport(ui)) == cloud
    assert calls == []  # no request when the path has /api
    with pytest.raises(ConfigurationError, match=r"http://h:4200/api \(Prefect's client"):
        check_api_url("http://h:4200", httpx.MockTransport(ui))
    assert calls == ["/health"]
    assert check_api_url("http://proxy/prefect", httpx.MockTransport(proxied_api))
    with pytest.raises(ConfigurationError, match="not an http"):
        check_api_url("127.0.0.1:4200/api")


def test_a_bad_setting_exits_2_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWARMKIT_WEBHOOK__PORT", "abc")
    monkeypatch.setenv("SWARMKIT_WEBHOOK__DEPLOYMENT", "no-slash")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "SWARMKIT_WEBHOOK__PORT" in err and "'abc'" in err
    assert "SWARMKIT_WEBHOOK__DEPLOYMENT" in err
