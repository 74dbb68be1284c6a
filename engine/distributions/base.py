"""Shared parts of the distribution kinds: the base model, parameter rows, truncation, the PERT/beta quantile table."""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray  # noqa: F401 (ArrayLike in annotations)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)
from scipy import special, stats

from engine.reference.ppf import ppf_numpy_by_code
from kernels.distributions import (
    N_PARAMS,
)

__all__ = ["MIN_TRUNCATED_MASS", "beta_quantile_table", "FloatArray"]

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


