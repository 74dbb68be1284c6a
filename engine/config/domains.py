"""Physical domains: a config whose distributions can leave an input's domain is rejected.

The support checked is what the sampler can produce: the distribution's own bounds where
they are finite, and otherwise the quantile at the generator's extreme uniforms (2⁻⁵⁴ and
1 − 2⁻⁵³, :mod:`kernels.philox`), i.e. the most extreme value any scenario can draw.  A
normal(460, 9) is therefore accepted for a positive quantity (its draws lie within ±8.3 sd),
a normal(1.2, 0.5) for a PUE (≥ 1) is not.
"""

from __future__ import annotations

import math

from engine.inputs.registry import INPUTS, NORMALISED_INPUTS, SHOCK
from kernels.sampling import COPULA_U_MAX, COPULA_U_MIN

__all__ = ["check_domains", "sampled_range", "U_MIN", "U_MAX"]

U_MIN = COPULA_U_MIN  # smallest uniform the generator (and the copula) returns
U_MAX = COPULA_U_MAX  # largest


def sampled_range(dist) -> tuple[float, float]:
    """The smallest and largest value ``dist`` can be sampled at, in the input's units.

    A support end that is infinite, or not attained (the 0 of an untruncated lognormal), is
    replaced by the quantile at the generator's extreme uniform.
    """
    lo, hi = dist.support()
    if not math.isfinite(lo) or _open_lower(dist):
        lo = float(dist.ppf_numpy(U_MIN))
    if not math.isfinite(hi):
        hi = float(dist.ppf_numpy(U_MAX))
    return lo, hi


def _open_lower(dist) -> bool:
    """Whether the lower support end of ``dist`` is never drawn (an untruncated lognormal's 0)."""
    if dist.kind == "percentile":
        dist = dist.to_distribution()
    return dist.kind == "lognormal" and dist.lower is None


def _key_path(name: str) -> str:
    key, _, region = name.partition(".")
    return f"regional_inputs.{key}.{region}" if region else f"inputs.{key}"


def check_domains(config) -> None:
    """Raise ``ValueError`` naming the key path, the domain and the support of the first input
    whose distribution can leave its physical domain, or when storage + network shares can reach 1."""
    ranges = {}
    for name in config.input_names():
        key = name.partition(".")[0]
        if key == SHOCK.name:
            continue
        spec = INPUTS[key]
        dist = config.distribution(name)
        lo, hi = ranges[name] = sampled_range(dist)
        if not spec.domain.contains(lo, hi):
            raise ValueError(
                f"{_key_path(name)}: the {dist.kind} distribution can draw values in [{lo:.6g}, {hi:.6g}] {spec.units}, "
                f"outside the physical domain of {spec.long_name}: {spec.domain.describe()}"
            )
    for key in NORMALISED_INPUTS:
        if not sum(ranges[f"{key}.{r}"][0] for r in config.regions) > 0:
            raise ValueError(
                f"regional_inputs.{key}: the regional weights can all be 0 at once (every region's distribution "
                "reaches 0), and the model divides by their sum; give at least one region a weight bounded away from 0"
            )
    top = ranges["storage_share_2022"][1] + ranges["network_share_2022"][1]
    if not top < 1.0:
        raise ValueError(
            "inputs.storage_share_2022, inputs.network_share_2022: their largest draws add up to "
            f"{top:.6g}; storage + network must stay below 1 (the rest of conventional IT is servers)"
        )
