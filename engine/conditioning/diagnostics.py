"""How much a run's weights can be trusted: Kish's effective sample size and the PSIS Pareto k̂.

* **ESS** (Kish 1965): ``(Σw)² / Σw²`` of the run's weights [scenarios]; the Monte Carlo
  errors of weighted statistics are based on it.  Below :data:`ESS_WARN` the run warns.
* **Pareto k̂** (Vehtari, Simpson, Gelman, Yao & Gabry 2024, *Pareto smoothed importance
  sampling*, JMLR 25(72)): the shape of a generalised Pareto fit to the largest weights,
  computed by ArviZ's ``psislw`` from the log-likelihoods (the log-weights).  Above
  :data:`K_WARN` the importance-sampling estimates are unreliable (a few scenarios carry the
  result); the run warns.  A summary run holds the log-likelihoods of its kept sample only,
  so its k̂ is that of the kept sample (the attribute ``weights_pareto_k_basis`` says so).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from engine.errors import RunError
from kernels.likelihood import WEIGHT_SCALE

__all__ = ["WeightDiagnostics", "diagnose", "ESS_WARN", "K_WARN", "pareto_k"]

ESS_WARN = 1000.0  # [scenarios]
K_WARN = 0.7


def pareto_k(log_weights: np.ndarray) -> float:
    """PSIS Pareto k̂ of ``log_weights`` (ArviZ ``psislw``); NaN for fewer than 10 values or all equal."""
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = lw[np.isfinite(lw)]
    if lw.size < 10 or np.ptp(lw) == 0.0:
        return float("nan")
    with warnings.catch_warnings():
        # ArviZ 0.23 announces its 1.0 refactor on import (a FutureWarning about ArviZ, not about the run)
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)
        import arviz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, k = arviz.psislw(lw - lw.max())
    return float(np.asarray(k))


@dataclass(frozen=True)
class WeightDiagnostics:
    """The diagnostics of one weighted run."""

    scenarios: int
    weight_sum: float  # Σw (w in [0, 1])
    weight_sq_sum: float  # Σw²
    k_hat: float
    k_basis: str  # which scenarios k̂ was computed from
    zero: int  # scenarios of weight 0 (more than ~6.7 sd from an observation)

    @property
    def ess(self) -> float:
        return self.weight_sum**2 / self.weight_sq_sum if self.weight_sq_sum > 0 else 0.0

    def warnings(self) -> list[str]:
        out = []
        if self.ess < ESS_WARN:
            out.append(
                f"the observations leave an effective sample size of {self.ess:,.0f} scenarios (< {ESS_WARN:,.0f}): "
                "weighted statistics are noisy; run more scenarios or check the observations against the prior (--prior)"
            )
        if np.isfinite(self.k_hat) and self.k_hat > K_WARN:
            out.append(
                f"Pareto k-hat of the weights is {self.k_hat:.2f} (> {K_WARN}): a few scenarios dominate the weighted "
                "results, which are unreliable; the prior hardly covers the observations (compare with --prior)"
            )
        return out

    def attrs(self) -> dict:
        return {
            "weights_ess": float(self.ess),
            "weights_ess_fraction": float(self.ess / max(self.scenarios, 1)),
            "weights_pareto_k": float(self.k_hat),
            "weights_pareto_k_basis": self.k_basis,
            "weights_zero_count": int(self.zero),
            "weights_method": (
                "importance weights w = exp(sum of -z^2/2) over the observations (normal, or split normal for an "
                f"asymmetric 90% interval), quantised to multiples of 2^-{int(np.log2(WEIGHT_SCALE))} so that weighted "
                "sums are exact in any order; ESS = (sum w)^2 / sum w^2 (Kish); Pareto k-hat by PSIS (ArviZ psislw)"
            ),
        }


def diagnose(scenarios: int, weight_units: int, weight_sq_sum: float, log_lik_for_k, k_basis: str, zero: int) -> WeightDiagnostics:
    """Diagnostics from the run's weight sums (``weight_units``: Σw in units of 2^-32) and log-likelihoods.

    Raises
    ------
    RunError
        If every scenario has weight 0: the observations contradict the whole prior.
    """
    if weight_units <= 0:
        raise RunError(
            f"every one of the {scenarios:,} scenarios has weight 0: the observations contradict the prior "
            "(each scenario is more than ~6.7 standard deviations from some observation). Check the observations' "
            "values, units and uncertainties, or run with --prior to see what the prior projects"
        )
    return WeightDiagnostics(scenarios, weight_units / WEIGHT_SCALE, float(weight_sq_sum), pareto_k(log_lik_for_k), k_basis, int(zero))
