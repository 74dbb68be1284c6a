"""Input distributions: kernel ppf vs scipy.stats, NumPy reference vs kernel, KS tests of
Philox-driven draws, the percentile form, and validation messages."""

from __future__ import annotations

import math

import numba
import numpy as np
import pydantic
import pytest
from scipy import stats

from engine.distributions import KINDS, Distribution, PercentileDist, ppf_numpy_by_code
from engine.reference.philox import input_uniforms_np
from kernels import distributions as kd
from kernels import special
from kernels._target import build

SRC = {"source": "test"}

# (id, config) - several parameter sets per kind, truncations in the tails included
CASES = [
    ("fixed", {"kind": "fixed", "value": 3.5}),
    ("fixed-neg", {"kind": "fixed", "value": -2.0}),
    ("uniform", {"kind": "uniform", "low": 1.0, "high": 2.0}),
    ("uniform-wide", {"kind": "uniform", "low": -5.0, "high": 1e3}),
    ("triangular", {"kind": "triangular", "low": 0.0, "mode": 1.0, "high": 4.0}),
    ("triangular-left", {"kind": "triangular", "low": 2.0, "mode": 2.0, "high": 3.0}),
    ("triangular-right", {"kind": "triangular", "low": 2.0, "mode": 5.0, "high": 5.0}),
    ("pert", {"kind": "pert", "low": 0.9, "mode": 1.1, "high": 1.6}),
    ("pert-at-low", {"kind": "pert", "low": 10.0, "mode": 10.0, "high": 20.0}),
    ("pert-lamb", {"kind": "pert", "low": 0.0, "mode": 7.0, "high": 8.0, "lamb": 6.0}),
    ("beta", {"kind": "beta", "alpha": 2.0, "beta": 3.0, "low": 1.0, "high": 5.0}),
    ("beta-arcsine", {"kind": "beta", "alpha": 0.5, "beta": 0.5}),
    ("beta-skewed", {"kind": "beta", "alpha": 0.7, "beta": 45.0, "low": 0.0, "high": 100.0}),
    ("beta-peaked", {"kind": "beta", "alpha": 30.0, "beta": 30.0}),
    ("normal", {"kind": "normal", "mean": 1.0, "sd": 2.0}),
    ("normal-trunc", {"kind": "normal", "mean": 0.3, "sd": 0.1, "lower": 0.2, "upper": 0.6}),
    ("normal-half", {"kind": "normal", "mean": 0.0, "sd": 3.0, "lower": 0.0}),
    ("normal-upper-tail", {"kind": "normal", "mean": 10.0, "sd": 1.0, "lower": 15.0}),
    ("normal-lower-tail", {"kind": "normal", "mean": 0.0, "sd": 1.0, "upper": -5.0}),
    ("normal-far-band", {"kind": "normal", "mean": 0.0, "sd": 1.0, "lower": 4.0, "upper": 4.5}),
    ("lognormal", {"kind": "lognormal", "median": 2.0, "sigma": 0.5}),
    ("lognormal-mu", {"kind": "lognormal", "mu": 1.0, "sigma": 1.2}),
    ("lognormal-upper-tail", {"kind": "lognormal", "mu": 0.0, "sigma": 1.0, "lower": 55.0}),
    ("lognormal-both", {"kind": "lognormal", "median": 100.0, "sigma": 0.8, "lower": 50.0,
                        "upper": 400.0}),
    ("lognormal-cap", {"kind": "lognormal", "median": 3.0, "sigma": 2.0, "upper": 10.0}),
    ("percentile", {"kind": "percentile", "low": 1.0, "high": 10.0}),
    ("percentile-normal", {"kind": "percentile", "low": -1.0, "high": 10.0, "shape": "normal"}),
    ("percentile-80", {"kind": "percentile", "low": 200.0, "high": 900.0, "p_low": 0.1,
                       "p_high": 0.9}),
]
IDS = [c[0] for c in CASES]
QUANTILES = np.array([1e-6, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999])

_ADAPTER = pydantic.TypeAdapter(Distribution)


def make(cfg: dict):
    return _ADAPTER.validate_python({**cfg, **SRC})


@pytest.fixture(scope="module")
def jit():
    return build(numba.njit, [special, kd])


@pytest.fixture(scope="module")
def ppf_many(jit):
    ppf = jit.ppf

    @numba.njit
    def _many(kind, params, u):
        out = np.empty(u.size)
        for i in range(u.size):
            out[i] = ppf(kind, params, u[i])
        return out

    return _many


def _atol(dist) -> float:
    lo, hi = dist.scipy_dist().ppf([0.001, 0.999])
    return 1e-13 * max(abs(hi - lo), abs(hi), abs(lo), 1e-300)


@pytest.mark.parametrize("cfg", [c[1] for c in CASES], ids=IDS)
def test_kernel_params_row(cfg):
    code, params = make(cfg).kernel_params()
    assert isinstance(code, int) and 0 <= code <= 5
    assert params.dtype == np.float64 and params.shape == (kd.N_PARAMS,)


@pytest.mark.parametrize("cfg", [c[1] for c in CASES], ids=IDS)
def test_kernel_matches_scipy_and_numpy(ppf_many, cfg):
    dist = make(cfg)
    code, params = dist.kernel_params()
    got = ppf_many(code, params, QUANTILES)
    np.testing.assert_allclose(got, dist.scipy_dist().ppf(QUANTILES), rtol=1e-9, atol=_atol(dist))
    np.testing.assert_allclose(dist.ppf_numpy(QUANTILES), got, rtol=1e-10, atol=_atol(dist))


@pytest.mark.parametrize("cfg", [c[1] for c in CASES[::3]], ids=IDS[::3])
def test_interpreted_kernel_matches_compiled(ppf_many, cfg):
    code, params = make(cfg).kernel_params()
    q = QUANTILES[::2]
    got = np.array([kd.ppf(code, params, u) for u in q])
    np.testing.assert_allclose(got, ppf_many(code, params, q), rtol=1e-14)


@pytest.mark.parametrize("cfg", [c[1] for c in CASES], ids=IDS)
def test_median_and_support(cfg):
    dist = make(cfg)
    ref = dist.scipy_dist()
    assert dist.median() == pytest.approx(float(ref.ppf(0.5)), rel=1e-10, abs=_atol(dist))
    lo, hi = dist.support()
    assert (lo, hi) == pytest.approx(tuple(float(v) for v in ref.ppf([0.0, 1.0])), rel=1e-12)


KS_CASES = ["uniform", "triangular", "pert", "beta-skewed", "beta-arcsine", "normal-trunc",
            "normal-upper-tail", "lognormal", "lognormal-upper-tail", "percentile-80"]


@pytest.mark.parametrize("index,name", list(enumerate(KS_CASES)), ids=KS_CASES)
def test_ks_philox_draws(ppf_many, index, name):
    """10**6 draws: Philox uniforms (NumPy reference) through the compiled ppf (2 * 10**4
    when the JIT is disabled)."""
    dist = make(dict(CASES)[name])
    n = 20_000 if numba.config.DISABLE_JIT else 1_000_000
    u = input_uniforms_np(20240917, np.arange(n), index)
    x = ppf_many(*dist.kernel_params(), u)
    assert stats.kstest(x, dist.scipy_dist().cdf).pvalue > 1e-3


def test_fixed_draws_are_constant(ppf_many):
    code, params = make({"kind": "fixed", "value": 7.25}).kernel_params()
    u = input_uniforms_np(1, np.arange(10_000), 0)
    assert np.all(ppf_many(code, params, u) == 7.25)


@pytest.mark.parametrize(
    "cfg",
    [{"low": 1.0, "high": 10.0}, {"low": 0.02, "high": 0.9, "p_low": 0.1, "p_high": 0.975},
     {"low": -3.0, "high": 3.0, "shape": "normal"},
     {"low": 5.0, "high": 6.0, "p_low": 0.25, "p_high": 0.75, "shape": "normal"}],
)
def test_percentile_form_hits_its_quantiles(jit, cfg):
    dist = PercentileDist(**cfg, **SRC)
    p = [dist.p_low, dist.p_high]
    expected = [dist.low, dist.high]
    assert dist.to_distribution().kind == dist.shape
    np.testing.assert_allclose(dist.scipy_dist().ppf(p), expected, rtol=1e-12)
    np.testing.assert_allclose(dist.ppf_numpy(p), expected, rtol=1e-12)
    code, params = dist.kernel_params()
    np.testing.assert_allclose([jit.ppf(code, params, v) for v in p], expected, rtol=1e-12)


def test_registry_and_union():
    assert set(KINDS) == {"fixed", "uniform", "triangular", "pert", "beta", "normal",
                          "lognormal", "percentile"}
    for name, cls in KINDS.items():
        assert cls.model_fields["kind"].default == name
    for name, cfg in CASES:
        assert isinstance(make(cfg), KINDS[cfg["kind"]]), name
    d = make({"kind": "lognormal", "median": 4.0, "sigma": 0.3, "note": "n"})
    assert d.log_mu == pytest.approx(math.log(4.0)) and d.note == "n"
    # round trip through a plain dict (as a config file would)
    again = make({k: v for k, v in d.model_dump(by_alias=True).items() if k != "source"})
    assert again == d


def test_ppf_edges_and_unknown_codes(jit):
    code, params = make({"kind": "beta", "alpha": 2.0, "beta": 3.0, "low": 1.0,
                         "high": 5.0}).kernel_params()
    for fn in (kd.ppf, jit.ppf):
        assert fn(code, params, 0.0) == 1.0 and fn(code, params, 1.0) == 5.0
        assert math.isnan(fn(99, params, 0.5))
    code, params = make({"kind": "normal", "mean": 0.0, "sd": 1.0}).kernel_params()
    assert jit.ppf(code, params, 0.0) == -math.inf and jit.ppf(code, params, 1.0) == math.inf
    with pytest.raises(ValueError, match="unknown distribution code 99"):
        ppf_numpy_by_code(99, params, [0.5])
    with pytest.raises(ValueError, match="length 8"):
        ppf_numpy_by_code(code, params[:4], [0.5])


def test_rows_without_survival_values_still_work(jit):
    """A hand-built 4-value normal row (p4 = p5 = 0) falls back to s = 1 - c."""
    params = np.zeros(8)
    params[:4] = [1.0, 2.0, 0.0, 1.0]
    for u in (0.01, 0.5, 0.9):
        assert jit.ppf(kd.DIST_NORMAL, params, u) == pytest.approx(
            stats.norm(1.0, 2.0).ppf(u), rel=1e-12)


INVALID = [
    ({"kind": "uniform", "low": 3.0, "high": 1.0}, r"high must be greater than low"),
    ({"kind": "triangular", "low": 0.0, "mode": 5.0, "high": 4.0},
     r"mode must lie within \[low, high\]"),
    ({"kind": "pert", "low": 0.0, "mode": -1.0, "high": 4.0}, r"mode must lie within"),
    ({"kind": "pert", "low": 0.0, "mode": 1.0, "high": 4.0, "lamb": 0.0}, r"lamb must be > 0"),
    ({"kind": "beta", "alpha": 0.0, "beta": 2.0}, r"alpha must be > 0"),
    ({"kind": "beta", "alpha": 2.0, "beta": -1.0}, r"beta must be > 0"),
    ({"kind": "beta", "alpha": 2.0, "beta": 2.0, "low": 1.0, "high": 1.0},
     r"high must be greater than low"),
    ({"kind": "normal", "mean": 0.0, "sd": 0.0}, r"sd\n.*sd must be > 0"),
    ({"kind": "normal", "mean": 0.0, "sd": 1.0, "lower": 2.0, "upper": 1.0},
     r"upper must be greater than lower"),
    ({"kind": "normal", "mean": 0.0, "sd": 1.0, "lower": 40.0},
     r"truncation to \[lower, upper\] = \[40.0, None\] keeps probability .* expected at least"),
    ({"kind": "lognormal", "mu": 0.0, "sigma": -1.0}, r"sigma must be > 0"),
    ({"kind": "lognormal", "mu": 0.0, "sigma": 1.0, "lower": 0.0}, r"lower must be > 0"),
    ({"kind": "lognormal", "median": -2.0, "sigma": 1.0}, r"median must be > 0"),
    ({"kind": "lognormal", "mu": 0.0, "median": 1.0, "sigma": 1.0},
     r"exactly one of mu \(mean of ln X\) or median, got both"),
    ({"kind": "lognormal", "sigma": 1.0}, r"exactly one of mu .* got neither"),
    ({"kind": "lognormal", "mu": 0.0, "sigma": 1.0, "lower": 1e-30, "upper": 1e-29},
     r"keeps probability"),
    ({"kind": "percentile", "low": 5.0, "high": 5.0}, r"high must be greater than low"),
    ({"kind": "percentile", "low": 1.0, "high": 5.0, "p_low": 0.9, "p_high": 0.1},
     r"0 < p_low < p_high < 1"),
    ({"kind": "percentile", "low": 1.0, "high": 5.0, "p_high": 1.0}, r"0 < p_low < p_high < 1"),
    ({"kind": "percentile", "low": -1.0, "high": 5.0},
     r"low must be > 0 for shape='lognormal'"),
    ({"kind": "percentile", "low": 1.0, "high": 5.0, "shape": "gamma"}, r"shape\n.*'lognormal'"),
    ({"kind": "normal", "mean": 0.0, "sd": 1.0, "mena": 1.0},
     r"mena\n.*Extra inputs are not permitted"),
    ({"kind": "normal", "mean": math.inf, "sd": 1.0}, r"mean\n.*finite number"),
    ({"kind": "gaussian", "mean": 0.0, "sd": 1.0}, r"does not match any of the expected tags"),
]


@pytest.mark.parametrize("cfg,match", INVALID, ids=[m for _, m in INVALID])
def test_validation_messages(cfg, match):
    with pytest.raises(pydantic.ValidationError, match=match):
        make(cfg)


def test_source_is_required_and_non_empty():
    with pytest.raises(pydantic.ValidationError, match=r"source\n.*Field required"):
        _ADAPTER.validate_python({"kind": "fixed", "value": 1.0})
    with pytest.raises(pydantic.ValidationError, match=r"source must be a non-empty string"):
        _ADAPTER.validate_python({"kind": "fixed", "value": 1.0, "source": "  "})
