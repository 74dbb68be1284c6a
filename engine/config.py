"""Configuration: a typed schema (pydantic) for YAML or TOML assumption files.

Unknown keys are rejected; every error names the file, the key path and what was
expected.  YAML is read with ``yaml.safe_load`` only (no code execution from configs).
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from engine.distributions import Distribution
from kernels import model as m

__all__ = ["Config", "ConfigError", "load_config", "parse_config", "input_names"]

MAX_SEED = 2**64 - 1
_REGION_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration problem, phrased for the user: file, key path, what was expected."""


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
    _text: str | None = PrivateAttr(None)
    _path: str = PrivateAttr("<in memory>")

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
    def _correlations_ok(self) -> Config:
        correlation_matrix(self)
        return self

    def distribution(self, name: str) -> Any:
        """The distribution of input ``name`` (``"pue_2022.china"`` for regional inputs)."""
        if "." in name:
            key, region = name.split(".", 1)
            return getattr(self.regional_inputs, key)[region]
        return getattr(self.inputs, name)


def input_names(config: Config) -> list[str]:
    """Names of the sampled inputs in kernel column order (shipment shocks last)."""
    names = list(m.GLOBAL_INPUTS)
    for key in m.REGIONAL_INPUTS:
        names += [f"{key}.{r}" for r in config.regions]
    first = m.FIRST_GROWTH_YEAR
    names += [f"shipments_shock.{first + k}" for k in range(m.n_shock_inputs(config.years.count))]
    return names


def correlation_matrix(config: Config) -> tuple[list[str], np.ndarray]:
    """The Pearson correlation matrix of the copula over the correlated inputs.

    Spearman ρ_s becomes the normal-copula correlation 2·sin(π·ρ_s/6).  Raises
    ``ValueError`` naming the inputs when a name is unknown, a pair repeats, or the
    matrix is not positive semi-definite.
    """
    known = set(input_names(config))
    names: list[str] = []
    seen: set[frozenset] = set()
    for k, c in enumerate(config.correlations):
        a, b = c.between
        for n in (a, b):
            if n not in known:
                raise ValueError(f"correlations[{k}]: unknown input {n!r}; expected one of the inputs (e.g. 'pue_ai', 'pue_2022.china')")
        if a == b:
            raise ValueError(f"correlations[{k}]: an input cannot be correlated with itself ({a!r})")
        if frozenset((a, b)) in seen:
            raise ValueError(f"correlations[{k}]: the pair ({a}, {b}) is given twice")
        seen.add(frozenset((a, b)))
        names += [n for n in (a, b) if n not in names]
    r = np.eye(len(names))
    for c in config.correlations:
        i, j = names.index(c.between[0]), names.index(c.between[1])
        r[i, j] = r[j, i] = 2.0 * math.sin(math.pi * c.rho / 6.0)
    if names:
        w, v = np.linalg.eigh(r)
        if w[0] < -1e-10:
            weights = np.abs(v[:, 0])
            culprits = [names[i] for i in np.argsort(-weights) if weights[i] > 0.2]
            raise ValueError(
                "correlations: the rank correlations among "
                + ", ".join(culprits)
                + f" cannot hold together (the correlation matrix is not positive semi-definite; "
                f"smallest eigenvalue {w[0]:.3g}); weaken or remove one of them"
            )
    return names, r


def copula_factor(r: np.ndarray) -> np.ndarray:
    """A factor F with F·Fᵀ = r (Cholesky; eigen-decomposition if r is singular)."""
    try:
        return np.linalg.cholesky(r)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(r)
        return v * np.sqrt(np.clip(w, 0.0, None))


def _loc(loc: tuple) -> str:
    kinds = {"fixed", "uniform", "triangular", "pert", "beta", "normal", "lognormal", "percentile"}
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in kinds and parts:  # discriminated-union tag, not a key the user wrote
            continue
        elif isinstance(p, str) and p.startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def parse_config(text: str, path: str | Path = "<string>", fmt: str | None = None) -> Config:
    """Parse and validate config ``text``; errors name ``path`` and the key path."""
    path = str(path)
    fmt = fmt or ("toml" if path.endswith(".toml") else "yaml")
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (name, years, regions, inputs, ...), got {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            where = _loc(err["loc"])
            extra = ""
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not part of the schema; check the spelling)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            elif got is not None and not isinstance(got, dict | list):
                extra = f" (got {got!r})"
            lines.append(f"{path}: {where}: {msg}{extra}")
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None
    config._text = text
    config._path = path
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML (``.yaml``/``.yml``) or TOML (``.toml``) file ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    return parse_config(text, p)


def config_text(config: Config) -> str:
    """The config's source text (as read), or a YAML dump if it was built in code."""
    text = config._text
    if text is None:
        text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    return text


def config_path(config: Config) -> str:
    return config._path


def config_sha256(config: Config) -> str:
    return hashlib.sha256(config_text(config).encode("utf-8")).hexdigest()
