"""The eight distribution kinds of a config and the :data:`KINDS` registry (kind name -> model).

Each kind is a pydantic model with a ``kind`` literal (the discriminator of :data:`Distribution`),
a required ``source`` and an optional ``note``, and provides ``kernel_params()`` (the row
:func:`kernels.distributions.ppf` reads), ``scipy_dist()`` (an independent reference),
``ppf_numpy(u)`` (the NumPy reference transform), ``median()`` and ``support()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray  # noqa: F401 (ArrayLike in annotations)
from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy import special, stats

from engine.distributions.base import (  # noqa: F401 (re-exported)
    MIN_TRUNCATED_MASS,
    FloatArray,
    _DistributionBase,
    _ordered,
    _positive,
    _row,
    _truncation_row,
    beta_quantile_table,
)
from engine.reference.ppf import ppf_numpy_by_code  # noqa: F401 (re-exported)
from engine.reference.scipy_dists import Degenerate, TruncatedLognormal
from kernels.distributions import (
    DIST_BETA,
    DIST_FIXED,
    DIST_LOGNORMAL,
    DIST_NORMAL,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
)

__all__ = [
    "Distribution",
    "KINDS",
    "MIN_TRUNCATED_MASS",
    "FixedDist",
    "UniformDist",
    "TriangularDist",
    "PertDist",
    "BetaDist",
    "NormalDist",
    "LognormalDist",
    "PercentileDist",
    "ppf_numpy_by_code",
]

class FixedDist(_DistributionBase):
    """A known constant."""

    kind: Literal["fixed"] = "fixed"
    value: float

    def kernel_params(self) -> tuple[int, FloatArray]:
        return _row(DIST_FIXED, self.value)

    def scipy_dist(self) -> Degenerate:
        return Degenerate(self.value)

    def support(self) -> tuple[float, float]:
        return self.value, self.value


class UniformDist(_DistributionBase):
    """Uniform on [low, high]."""

    kind: Literal["uniform"] = "uniform"
    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> UniformDist:
        _ordered("uniform", "low", self.low, "high", self.high)
        return self

    def kernel_params(self) -> tuple[int, FloatArray]:
        return _row(DIST_UNIFORM, self.low, self.high)

    def scipy_dist(self):
        return stats.uniform(loc=self.low, scale=self.high - self.low)

    def support(self) -> tuple[float, float]:
        return self.low, self.high


class TriangularDist(_DistributionBase):
    """Triangular on [low, high] with its peak at ``mode``."""

    kind: Literal["triangular"] = "triangular"
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> TriangularDist:
        _ordered("triangular", "low", self.low, "high", self.high)
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"triangular: mode must lie within [low, high] = [{self.low}, {self.high}], "
                f"got mode={self.mode!r}"
            )
        return self

    def kernel_params(self) -> tuple[int, FloatArray]:
        return _row(DIST_TRIANGULAR, self.low, self.mode, self.high)

    def scipy_dist(self):
        scale = self.high - self.low
        return stats.triang((self.mode - self.low) / scale, loc=self.low, scale=scale)

    def support(self) -> tuple[float, float]:
        return self.low, self.high


class _ScaledBeta(_DistributionBase):
    """Shared code of the beta-family kinds (``alpha_``, ``beta_``, ``low``, ``high``)."""

    @property
    def alpha_(self) -> float:
        raise NotImplementedError

    @property
    def beta_(self) -> float:
        raise NotImplementedError

    def kernel_params(self) -> tuple[int, FloatArray]:
        a, b = self.alpha_, self.beta_
        return _row(DIST_BETA, self.low, self.high, a, b, float(special.betaln(a, b)))

    def scipy_dist(self):
        return stats.beta(self.alpha_, self.beta_, loc=self.low, scale=self.high - self.low)

    def kernel_table(self) -> FloatArray | None:
        """Quantile table appended to the kernel row (see :func:`beta_quantile_table`)."""
        return beta_quantile_table(self.alpha_, self.beta_)

    def support(self) -> tuple[float, float]:
        return self.low, self.high


class PertDist(_ScaledBeta):
    """PERT: a beta on [low, high] with mode ``mode`` and weight ``lamb`` (default 4):
    alpha = 1 + lamb (mode - low)/(high - low), beta = 1 + lamb (high - mode)/(high - low)."""

    kind: Literal["pert"] = "pert"
    low: float
    mode: float
    high: float
    lamb: float = 4.0

    @field_validator("lamb")
    @classmethod
    def _lamb_positive(cls, v: float) -> float:
        return _positive("lamb", v)

    @model_validator(mode="after")
    def _check(self) -> PertDist:
        _ordered("pert", "low", self.low, "high", self.high)
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"pert: mode must lie within [low, high] = [{self.low}, {self.high}], "
                f"got mode={self.mode!r}"
            )
        return self

    @property
    def alpha_(self) -> float:
        return 1.0 + self.lamb * (self.mode - self.low) / (self.high - self.low)

    @property
    def beta_(self) -> float:
        return 1.0 + self.lamb * (self.high - self.mode) / (self.high - self.low)


class BetaDist(_ScaledBeta):
    """Beta(alpha, beta) scaled to [low, high] (default [0, 1])."""

    kind: Literal["beta"] = "beta"
    alpha: float
    beta: float
    low: float = 0.0
    high: float = 1.0

    @field_validator("alpha", "beta")
    @classmethod
    def _shape_positive(cls, v: float, info: ValidationInfo) -> float:
        return _positive(info.field_name, v)

    @model_validator(mode="after")
    def _check(self) -> BetaDist:
        _ordered("beta", "low", self.low, "high", self.high)
        return self

    @property
    def alpha_(self) -> float:
        return self.alpha

    @property
    def beta_(self) -> float:
        return self.beta


class NormalDist(_DistributionBase):
    """Normal(mean, sd), optionally truncated to [lower, upper]."""

    kind: Literal["normal"] = "normal"
    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None

    @field_validator("sd")
    @classmethod
    def _sd_positive(cls, v: float) -> float:
        return _positive("sd", v)

    @model_validator(mode="after")
    def _check(self) -> NormalDist:
        if self.lower is not None and self.upper is not None:
            _ordered("normal", "lower", self.lower, "upper", self.upper)
        if self.lower is not None or self.upper is not None:
            _truncation_row("normal", self.mean, self.sd, self.lower, self.upper)
        return self

    def kernel_params(self) -> tuple[int, FloatArray]:
        trunc = _truncation_row("normal", self.mean, self.sd, self.lower, self.upper)
        return _row(DIST_NORMAL, self.mean, self.sd, *trunc)

    def scipy_dist(self):
        if self.lower is None and self.upper is None:
            return stats.norm(loc=self.mean, scale=self.sd)
        a = -np.inf if self.lower is None else (self.lower - self.mean) / self.sd
        b = np.inf if self.upper is None else (self.upper - self.mean) / self.sd
        return stats.truncnorm(a, b, loc=self.mean, scale=self.sd)

    def support(self) -> tuple[float, float]:
        return (
            -math.inf if self.lower is None else self.lower,
            math.inf if self.upper is None else self.upper,
        )


class LognormalDist(_DistributionBase):
    """Lognormal: ln X ~ Normal(mu, sigma); give ``mu`` or ``median`` (= exp(mu)).
    Optional truncation ``lower``/``upper`` is on the value scale (> 0)."""

    kind: Literal["lognormal"] = "lognormal"
    mu: float | None = None
    median_: float | None = Field(default=None, alias="median")
    sigma: float
    lower: float | None = None
    upper: float | None = None

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, populate_by_name=True, serialize_by_alias=True
    )

    @field_validator("sigma")
    @classmethod
    def _sigma_positive(cls, v: float) -> float:
        return _positive("sigma", v)

    @field_validator("median_", "lower", "upper")
    @classmethod
    def _value_positive(cls, v: float | None, info: ValidationInfo) -> float | None:
        name = "median" if info.field_name == "median_" else info.field_name
        if v is not None and not v > 0:
            raise ValueError(f"lognormal: {name} must be > 0 (values of a lognormal), got {v!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> LognormalDist:
        if (self.mu is None) == (self.median_ is None):
            got = "both" if self.mu is not None else "neither"
            raise ValueError(
                f"lognormal: give exactly one of mu (mean of ln X) or median, got {got}"
            )
        if self.lower is not None and self.upper is not None:
            _ordered("lognormal", "lower", self.lower, "upper", self.upper)
        if self.lower is not None or self.upper is not None:
            self._trunc()
        return self

    @property
    def log_mu(self) -> float:
        """mu = E[ln X], from ``mu`` or ``ln(median)``."""
        return self.mu if self.mu is not None else math.log(self.median_)

    def _trunc(self) -> tuple[float, float, float, float]:
        lo = None if self.lower is None else math.log(self.lower)
        hi = None if self.upper is None else math.log(self.upper)
        return _truncation_row("lognormal", self.log_mu, self.sigma, lo, hi)

    def kernel_params(self) -> tuple[int, FloatArray]:
        return _row(DIST_LOGNORMAL, self.log_mu, self.sigma, *self._trunc())

    def scipy_dist(self):
        if self.lower is None and self.upper is None:
            return stats.lognorm(s=self.sigma, scale=math.exp(self.log_mu))
        return TruncatedLognormal(self.log_mu, self.sigma, self.lower, self.upper)

    def support(self) -> tuple[float, float]:
        return (
            0.0 if self.lower is None else self.lower,
            math.inf if self.upper is None else self.upper,
        )


class PercentileDist(_DistributionBase):
    """Guesstimate-style "low to high": ``low``/``high`` are the quantiles at ``p_low`` /
    ``p_high`` (default 5 % / 95 %) of a lognormal (default, needs 0 < low) or normal."""

    kind: Literal["percentile"] = "percentile"
    low: float
    high: float
    p_low: float = 0.05
    p_high: float = 0.95
    shape: Literal["lognormal", "normal"] = "lognormal"

    @model_validator(mode="after")
    def _check(self) -> PercentileDist:
        _ordered("percentile", "low", self.low, "high", self.high)
        if not 0.0 < self.p_low < self.p_high < 1.0:
            raise ValueError(
                "percentile: p_low and p_high must satisfy 0 < p_low < p_high < 1 "
                f"(got p_low={self.p_low!r}, p_high={self.p_high!r})"
            )
        if self.shape == "lognormal" and not self.low > 0:
            raise ValueError(
                f"percentile: low must be > 0 for shape='lognormal' (got low={self.low!r}); "
                "use shape='normal' for quantities that can be <= 0"
            )
        return self

    def to_distribution(self) -> NormalDist | LognormalDist:
        """The equivalent :class:`LognormalDist` or :class:`NormalDist`."""
        return _PERCENTILE_SHAPES[self.shape](self)

    def kernel_params(self) -> tuple[int, FloatArray]:
        return self.to_distribution().kernel_params()

    def scipy_dist(self):
        return self.to_distribution().scipy_dist()

    def support(self) -> tuple[float, float]:
        return self.to_distribution().support()


def _percentile_lognormal(d: PercentileDist) -> LognormalDist:
    z_lo, z_hi = special.ndtri(d.p_low), special.ndtri(d.p_high)
    sigma = (math.log(d.high) - math.log(d.low)) / (z_hi - z_lo)
    mu = math.log(d.low) - sigma * z_lo
    return LognormalDist(mu=float(mu), sigma=float(sigma), source=d.source, note=d.note)


def _percentile_normal(d: PercentileDist) -> NormalDist:
    z_lo, z_hi = special.ndtri(d.p_low), special.ndtri(d.p_high)
    sd = (d.high - d.low) / (z_hi - z_lo)
    return NormalDist(mean=float(d.low - sd * z_lo), sd=float(sd), source=d.source, note=d.note)


_PERCENTILE_SHAPES: dict[str, Callable[[PercentileDist], NormalDist | LognormalDist]] = {
    "lognormal": _percentile_lognormal,
    "normal": _percentile_normal,
}

_MODELS = (FixedDist, UniformDist, TriangularDist, PertDist, BetaDist, NormalDist, LognormalDist, PercentileDist)

#: Kind name -> model class.
KINDS: dict[str, type[_DistributionBase]] = {m.model_fields["kind"].default: m for m in _MODELS}

#: Any distribution kind; use as a pydantic field type (discriminated on ``kind``).
Distribution = Annotated[
    FixedDist | UniformDist | TriangularDist | PertDist | BetaDist | NormalDist | LognormalDist | PercentileDist,
    Field(discriminator="kind"),
]

