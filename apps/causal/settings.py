"""Settings of the causal app: the ``causal`` group (env ``SWARMKIT_CAUSAL__...``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CausalSettings(BaseModel):
    """Discovery, consensus calibration and intervention knobs."""

    max_lag: int = Field(3, ge=1, le=10, description="Largest lag of a causal link, steps.")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="FDR level of each method's own tests.")
    calibration_markets: int = Field(
        3,
        ge=1,
        le=50,
        description="Simulated markets of the data's shape used to calibrate the vote.",
    )
    horizon: int = Field(10, ge=1, le=500, description="Steps over which do-effects are summed.")
    root_cause_onset: int = Field(
        1,
        ge=1,
        le=500,
        description="Root causes: innovations of the first this-many steps of the crash window count.",
    )
    onset_window: int = Field(
        5,
        ge=1,
        le=100,
        description="Crash onset: longest run of threshold-crossing steps walked back from the worst fall, steps.",
    )
    onset_ewma: float = Field(
        0.94,
        ge=0.5,
        le=0.999,
        description="Crash onset: decay of the trailing variance each return is scaled by (RiskMetrics 0.94).",
    )
    onset_alpha: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="Crash onset: level of the fall threshold over all T x n shocks (Bonferroni); smaller finds fewer crashes.",
    )
    bootstrap: int = Field(100, ge=0, le=5000, description="Bootstrap refits behind each interval.")
    live_router: bool = Field(
        True,
        description="Put contested links to the router's callable voters one by one (else bulk tally only).",
    )
    output_dir: Path = Field(
        Path(".data/causal"), description="Where graphs, tables and the calibration cache go."
    )
    seed: int = Field(
        0, ge=0, description="Seed of the analysis (TE subsampling and nulls, bootstrap)."
    )


class _CausalEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    causal: CausalSettings = Field(default_factory=CausalSettings, description="Causal app.")


def get_causal_settings() -> CausalSettings:
    """Read the ``causal`` group from the environment (``SWARMKIT_CAUSAL__MAX_LAG=2`` ...)."""
    return _CausalEnv().causal
