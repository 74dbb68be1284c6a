"""The config schema (pydantic): years, regions, inputs, correlations, thresholds.

Unknown keys are rejected; validators raise ``ValueError`` with what was expected, which
:mod:`engine.config.loading` turns into a :class:`~engine.errors.ConfigError` naming the file
and the key path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)

from engine.config.copula import correlation_matrix
from engine.config.domains import check_domains
from engine.config.observations import Observation, check_observations
from engine.distributions import Distribution
from engine.inputs.registry import input_names
from engine.output.names import BOUNDARIES, VARIABLE_NAMES
from kernels import columns as m

__all__ = ["Config", "Years", "Correlation", "Threshold", "MAX_SEED"]

MAX_SEED = 2**64 - 1
_REGION_RE = re.compile(r"^[a-z][a-z0-9_]*$")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Years(_Strict):
    """Projection years: the base year (fixed by the model's anchor) to the horizon, inclusive."""

    start: int = Field(m.BASE_YEAR, description="first year; the model is anchored to 2022")
    end: int = Field(2035, description="last projected year")

    @field_validator("start")
    @classmethod
    def _start_is_anchor(cls, v: int) -> int:
        if v != m.BASE_YEAR:
            raise ValueError(f"expected {m.BASE_YEAR} (the model's calibration anchor), got {v}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Years:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start}); the years are reversed")
        if self.end > 2100:
            raise ValueError(f"end ({self.end}) is beyond 2100; expected a horizon of at most 2100")
        return self

    @property
    def count(self) -> int:
        return self.end - self.start + 1


class Correlation(_Strict):
    """A rank (Spearman) correlation between two inputs, imposed with a Gaussian copula."""

    between: tuple[str, str]
    rho: float = Field(ge=-1.0, le=1.0, description="Spearman rank correlation in [-1, 1]")
    source: str = Field(min_length=1)
    note: str = ""


class Threshold(_Strict):
    """An exceedance probability to report, e.g. P(total electricity 2030 > 1000 TWh)."""

    variable: str = "electricity"
    boundary: str = "incl_crypto"
    year: int
    value: float


GlobalInputs = create_model(
    "GlobalInputs",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **{name: (Distribution, ...) for name in m.GLOBAL_INPUTS},
)
RegionalInputs = create_model(
    "RegionalInputs",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **{name: (dict[str, Distribution], ...) for name in m.REGIONAL_INPUTS},
)


class Config(_Strict):
    """A complete set of assumptions for one projection."""

    name: str = "unnamed"
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    years: Years = Years()
    regions: list[str] = Field(min_length=1)
    inputs: GlobalInputs  # type: ignore[valid-type]
    regional_inputs: RegionalInputs  # type: ignore[valid-type]
    correlations: list[Correlation] = []
    thresholds: list[Threshold] = []
    observations: list[Observation] = []  # evidence to condition on (engine.conditioning)
    # provenance, set by engine.config.loading: the file, its text, the --set overrides, and
    # the effective config right after loading (to tell whether code changed it since)
    _path: str = PrivateAttr("<in memory>")
    _file_text: str | None = PrivateAttr(None)
    _overrides: tuple[str, ...] = PrivateAttr(())
    _loaded_text: str | None = PrivateAttr(None)

    @field_validator("regions")
    @classmethod
    def _regions_ok(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _REGION_RE.match(name):
                raise ValueError(f"region name {name!r} must be lower-case letters, digits and '_'")
        if len(set(v)) != len(v):
            raise ValueError(f"region names must be unique, got {v}")
        return v

    @model_validator(mode="after")
    def _regional_keys(self) -> Config:
        for key in m.REGIONAL_INPUTS:
            given = getattr(self.regional_inputs, key)
            missing = [r for r in self.regions if r not in given]
            extra = [r for r in given if r not in self.regions]
            if missing or extra:
                raise ValueError(
                    f"regional_inputs.{key}: expected exactly one entry per region {self.regions}; "
                    + (f"missing {missing}" if missing else "")
                    + ("; " if missing and extra else "")
                    + (f"unknown {extra}" if extra else "")
                )
        return self

    @model_validator(mode="after")
    def _thresholds_ok(self) -> Config:
        for k, t in enumerate(self.thresholds):
            if t.variable not in VARIABLE_NAMES:
                raise ValueError(f"thresholds[{k}].variable: unknown variable {t.variable!r}; expected one of {list(VARIABLE_NAMES)}")
            if t.boundary not in BOUNDARIES:
                raise ValueError(f"thresholds[{k}].boundary: unknown boundary {t.boundary!r}; expected one of {list(BOUNDARIES)}")
            if not self.years.start <= t.year <= self.years.end:
                raise ValueError(f"thresholds[{k}].year: {t.year} is outside the projection years {self.years.start}..{self.years.end}")
        return self

    @model_validator(mode="after")
    def _observations_ok(self) -> Config:
        check_observations(self.observations, self.regions, self.years.start, self.years.end)
        return self

    @model_validator(mode="after")
    def _domains_ok(self) -> Config:
        check_domains(self)
        return self

    @model_validator(mode="after")
    def _correlations_ok(self) -> Config:
        correlation_matrix(self)
        return self

    def input_names(self) -> list[str]:
        """The sampled inputs' names in kernel column order (see :mod:`engine.inputs.registry`)."""
        return input_names(self.regions, self.years.count)

    def distribution(self, name: str) -> Any:
        """The distribution of input ``name`` (``"pue_2022.china"`` for regional inputs)."""
        if "." in name:
            key, region = name.split(".", 1)
            return getattr(self.regional_inputs, key)[region]
        return getattr(self.inputs, name)


