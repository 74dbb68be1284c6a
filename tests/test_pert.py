"""PERT distributions: moments against the closed forms, not against the code's alpha/beta mapping.

The expected values come from the PERT definitions alone: mean (low + lamb*mode + high)/(lamb + 2)
(= (low + 4 mode + high)/6 for the default lamb = 4), variance (mean - low)(high - mean)/(lamb + 3),
density peak at ``mode``.  The distribution as implemented is reached three ways: the kernel's
inverse CDF on its real parameter row (quantile table included), the NumPy reference inverse
CDF, and Philox draws of the default config through the numba backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from engine.backends import get_backend
from engine.distributions import PertDist
from engine.inputs.layout import build_layout
from kernels import distributions as kd

SHAPES = [  # (low, mode, high): skewed either way, mode at an end, the default config's ranges
    (0.0, 1.0, 10.0),
    (95.0, 110.0, 130.0),
    (-0.08, 0.0, 0.06),
    (0.1, 0.9, 2.4),
    (2.0, 2.0, 5.0),
    (1.0, 3.0, 3.0),
]
LAMBS = [0.5, 1.0, 2.0, 4.0, 7.5, 20.0]
T = np.linspace(-36.0, 36.0, 7201)  # logit grid: u = expit(t) covers (2e-16, 1 - 2e-16)


def _pert(low, mode, high, lamb=4.0) -> PertDist:
    return PertDist(kind="pert", low=low, mode=mode, high=high, lamb=lamb, source="test")


def _kernel_row(dist) -> np.ndarray:
    """The parameter row the kernel reads: the 8 slots, the quantile table from slot 5 on."""
    code, p = dist.kernel_params()
    table = dist.kernel_table()
    return p if table is None else np.concatenate([p[:5], table])


def _moments(ppf) -> tuple[float, float]:
    """Mean and variance of X = ppf(U) by quadrature: E[g(X)] = integral of g(ppf(u)) du,
    with u = expit(t), du = u (1 - u) dt, trapezoidal in t (exponentially accurate here)."""
    u = special.expit(T)
    weight = u * special.expit(-T)
    x = ppf(u)
    mean = np.trapezoid(x * weight, T)
    var = np.trapezoid((x - mean) ** 2 * weight, T)
    return float(mean), float(var)


def _kernel_ppf(dist):
    code, row = dist.kernel_params()[0], _kernel_row(dist)
    return lambda u: np.array([kd.ppf(code, row, float(ui)) for ui in u])


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_pert_mean_is_low_plus_4_mode_plus_high_over_6(shape):
    """lamb = 4: E[X] = (low + 4 mode + high)/6 and Var = (E - low)(high - E)/7, for the kernel's
    inverse CDF (with its quantile table) and for the NumPy reference one."""
    low, mode, high = shape
    dist = _pert(low, mode, high)
    mean = (low + 4.0 * mode + high) / 6.0
    var = (mean - low) * (high - mean) / 7.0
    for which, ppf in [("kernel", _kernel_ppf(dist)), ("numpy", dist.ppf_numpy)]:
        got_mean, got_var = _moments(ppf)
        assert got_mean == pytest.approx(mean, rel=1e-8, abs=1e-10 * (high - low)), which
        assert got_var == pytest.approx(var, rel=1e-7), which


@pytest.mark.parametrize("lamb", LAMBS)
@pytest.mark.parametrize("shape", SHAPES[:4], ids=[str(s) for s in SHAPES[:4]])
def test_pert_mean_for_any_lambda(shape, lamb):
    """General lamb: E[X] = (low + lamb mode + high)/(lamb + 2), Var = (E - low)(high - E)/(lamb + 3)."""
    low, mode, high = shape
    dist = _pert(low, mode, high, lamb)
    mean = (low + lamb * mode + high) / (lamb + 2.0)
    var = (mean - low) * (high - mean) / (lamb + 3.0)
    got_mean, got_var = _moments(_kernel_ppf(dist))
    assert got_mean == pytest.approx(mean, rel=1e-8, abs=1e-10 * (high - low))
    assert got_var == pytest.approx(var, rel=1e-7)


@pytest.mark.parametrize("lamb", [1.0, 4.0, 20.0])
def test_pert_density_peaks_at_the_mode(lamb):
    """The density (scipy reference of the kind) is highest at ``mode`` (to the grid spacing)."""
    low, mode, high = 0.0, 1.3, 10.0
    x = np.linspace(low, high, 100_001)
    pdf = _pert(low, mode, high, lamb).scipy_dist().pdf(x)
    assert abs(x[np.argmax(pdf)] - mode) <= 1e-4 * (high - low)


def test_kernel_row_is_the_layouts_row(default_config):
    """The row the quadrature tests feed the kernel is the one a run uses (crypto_2022)."""
    layout = build_layout(default_config)
    j = layout.names.index("crypto_2022")
    row = _kernel_row(default_config.distribution("crypto_2022"))
    np.testing.assert_array_equal(layout.params[j, : row.size], row)
    assert (layout.params[j, row.size :] == 0).all()


def test_philox_draws_of_every_default_pert_have_the_pert_mean(default_config):
    """2*10^5 Philox draws of the default config (numba backend, copula applied): every PERT
    input's sample mean lies within 5 standard errors of (low + 4 mode + high)/6, the standard
    error from the PERT variance (mean - low)(high - mean)/7 (5 sigma: ~40 inputs tested)."""
    layout = build_layout(default_config)
    n = 200_000
    x = get_backend("numba").sample(layout, 20240601, 0, n)
    checked = 0
    for j, name in enumerate(layout.names):
        if name.startswith("shipments_shock."):
            continue
        dist = default_config.distribution(name)
        if dist.kind != "pert":
            continue
        mean = (dist.low + dist.lamb * dist.mode + dist.high) / (dist.lamb + 2.0)
        sd = np.sqrt((mean - dist.low) * (dist.high - mean) / (dist.lamb + 3.0))
        assert abs(x[:, j].mean() - mean) <= 5.0 * sd / np.sqrt(n), (name, x[:, j].mean(), mean)
        assert x[:, j].std() == pytest.approx(sd, rel=0.02), name
        checked += 1
    assert checked >= 40
