"""Settings group of pattern 5: consensus over a litellm Router (``SWARMKIT_ROUTER__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator

from patterns.core.exceptions import ConfigError

RuleName = Literal["plurality", "majority", "weighted"]


class RouterSettings(BaseModel):
    """Voter pool, deadlines, voting and cascade of the consensus router.

    Router options given here explicitly override the same options in the YAML
    file's ``router_settings``; options left at their default defer to the YAML.
    """

    model_list_path: Path | None = Field(
        None,
        description="YAML model list in litellm's Router/proxy format (a top-level "
        "'model_list', optionally 'router_settings').",
    )
    voter_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Deadline of one voter call including router retries and fallbacks, "
        "seconds, when its litellm_params set no 'timeout'.",
    )
    decision_timeout_s: float = Field(
        120.0, gt=0, le=86_400, description="Deadline of a whole decision (all stages), seconds."
    )
    num_retries: int = Field(
        1, ge=0, le=10, description="Router retries of a failed call before its fallbacks."
    )
    retry_after_s: float = Field(
        0.0, ge=0, le=600, description="Router's minimum wait before a retry, seconds."
    )
    max_parallel_calls: int = Field(
        16, ge=1, le=1024, description="Voter calls in flight at once, across one decision."
    )
    max_tokens: int = Field(
        64, ge=1, le=32_768, description="Completion token cap of an LLM voter's reply."
    )
    default_rule: RuleName = Field(
        "weighted", description="Rule of the final cascade stage and of ensemble decisions."
    )
    min_decision_confidence: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="A weighted decision whose posterior is below this returns NO_DECISION.",
    )
    cascade_confidence: float = Field(
        0.99,
        gt=0.5,
        le=1.0,
        description="A cascade stage stops when the posterior of its leading answer reaches "
        "this: 0.99 accepts an early answer only at an estimated error of 1% or less.",
    )
    cascade_min_agreement: float = Field(
        1.0,
        ge=0.5,
        le=1.0,
        description="Fraction of the answered votes so far that must agree for a stage to stop.",
    )
    byzantine_f: int = Field(
        1,
        ge=0,
        le=100,
        description="Faulty voters a critical decision tolerates; needs 3f+1 voters.",
    )
    reliability_prior_mean: float = Field(
        0.7,
        gt=0.0,
        lt=1.0,
        description="Prior accuracy of a voter that reports no confidence of its own.",
    )
    reliability_prior_strength: float = Field(
        2.0, gt=0.0, le=1000.0, description="Pseudo-observations behind each Beta prior."
    )
    reliability_forgetting: float = Field(
        1.0,
        ge=0.9,
        le=1.0,
        description="Factor applied to a voter's past evidence at each update (1 keeps all).",
    )
    confidence_bins: tuple[float, ...] = Field(
        (0.5, 0.7, 0.85, 0.95, 0.99),
        min_length=0,
        max_length=32,
        description="Edges of the self-reported-confidence bins; each (voter, bin) has "
        "its own Beta reliability.",
    )
    cost_estimate_prompt_tokens: int = Field(
        200, ge=0, le=1_000_000, description="Prompt tokens assumed when ranking voters by price."
    )
    cost_estimate_completion_tokens: int = Field(
        16,
        ge=0,
        le=1_000_000,
        description="Completion tokens assumed when ranking voters by price.",
    )
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Values of 'secret/NAME' api_key references in the model list, by NAME.",
    )
    local_llm_host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=253,
        description="Address of the local llama.cpp OpenAI-compatible server (loopback).",
    )
    local_llm_port: int = Field(
        8765, ge=1, le=65_535, description="Port of the local llama.cpp server."
    )

    @model_validator(mode="after")
    def _bins_increasing(self) -> Self:
        edges = self.confidence_bins
        if any(not 0.0 < e < 1.0 for e in edges) or list(edges) != sorted(set(edges)):
            raise ValueError(f"confidence_bins must increase strictly inside (0, 1): {edges}")
        return self


def checked(settings: RouterSettings | None) -> RouterSettings:
    """``settings`` or the defaults, re-validated (a model_copy(update=...) skips validation).

    Raises:
        ConfigError: a field is out of its bounds.
    """
    if settings is None:
        return RouterSettings()
    try:
        return RouterSettings.model_validate(
            {name: getattr(settings, name) for name in settings.model_fields_set}
        )
    except ValueError as err:
        raise ConfigError(f"invalid router settings: {err}") from err
