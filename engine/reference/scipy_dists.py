"""scipy-style reference distributions that ``scipy.stats`` lacks: a point mass and a truncated lognormal.

Used by :meth:`engine.distributions._DistributionBase.scipy_dist` (the independent reference of
every kind, for tests and reports).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["Degenerate", "TruncatedLognormal"]

FloatArray = NDArray[np.float64]


class Degenerate:
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


class TruncatedLognormal:
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
