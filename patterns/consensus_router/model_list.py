"""The voter pool's model list, in litellm's Router/proxy format, loaded from YAML."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]  # stubs are optional
from pydantic import SecretStr

from patterns.consensus_router.exceptions import MissingSecretError, ModelListError

ENV_PREFIX = "os.environ/"  # litellm's own reference to an environment variable
SECRET_PREFIX = "secret/"  # a named secret, e.g. a Prefect Secret block resolved in tasks/
CALLABLE_PROVIDER = "pyvoter"  # litellm provider prefix of Python-callable voters
SECRET_FIELDS = frozenset({"api_key", "aws_secret_access_key", "azure_ad_token", "client_secret"})
TEMPLATE_FIELDS = frozenset({"question", "instructions", "labels", "payload"})
VOTER_OPTIONS = frozenset({"tier", "prompt", "system_prompt", "logprobs", "enabled", "extract"})
ROUTER_OPTIONS = frozenset(
    {
        "num_retries",
        "retry_after",
        "timeout",
        "fallbacks",
        "default_fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "max_fallbacks",
        "allowed_fails",
        "cooldown_time",
        "disable_cooldowns",
        "routing_strategy",
        "enable_weighted_failover",
    }
)


@dataclass(frozen=True, slots=True)
class VoterSpec:
    """One voter: a model group of the model list and its voting options.

    Attributes:
        name: the ``model_name`` (the Router's model group).
        model: litellm model string of its first deployment.
        input_cost_per_token: USD per prompt token (litellm's field; 0 when unset).
        output_cost_per_token: USD per completion token (0 when unset).
        timeout_s: this voter's deadline in seconds, or None for the settings' default.
        tier: explicit cascade tier (lower is asked first), or None to rank by price.
        prompt: prompt template with ``{question}`` and ``{instructions}``, or None.
        system_prompt: system message, or None for the default.
        logprobs: ask for token log-probabilities and report them as confidence.
        is_callable: a Python-callable voter behind the ``pyvoter`` custom provider.
        deployments: deployments in the group (the Router balances and fails over).
        extract: regular expression with one group: the answer is the group's text in
            the reply's last match (chain-of-thought replies); no match is MALFORMED.
        max_tokens: this voter's completion cap (``litellm_params.max_tokens``), or None
            for the settings' default.
    """

    name: str
    model: str
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    timeout_s: float | None = None
    tier: int | None = None
    prompt: str | None = None
    system_prompt: str | None = None
    logprobs: bool = False
    is_callable: bool = False
    deployments: int = 1
    extract: str | None = None
    max_tokens: int | None = None

    @property
    def callable_name(self) -> str:
        """The registered function name of a callable voter (the model after the prefix)."""
        return self.model.split("/", 1)[1] if self.is_callable else ""

    def price_per_call(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated USD of one call of the given size."""
        return (
            self.input_cost_per_token * prompt_tokens
            + self.output_cost_per_token * completion_tokens
        )


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ModelListError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError as err:
        raise ModelListError(f"{what} must be a number, got {value!r}") from err
    if number < 0:
        raise ModelListError(f"{what} must not be negative, got {number}")
    return number


def check_provider(model: str, params: Mapping[str, Any], where: str) -> str:
    """The litellm provider of ``model``; an unknown one is refused here, not at the first call.

    ``pyvoter/NAME`` and providers registered in ``litellm.custom_provider_map`` count
    as known; anything else must be one litellm itself resolves (a ``provider/`` prefix
    it lists, or a bare model name in its cost map).

    Raises:
        ModelListError: litellm cannot tell which provider serves ``model`` (names ``where``).
    """
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix == CALLABLE_PROVIDER:
        return prefix
    import litellm

    if prefix and any(item.get("provider") == prefix for item in litellm.custom_provider_map):
        return prefix
    quiet = litellm.suppress_debug_info
    litellm.suppress_debug_info = True  # litellm prints a provider list link on failure
    try:
        _, provider, _, _ = litellm.get_llm_provider(
            model=model,
            custom_llm_provider=params.get("custom_llm_provider"),
            api_base=params.get("api_base"),
        )
    except Exception as err:  # litellm raises its BadRequestError for an unknown provider
        reason = str(err).splitlines()[0][:200]
        raise ModelListError(
            f"{where}: unknown provider for model {model!r}: write it as 'provider/model' with "
            f"a provider litellm supports (e.g. openai/, anthropic/, text-completion-openai/) "
            f"or {CALLABLE_PROVIDER}/NAME for a Python voter ({reason})"
        ) from None
    finally:
        litellm.suppress_debug_info = quiet
    return str(provider)


def check_env_references(params: Mapping[str, Any], where: str) -> None:
    """Refuse ``os.environ/VAR`` references to variables that are not set.

    Raises:
        MissingSecretError: ``VAR`` is unset; the message names ``where`` and the
            reference, never a value.
    """
    for key, value in params.items():
        if (
            isinstance(value, str)
            and value.startswith(ENV_PREFIX)
            and os.environ.get(value.removeprefix(ENV_PREFIX)) is None
        ):
            raise MissingSecretError(value, where=f"{where}: litellm_params.{key}")


def _hide_secrets(params: Mapping[str, Any]) -> dict[str, Any]:
    """litellm_params with literal secret values wrapped in SecretStr."""
    return {
        k: SecretStr(v)
        if k in SECRET_FIELDS
        and isinstance(v, str)
        and not v.startswith((ENV_PREFIX, SECRET_PREFIX))
        else v
        for k, v in params.items()
    }


@dataclass(frozen=True, slots=True)
class ModelList:
    """A validated model list: deployments (secrets hidden), router options and voters."""

    entries: tuple[dict[str, Any], ...]
    router_settings: Mapping[str, Any]
    voters: tuple[VoterSpec, ...]

    def secret_references(self) -> frozenset[str]:
        """Names ``NAME`` of the ``secret/NAME`` references, for the caller to resolve."""
        return frozenset(
            v.removeprefix(SECRET_PREFIX)
            for e in self.entries
            for v in e["litellm_params"].values()
            if isinstance(v, str) and v.startswith(SECRET_PREFIX)
        )

    def extended(self, entries: Sequence[Mapping[str, Any]]) -> ModelList:
        """This list with ``entries`` (more deployments or voters) appended, validated again.

        Raises:
            ModelListError: an added entry is malformed.
        """
        if not entries:
            return self
        return parse_model_list(
            {
                "model_list": [*self.entries, *entries],
                "router_settings": dict(self.router_settings),
            },
            check_env=False,
        )

    def resolved_entries(self, secrets: Mapping[str, SecretStr]) -> list[dict[str, Any]]:
        """The list for ``litellm.Router(model_list=...)``, secret values in plain text.

        ``os.environ/VAR`` reads the environment; ``secret/NAME`` reads ``secrets``.
        Hand the result to the Router only; never log it.

        Raises:
            MissingSecretError: a reference has no value (the message names it only).
        """
        out = []
        for entry in self.entries:
            params: dict[str, Any] = {}
            for key, value in entry["litellm_params"].items():
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                elif isinstance(value, str) and value.startswith(ENV_PREFIX):
                    found = os.environ.get(value.removeprefix(ENV_PREFIX))
                    if found is None:
                        raise MissingSecretError(value)
                    value = found
                elif isinstance(value, str) and value.startswith(SECRET_PREFIX):
                    secret = secrets.get(value.removeprefix(SECRET_PREFIX))
                    if secret is None:
                        raise MissingSecretError(value)
                    value = secret.get_secret_value()
                params[key] = value
            if str(params.get("model", "")).startswith(CALLABLE_PROVIDER + "/"):
                params = _uncached_prices(params)
            out.append({**entry, "litellm_params": params})
        return out


CACHE_PRICE_FIELDS = ("cache_read_input_token_cost", "cache_creation_input_token_cost")


def _uncached_prices(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with cached prompt tokens priced like any prompt token, when the entry has a
    price and names no cache price: what litellm charges such a model anyway, said explicitly
    so that registering it does not log a warning per voter (a callable has no prompt cache)."""
    out = dict(params)
    priced = (
        out.get("input_cost_per_token") is not None or out.get("output_cost_per_token") is not None
    )
    if priced and all(out.get(field) is None for field in CACHE_PRICE_FIELDS):
        for field in CACHE_PRICE_FIELDS:
            out[field] = out.get("input_cost_per_token") or 0.0
    return out


def check_template(template: str, voter: str) -> None:
    """Reject a prompt template with placeholders other than :data:`TEMPLATE_FIELDS`.

    ``{payload[key]}`` names one field of the question's payload.

    Raises:
        ModelListError: an unknown or malformed placeholder.
    """
    try:
        names = {
            name.split("[", 1)[0].split(".", 1)[0]
            for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
        }
    except ValueError as err:
        raise ModelListError(f"{voter}: malformed prompt template: {err}") from err
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ModelListError(
            f"{voter}: prompt template names {sorted(unknown)}; known: {sorted(TEMPLATE_FIELDS)}"
        )


def _voter_options(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The ``model_info.voter`` options of an entry (``voter: false`` means disabled).

    Raises:
        ModelListError: ``voter`` is neither a mapping nor a boolean, or has unknown keys.
    """
    raw = (entry.get("model_info") or {}).get("voter", {})
    if isinstance(raw, bool):
        return {"enabled": raw}
    if not isinstance(raw, Mapping):
        raise ModelListError(f"{entry.get('model_name')}: model_info.voter must be a mapping")
    unknown = set(raw) - VOTER_OPTIONS
    if unknown:
        raise ModelListError(
            f"{entry.get('model_name')}: unknown voter options {sorted(unknown)}; "
            f"known: {sorted(VOTER_OPTIONS)}"
        )
    return dict(raw)


def _voter(name: str, group: list[dict[str, Any]]) -> VoterSpec:
    first = group[0]
    params = first["litellm_params"]
    info = _voter_options(first)
    litellm_info = first.get("model_info") or {}
    model = str(params["model"])
    timeout = (
        None if params.get("timeout") is None else _number(params["timeout"], f"{name}: timeout")
    )
    if timeout == 0:
        raise ModelListError(f"{name}: timeout must be positive")
    tier = info.get("tier")
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int)):
        raise ModelListError(f"{name}: model_info.voter.tier must be an integer, got {tier!r}")
    for key in ("prompt", "system_prompt"):
        if info.get(key) is not None and not isinstance(info[key], str):
            raise ModelListError(f"{name}: model_info.voter.{key} must be a string")
    prompt = info.get("prompt")
    if prompt is not None:
        check_template(prompt, name)
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ModelListError(f"{name}: max_tokens must be a positive integer, got {max_tokens!r}")
    extract = info.get("extract")
    if extract is not None:
        try:
            groups = re.compile(extract).groups if isinstance(extract, str) else -1
        except re.error as err:
            raise ModelListError(
                f"{name}: model_info.voter.extract is not a regex: {err}"
            ) from None
        if groups != 1:
            raise ModelListError(
                f"{name}: model_info.voter.extract must be a regex string with one group"
            )
    return VoterSpec(
        name=name,
        model=model,
        input_cost_per_token=_number(
            params.get("input_cost_per_token", litellm_info.get("input_cost_per_token", 0.0)),
            f"{name}: input_cost_per_token",
        ),
        output_cost_per_token=_number(
            params.get("output_cost_per_token", litellm_info.get("output_cost_per_token", 0.0)),
            f"{name}: output_cost_per_token",
        ),
        timeout_s=timeout,
        tier=tier,
        prompt=prompt,
        system_prompt=info.get("system_prompt"),
        logprobs=bool(info.get("logprobs", False)),
        is_callable=model.startswith(CALLABLE_PROVIDER + "/"),
        deployments=len(group),
        extract=extract,
        max_tokens=max_tokens,
    )


def parse_model_list(data: Mapping[str, Any] | list[Any], check_env: bool = True) -> ModelList:
    """Validate a model list: a mapping with ``model_list`` (and ``router_settings``) or a bare list.

    Args:
        data: the parsed YAML.
        check_env: refuse ``os.environ/VAR`` references to unset variables now (pass False
            to validate a list meant for another environment; they are resolved again
            when the pool is built).

    Raises:
        ModelListError: a malformed entry, an unknown provider, an unknown router option,
            or no voter.
        MissingSecretError: an ``os.environ/VAR`` reference to an unset variable.
    """
    if isinstance(data, list):
        raw_list: object = data
        router_settings: object = {}
    elif isinstance(data, Mapping):
        raw_list = data.get("model_list")
        router_settings = data.get("router_settings") or {}
    else:
        raise ModelListError("a model list is a mapping with 'model_list', or a list")
    if not isinstance(raw_list, list) or not raw_list:
        raise ModelListError("'model_list' must be a non-empty list")
    if not isinstance(router_settings, Mapping):
        raise ModelListError("'router_settings' must be a mapping")
    unknown = set(router_settings) - ROUTER_OPTIONS
    if unknown:
        raise ModelListError(
            f"unsupported router_settings {sorted(unknown)}; known: {sorted(ROUTER_OPTIONS)}"
        )
    entries: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(raw_list):
        if not isinstance(entry, Mapping):
            raise ModelListError(f"model_list[{i}] must be a mapping")
        name = entry.get("model_name")
        params = entry.get("litellm_params")
        if not isinstance(name, str) or not name:
            raise ModelListError(f"model_list[{i}] needs a non-empty 'model_name'")
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            raise ModelListError(f"model_list[{i}] ({name}) needs 'litellm_params.model'")
        where = f"model_list[{i}] ({name})"
        check_provider(params["model"], params, where)
        if check_env:
            check_env_references(params, where)
        info = entry.get("model_info")
        if info is not None and not isinstance(info, Mapping):
            raise ModelListError(f"model_list[{i}] ({name}): 'model_info' must be a mapping")
        clean = {**entry, "litellm_params": _hide_secrets(params)}
        entries.append(clean)
        groups.setdefault(name, []).append(clean)
    voters = tuple(
        _voter(name, group)
        for name, group in groups.items()
        if _voter_options(group[0]).get("enabled", True)
    )
    if not voters:
        raise ModelListError("the model list holds no voter (every entry has voter: false)")
    return ModelList(tuple(entries), dict(router_settings), voters)


def load_model_list(path: str | Path, check_env: bool = True) -> ModelList:
    """Read and validate a YAML model list.

    ::

        model_list:
          - model_name: gemma-terse                 # one voter per model_name
            litellm_params:                         # passed to litellm as is
              model: text-completion-openai/gemma-3-270m  # any provider litellm supports
              api_base: http://127.0.0.1:8765/v1
              api_key: os.environ/LOCAL_LLM_KEY     # or secret/NAME (a Prefect Secret block)
              input_cost_per_token: 2.0e-8          # litellm's own price fields, USD
              output_cost_per_token: 2.0e-8
              timeout: 20                           # this voter's deadline, seconds
            model_info:
              voter:                                # voter options (all optional)
                tier: 1                             # cascade stage; default: rank by price
                prompt: "{question}\\n{instructions}"  # template; also {labels}, {payload[key]}
                system_prompt: "..."                # "" sends none
                logprobs: true                      # report the reply's token probability
                extract: "Answer: (\\d+)"           # answer = group 1 of the last match
                enabled: true                       # false (or `voter: false`): a fallback
                                                    # target only, never asked directly
          - model_name: rules
            litellm_params: {model: pyvoter/rules}  # a Python callable voter
        router_settings:                            # litellm Router options
          num_retries: 1
          fallbacks: [{gemma-terse: [gemma-backup]}]

    API keys are never kept in plain text here: literal keys and resolved
    references are held as :class:`pydantic.SecretStr` and unwrapped only in the
    list handed to the litellm Router.

    Every entry's provider must be one litellm knows, and every ``os.environ/VAR``
    must be set, when the file is loaded: the error names the entry.

    Raises:
        ModelListError: the file is missing, not YAML, or not a valid model list.
        MissingSecretError: an ``os.environ/VAR`` reference to an unset variable.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ModelListError(f"cannot read model list {path}: {err}") from err
    try:
        return parse_model_list(data, check_env=check_env)
    except ModelListError as err:
        raise ModelListError(f"{path}: {err}") from None
