"""Input distributions: the kinds registry (:data:`KINDS`), their pydantic models and kernel rows.

:mod:`.base` holds what the kinds share (parameter rows, truncation, the PERT/beta quantile
table); :mod:`.kinds` the eight kinds.  References: ``scipy_dist()`` of each kind
(:mod:`engine.reference.scipy_dists`) and the NumPy inverse CDFs (:mod:`engine.reference.ppf`).
"""

from engine.distributions.base import MIN_TRUNCATED_MASS, beta_quantile_table
from engine.distributions.kinds import (
    KINDS,
    BetaDist,
    Distribution,
    FixedDist,
    LognormalDist,
    NormalDist,
    PercentileDist,
    PertDist,
    TriangularDist,
    UniformDist,
)
from engine.reference.ppf import ppf_numpy_by_code

__all__ = [
    "KINDS",
    "MIN_TRUNCATED_MASS",
    "BetaDist",
    "Distribution",
    "FixedDist",
    "LognormalDist",
    "NormalDist",
    "PercentileDist",
    "PertDist",
    "TriangularDist",
    "UniformDist",
    "beta_quantile_table",
    "kind_parameters",
    "ppf_numpy_by_code",
]


def kind_parameters() -> dict[str, list[tuple[str, str, str]]]:
    """Kind name -> its parameters as ``(name, "required" or "default <value>", description)``."""
    out = {}
    for kind, cls in KINDS.items():
        rows = []
        for name, field in cls.model_fields.items():
            if name in ("kind",):
                continue
            key = field.alias or name
            need = "required" if field.is_required() else f"default {field.default!r}"
            rows.append((key, need, field.description or ""))
        out[kind] = sorted(rows, key=lambda r: r[0] in ("source", "note"))  # the kind's own parameters first
    return out
