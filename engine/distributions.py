"""Input distributions of a config: validated pydantic models, kernel rows, references.

Every config kind is one pydantic model with a ``kind`` literal (the discriminator of
:data:`Distribution`), a required ``source`` (where the numbers come from) and an
optional ``note``.  Each model provides

* ``kernel_params()`` -> ``(code, float64[8])``: the row :func:`kernels.distributions.ppf`
  reads, with derived values (Phi of truncation bounds, ln B(alpha, beta), ...) computed
  here with scipy;
* ``scipy_dist()``: the equivalent frozen ``scipy.stats`` distribution (or a small
  wrapper with the same ``ppf``/``cdf`` interface), an independent reference;
* ``ppf_numpy(u)``: the NumPy reference transform, from the *same* row through
  :func:`ppf_numpy_by_code` with ``scipy.special`` (no code shared with the kernels);
* ``median()`` and ``support()``.

Kinds are found through the :data:`KINDS` registry (kind name -> model class) and
:func:`ppf_numpy_by_code` through a code -> function registry.
"""

from __future__ import annotations

import functools

import math
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy import special, stats

from kernels.distributions import (
    DIST_BETA,
    DIST_FIXED,
    DIST_LOGNORMAL,
    DIST_NORMAL,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
    N_PARAMS,
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

#: Smallest probability a truncation interval may keep; less almost always means bounds
#: in the wrong units or on the wrong side of the distribution.
MIN_TRUNCATED_MASS = 1e-9

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------- helpers
def _row(code: int, *values: float) -> tuple[int, FloatArray]:
    row = np.zeros(N_PARAMS, dtype=np.float64)
    row[: len(values)] = values
    return code, row


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _ordered(kind: str, low_name: str, low: float, high_name: str, high: float) -> None:
    if not low < high:
        raise ValueError(
            f"{kind}: {high_name} must be greater than {low_name} "
            f"(got {low_name}={low!r}, {high_name}={high!r})"
        )


def _truncation_row(
    kind: str, loc: float, scale: float, lower: float | None, upper: float | None
) -> tuple[float, float, float, float]:
    """``(Phi(A), Phi(B), Phi(-A), Phi(-B))`` of standardised bounds; checks the mass."""
    a = -math.inf if lower is None else (lower - loc) / scale
    b = math.inf if upper is None else (upper - loc) / scale
    cdf_a, cdf_b = float(special.ndtr(a)), float(special.ndtr(b))
    sf_a, sf_b = float(special.ndtr(-a)), float(special.ndtr(-b))
    mass = sf_a - sf_b if a > 0 else cdf_b - cdf_a  # difference of the small values
    if not mass >= MIN_TRUNCATED_MASS:
        raise ValueError(
            f"{kind}: truncation to [lower, upper] = [{lower}, {upper}] keeps probability "
            f"{mass:.3g}; expected at least {MIN_TRUNCATED_MASS:g} - check the bounds and "
            f"their units against the location and spread"
        )
    return cdf_a, cdf_b, sf_a, sf_b


class _Degenerate:
    """A point mass with the frozen-distribution methods the tests and reports use."""

    def __init__(self, value: float):
        self.value = float(value)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return np.full(np.shape(q), self.value)

    def cdf(self, x: ArrayLike) -> FloatArray:
        return np.where(np.asarray(x, dtype=float) >= self.value, 1.0, 0.0)

    def sf(self, x: ArrayLike) -> FloatArray:
        return 1.0 - self.cdf(x)

    def median(self) -> float:
        return self.value

    def mean(self) -> float:
        return self.value

    def support(self) -> tuple[float, float]:
        return self.value, self.value

    def rvs(self, size=None, random_state=None) -> FloatArray:
        return np.full(size if size is not None else (), self.value)


class _TruncatedLognormal:
    """Lognormal truncated to [lower, upper] (value scale): ``exp`` of a scipy truncnorm."""

    def __init__(self, mu: float, sigma: float, lower: float | None, upper: float | None):
        a = -np.inf if lower is None else (math.log(lower) - mu) / sigma
        b = np.inf if upper is None else (math.log(upper) - mu) / sigma
        self.log_dist = stats.truncnorm(a, b, loc=mu, scale=sigma)

    @staticmethod
    def _log(x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.log(np.where(x > 0, x, 0.0))  # x <= 0 -> -inf

    def ppf(self, q: ArrayLike) -> FloatArray:
        return np.exp(self.log_dist.ppf(q))

    def cdf(self, x: ArrayLike) -> FloatArray:
        return self.log_dist.cdf(self._log(x))

    def sf(self, x: ArrayLike) -> FloatArray:
        return self.log_dist.sf(self._log(x))

    def pdf(self, x: ArrayLike) -> FloatArray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, self.log_dist.pdf(self._log(x)) / x, 0.0)

    def median(self) -> float:
        return float(self.ppf(0.5))

    def support(self) -> tuple[float, float]:
        lo, hi = self.log_dist.support()
        return float(np.exp(lo)), float(np.exp(hi))

    def rvs(self, size=None, random_state=None) -> FloatArray:
        return np.exp(self.log_dist.rvs(size=size, random_state=random_state))


# --------------------------------------------------------------- NumPy reference ppf
def _np_fixed(p: FloatArray, u: FloatArray) -> FloatArray:
    return np.full(np.shape(u), p[0])


def _np_uniform(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + (p[1] - p[0]) * u


def _np_triangular(p: FloatArray, u: FloatArray) -> FloatArray:
    low, mode, high = p[0], p[1], p[2]
    width = high - low
    c = (mode - low) / width
    up = np.clip(1.0 - u, 0.0, 1.0)
    return np.where(
        u < c,
        low + width * np.sqrt(c * np.clip(u, 0.0, 1.0)),
        high - width * np.sqrt((1.0 - c) * up),
    )


def _np_beta(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + (p[1] - p[0]) * special.betaincinv(p[2], p[3], u)


def _np_std_normal_in_interval(p: FloatArray, u: FloatArray) -> FloatArray:
    """Deviate of ``u`` mapped into the interval with CDF values p2, p3 and survival
    values p4, p5: quantile from the smaller of CDF and survival probability."""
    cdf = p[2] * (1.0 - u) + p[3] * u
    if p[4] == 0.0 and p[5] == 0.0:
        sf = 1.0 - cdf
    else:
        sf = p[4] * (1.0 - u) + p[5] * u
    return np.where(cdf <= 0.5, special.ndtri(cdf), -special.ndtri(sf))


def _np_normal(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + p[1] * _np_std_normal_in_interval(p, u)


def _np_lognormal(p: FloatArray, u: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        return np.exp(p[0] + p[1] * _np_std_normal_in_interval(p, u))


_NUMPY_PPF: dict[int, Callable[[FloatArray, FloatArray], FloatArray]] = {
    DIST_FIXED: _np_fixed,
    DIST_UNIFORM: _np_uniform,
    DIST_TRIANGULAR: _np_triangular,
    DIST_BETA: _np_beta,
    DIST_NORMAL: _np_normal,
    DIST_LOGNORMAL: _np_lognormal,
}


def ppf_numpy_by_code(code: int, params: ArrayLike, u: ArrayLike) -> FloatArray:
    """NumPy reference inverse CDF for a kernel row (the reference backend's transform).

    Parameters
    ----------
    code
        Kind code of :mod:`kernels.distributions` (0 ... 5).
    params
        Parameter row, float64 of length 8, as returned by ``kernel_params()``.
    u
        Probabilities in (0, 1), any shape.

    Returns
    -------
    ndarray of float64
        Quantiles, shaped like ``u``.
    """
    try:
        fn = _NUMPY_PPF[int(code)]
    except KeyError:
        known = sorted(_NUMPY_PPF)
        raise ValueError(f"unknown distribution code {code!r}; known codes: {known}") from None
    p = np.asarray(params, dtype=np.float64)
    if p.shape != (N_PARAMS,):
        raise ValueError(f"params must be a float64 row of length {N_PARAMS}, got shape {p.shape}")
    return np.asarray(fn(p, np.asarray(u, dtype=np.float64)), dtype=np.float64)


BETA_TABLE_NODES = 4096
BETA_TABLE_LOGIT = 30.0  # table covers logit(u) in [-30, 30], i.e. u in [9.4e-14, 1 - 9.4e-14]


@functools.lru_cache(maxsize=256)
def beta_quantile_table(alpha: float, beta: float, nodes: int = BETA_TABLE_NODES) -> FloatArray | None:
    """Tail of a kernel row that lets ``kernels.distributions.ppf_beta`` interpolate.

    Returns ``[n, t0, 1/h, x_0, h*dx/dt_0, x_1, h*dx/dt_1, ...]`` (interleaved) for nodes equally spaced
    in t = logit(u) over [-30, 30], with x = I^-1_u(alpha, beta) from scipy and
    dx/dt = u(1-u)/pdf(x).  Only for alpha, beta >= 1 (where x(t) is smooth enough for
    cubic Hermite interpolation to reach ~1e-10 relative error); ``None`` otherwise.
    """
    if alpha < 1.0 or beta < 1.0:
        return None
    t = np.linspace(-BETA_TABLE_LOGIT, BETA_TABLE_LOGIT, nodes)
    h = t[1] - t[0]
    u = special.expit(t)
    v = special.expit(-t)  # 1 - u, exact
    lower = t < 0
    x = np.empty_like(t)
    x[lower] = special.betaincinv(alpha, beta, u[lower])
    x[~lower] = special.betainccinv(alpha, beta, v[~lower])
    for _ in range(3):  # Newton polish: scipy's inverse loses digits deep in the tails
        logpdf = stats.beta.logpdf(x, alpha, beta)
        resid = np.empty_like(t)
        resid[lower] = special.betainc(alpha, beta, x[lower]) - u[lower]
        resid[~lower] = v[~lower] - special.betaincc(alpha, beta, x[~lower])
        x = np.clip(x - resid * np.exp(-logpdf), 0.0, 1.0)
    logpdf = stats.beta.logpdf(x, alpha, beta)
    dxdt = np.exp(np.log(u) + np.log(v) - logpdf)
    table = np.concatenate([[nodes, t[0], 1.0 / h], np.column_stack([x, h * dxdt]).ravel()]).astype(np.float64)
    table.flags.writeable = False  # cached: shared by every layout with these parameters
    return table


# ------------------------------------------------------------------------ models
class _DistributionBase(BaseModel):
    """Fields and methods shared by every distribution kind."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    source: str = Field(description="where the value comes from (publication, dataset, ...)")
    note: str | None = Field(default=None, description="free-text remark")

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("source must be a non-empty string naming where the value comes from")
        return v

    def kernel_params(self) -> tuple[int, FloatArray]:
        """Kind code and float64[8] parameter row for :func:`kernels.distributions.ppf`."""
        raise NotImplementedError

    def scipy_dist(self):
        """Equivalent frozen ``scipy.stats`` distribution (reference for tests)."""
        raise NotImplementedError

    def support(self) -> tuple[float, float]:
        """Smallest and largest possible value (may be infinite)."""
        raise NotImplementedError

    def ppf_numpy(self, u: ArrayLike) -> FloatArray:
        """NumPy reference inverse CDF at probabilities ``u`` in (0, 1)."""
        return ppf_numpy_by_code(*self.kernel_params(), u)

    def median(self) -> float:
        """Median, in the units of the input."""
        return float(self.ppf_numpy(0.5))


class FixedDist(_DistributionBase):
    """A known constant."""

    kind: Literal["fixed"] = "fixed"
    value: float

    def kernel_params(self) -> tuple[int, FloatArray]:
        return _row(DIST_FIXED, self.value)

    def scipy_dist(self) -> _Degenerate:
        return _Degenerate(self.value)

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
        return _TruncatedLognormal(self.log_mu, self.sigma, self.lower, self.upper)

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

_MODELS = (
    FixedDist,
    UniformDist,
    TriangularDist,
    PertDist,
    BetaDist,
    NormalDist,
    LognormalDist,
    PercentileDist,
)

#: Kind name -> model class.
KINDS: dict[str, type[_DistributionBase]] = {m.model_fields["kind"].default: m for m in _MODELS}

#: Any distribution kind; use as a pydantic field type (discriminated on ``kind``).
Distribution = Annotated[
    FixedDist
    | UniformDist
    | TriangularDist
    | PertDist
    | BetaDist
    | NormalDist
    | LognormalDist
    | PercentileDist,
    Field(discriminator="kind"),
]
