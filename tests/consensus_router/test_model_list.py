"""The YAML model list: litellm's format, voter options, secrets resolved but never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from patterns.consensus_router import (
    MissingSecretError,
    ModelListError,
    load_model_list,
    parse_model_list,
)

YAML = """
model_list:
  - model_name: hosted
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/SWARMKIT_TEST_OPENAI_KEY
      input_cost_per_token: 1.5e-7
      output_cost_per_token: 6.0e-7
      timeout: 7
    model_info: {voter: {tier: 2, logprobs: true, prompt: "Q: {question}\\n{instructions}"}}
  - model_name: vaulted
    litellm_params: {model: anthropic/claude-x, api_key: secret/anthropic-key}
    model_info: {voter: {tier: 3}}
  - model_name: literal
    litellm_params: {model: openai/gpt-x, api_key: sk-literal-123456}
    model_info: {voter: {tier: 3}}
  - model_name: rules
    litellm_params: {model: pyvoter/rules}
    model_info: {voter: {tier: 1}}
  - model_name: backup
    litellm_params: {model: openai/gpt-y, api_key: sk-literal-backup}
    model_info: {voter: {enabled: false}}
router_settings:
  num_retries: 2
  fallbacks: [{hosted: [backup]}]
"""


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARMKIT_TEST_OPENAI_KEY", "sk-from-env-987")
    p = tmp_path / "models.yaml"
    p.write_text(YAML)
    return p


def test_voters_prices_and_options(path: Path) -> None:
    ml = load_model_list(path)
    assert [v.name for v in ml.voters] == ["hosted", "vaulted", "literal", "rules"]
    hosted = ml.voters[0]
    assert (hosted.input_cost_per_token, hosted.output_cost_per_token) == (1.5e-7, 6.0e-7)
    assert hosted.timeout_s == 7.0 and hosted.tier == 2 and hosted.logprobs
    assert hosted.price_per_call(100, 10) == pytest.approx(100 * 1.5e-7 + 10 * 6.0e-7)
    assert ml.voters[3].is_callable and ml.voters[3].callable_name == "rules"
    assert ml.router_settings["fallbacks"] == [{"hosted": ["backup"]}]
    assert ml.secret_references() == {"anthropic-key"}


def test_secrets_resolve_only_for_the_router(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_TEST_OPENAI_KEY", "sk-from-env-987")
    ml = load_model_list(path)
    shown = repr(ml) + str(ml.entries)
    assert "sk-literal-123456" not in shown and "sk-literal-backup" not in shown
    entries = ml.resolved_entries({"anthropic-key": SecretStr("sk-ant-555")})
    keys = {e["model_name"]: e["litellm_params"].get("api_key") for e in entries}
    assert keys == {
        "hosted": "sk-from-env-987",
        "vaulted": "sk-ant-555",
        "literal": "sk-literal-123456",
        "rules": None,
        "backup": "sk-literal-backup",
    }


def test_missing_secret_names_the_reference_only(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWARMKIT_TEST_OPENAI_KEY", raising=False)
    ml = load_model_list(path, check_env=False)  # validated for another environment
    with pytest.raises(MissingSecretError, match="SWARMKIT_TEST_OPENAI_KEY"):
        ml.resolved_entries({"anthropic-key": SecretStr("sk-ant-555")})
    monkeypatch.setenv("SWARMKIT_TEST_OPENAI_KEY", "sk-from-env-987")
    with pytest.raises(MissingSecretError) as info:
        ml.resolved_entries({})
    assert info.value.reference == "secret/anthropic-key" and "sk-" not in str(info.value)


def one(
    params: dict[str, object] | None = None, info: object = None, **top: object
) -> dict[str, object]:
    """A model list of one entry named 'a'."""
    entry: dict[str, object] = {
        "model_name": "a",
        "litellm_params": {"model": "openai/x", **(params or {})},
    }
    if info is not None:
        entry["model_info"] = info
    return {"model_list": [entry], **top}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"model_list": []}, "non-empty"),
        ({"model_list": [{"litellm_params": {"model": "openai/x"}}]}, "model_name"),
        ({"model_list": [{"model_name": "a", "litellm_params": {}}]}, "litellm_params.model"),
        (one(router_settings={"redis_host": "h"}), "unsupported router_settings"),
        (one({"input_cost_per_token": -1}), "negative"),
        (one({"timeout": 0}), "positive"),
        (one(info={"voter": False}), "no voter"),
        (one(info={"voter": {"weight": 2}}), "unknown voter options"),
        (one(info={"voter": {"tier": "high"}}), "integer"),
        (one(info={"voter": {"prompt": "Q: {answer}"}}), "names \\['answer'\\]"),
        (one(info={"voter": {"prompt": "Q: {question"}}), "malformed"),
    ],
)
def test_invalid_model_lists(data: dict[str, object], match: str) -> None:
    with pytest.raises(ModelListError, match=match):
        parse_model_list(data)


def test_extended_adds_voters_and_missing_file_is_an_error(path: Path, tmp_path: Path) -> None:
    ml = load_model_list(path).extended(
        [{"model_name": "extra", "litellm_params": {"model": "pyvoter/extra"}}]
    )
    assert ml.voters[-1].name == "extra" and ml.router_settings["num_retries"] == 2
    with pytest.raises(ModelListError, match="cannot read"):
        load_model_list(tmp_path / "absent.yaml")


def test_unset_env_reference_fails_at_load_naming_the_entry(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWARMKIT_TEST_OPENAI_KEY", raising=False)
    with pytest.raises(MissingSecretError, match=r"model_list\[0\] \(hosted\)") as info:
        load_model_list(path)
    assert info.value.reference == "os.environ/SWARMKIT_TEST_OPENAI_KEY"
    assert "api_key" in str(info.value) and "sk-" not in str(info.value)


@pytest.mark.parametrize("model", ["notaprovider/some-model", "no-such-model-anywhere"])
def test_unknown_provider_fails_at_load_naming_the_entry(
    model: str, path: Path, tmp_path: Path
) -> None:
    bad = YAML.replace("model: openai/gpt-y", f"model: {model}")
    target = tmp_path / "bad.yaml"
    target.write_text(bad)
    with pytest.raises(ModelListError, match=r"model_list\[4\] \(backup\): unknown provider"):
        load_model_list(target)
    # The same entries with a provider litellm knows load fine.
    assert len(load_model_list(path).entries) == 5


@pytest.mark.parametrize(
    ("info", "params", "match"),
    [
        ({"voter": {"extract": "answer is \\d+"}}, {}, "one group"),
        ({"voter": {"extract": "answer is (\\d+"}}, {}, "not a regex"),
        (None, {"max_tokens": 0}, "max_tokens"),
    ],
)
def test_voter_extract_and_max_tokens_are_checked(
    info: object, params: dict[str, object], match: str
) -> None:
    with pytest.raises(ModelListError, match=match):
        parse_model_list(one(params, info=info))
    ml = parse_model_list(one({"max_tokens": 40}, info={"voter": {"extract": "is (\\d+)"}}))
    assert ml.voters[0].max_tokens == 40 and ml.voters[0].extract == "is (\\d+)"


def test_priced_callables_name_their_cache_price_and_others_are_left_alone(tmp_path: Path) -> None:
    p = tmp_path / "models.yaml"
    p.write_text(
        """
model_list:
  - model_name: rules
    litellm_params: {model: pyvoter/rules, input_cost_per_token: 2.0e-9, output_cost_per_token: 3.0e-9}
  - model_name: free-rules
    litellm_params: {model: pyvoter/free}
  - model_name: hosted
    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-x, input_cost_per_token: 1.5e-7}
"""
    )
    params = {e["model_name"]: e["litellm_params"] for e in load_model_list(p).resolved_entries({})}
    # a callable has no prompt cache: a cached token costs what any prompt token costs
    assert params["rules"]["cache_read_input_token_cost"] == 2.0e-9
    assert params["rules"]["cache_creation_input_token_cost"] == 2.0e-9
    assert "cache_read_input_token_cost" not in params["free-rules"]
    # a hosted model keeps the cache price litellm knows for it
    assert "cache_read_input_token_cost" not in params["hosted"]


def test_demo_and_local_pools_register_without_litellm_warnings() -> None:
    import logging

    from patterns.consensus_router import VoterPool, local_llm
    from patterns.consensus_router.demo import DEMO_MODEL_LIST, demo_callables

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("LiteLLM")
    logger.addHandler(handler)
    try:
        VoterPool(load_model_list(DEMO_MODEL_LIST), callables=demo_callables())
        entry = local_llm.model_entry("probe", "http://127.0.0.1:9/v1", "Q: {question}\nA:")
        VoterPool(parse_model_list({"model_list": [entry]}))
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records if "register_model" in r.getMessage()] == []
