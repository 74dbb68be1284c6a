"""The sampling plan of a config: which input sits in which column, its distribution, units and key.

:func:`build_layout` turns a validated :class:`~engine.config.Config` into the flat arrays
the kernels take (distribution codes, parameter rows, stream keys, copula factor), in the
column order of :mod:`kernels.model` (laid out by :func:`engine.inputs.registry.input_names`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config.copula import copula_factor, correlation_matrix
from engine.distributions import KINDS
from engine.inputs.registry import NORMALISED_INPUTS, SHOCK, SHOCK_SOURCE, input_keys, input_spec

__all__ = ["Layout", "build_layout"]


@dataclass(frozen=True)
class Layout:
    """Flat, kernel-ready description of the inputs of one config."""

    names: list[str]
    units: list[str]
    long_names: list[str]
    sources: list[str]
    kinds: np.ndarray  # int64[n_inputs], distribution codes of kernels.distributions
    params: np.ndarray  # float64[n_inputs, 8 (+ quantile table)], see kernels.distributions
    keys: np.ndarray  # uint64[n_inputs], Philox stream id of each column (engine.inputs.registry.stable_key)
    corr_index: np.ndarray  # int64[k], columns entering the copula
    corr_factor: np.ndarray  # float64[k, k], F with F F^T = copula correlation
    n_regions: int
    n_years: int
    regions: tuple[str, ...] = ()

    @property
    def n_inputs(self) -> int:
        return len(self.names)

    def normalised_columns(self) -> list[tuple[str, list[int]]]:
        """``(input key, [column per region])`` of the regional weights the model normalises."""
        return [(key, [self.names.index(f"{key}.{r}") for r in self.regions]) for key in NORMALISED_INPUTS]


def _std_normal() -> tuple[int, np.ndarray]:
    return KINDS["normal"](kind="normal", mean=0.0, sd=1.0, source=SHOCK_SOURCE).kernel_params()


def _column(config, name: str) -> tuple[int, np.ndarray, str, str, str]:
    """(code, parameter row, units, long name, source) of input column ``name``."""
    key, _, label = name.partition(".")
    spec = input_spec(name)
    if spec is SHOCK:
        code, p = _std_normal()
        return code, p, spec.units, f"{spec.long_name} in {label}", SHOCK_SOURCE
    dist = config.distribution(name)
    code, p = dist.kernel_params()
    table = dist.kernel_table() if hasattr(dist, "kernel_table") else None
    if table is not None:  # header in the row's free slots 5..7, then the data
        p = np.concatenate([p[:5], table])
    long_name = f"{spec.long_name} ({label})" if label else spec.long_name
    return code, p, spec.units, long_name, dist.source


def build_layout(config) -> Layout:
    """Build the :class:`Layout` of ``config``."""
    names = config.input_names()
    cols = [_column(config, n) for n in names]
    params = np.zeros((len(names), max(len(c[1]) for c in cols)), dtype=np.float64)
    for i, c in enumerate(cols):
        params[i, : len(c[1])] = c[1]
    corr_names, r = correlation_matrix(config)
    corr_index = np.array([names.index(n) for n in corr_names], dtype=np.int64)
    factor = copula_factor(r) if corr_names else np.zeros((0, 0))
    return Layout(
        names=names,
        units=[c[2] for c in cols],
        long_names=[c[3] for c in cols],
        sources=[c[4] for c in cols],
        kinds=np.array([c[0] for c in cols], dtype=np.int64),
        params=params,
        keys=input_keys(names),
        corr_index=corr_index,
        corr_factor=np.ascontiguousarray(factor, dtype=np.float64),
        n_regions=len(config.regions),
        n_years=config.years.count,
        regions=tuple(config.regions),
    )
