"""The compiled quantile estimators of summaries (:mod:`kernels.cpu_quantiles`) against a NumPy
reference: the per-cell NumPy code they replaced, kept here as written (whole-array NumPy:
``cumsum``, ``searchsorted``, ``where``, ``clip``).  Bit for bit, on ragged histograms with
empty cells, single values, the open bins at both ends and zero-weight bins."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stats.quantiles import estimate_quantiles, estimate_weighted_quantiles, ragged_estimates
from kernels import summary as ks
from kernels.cpu_merge import ragged_bins
from kernels.cpu_quantiles import bin_edges


def ref_bin_edges(bins, vmin, vmax):
    j = bins - 1
    lower = np.ldexp(1.0 + (j % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j // ks.HIST_PER_OCTAVE)
    j1 = bins
    upper = np.ldexp(1.0 + (j1 % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j1 // ks.HIST_PER_OCTAVE)
    lower = np.where(bins == 0, vmin, lower)
    upper = np.where(bins == 0, 2.0**ks.HIST_EXP_LO, upper)
    lower = np.where(bins == ks.HIST_BINS - 1, 2.0**ks.HIST_EXP_HI, lower)
    upper = np.where(bins == ks.HIST_BINS - 1, vmax, upper)
    return np.clip(lower, vmin, vmax), np.clip(upper, vmin, vmax)


def ref_quantiles(counts, first_bin, vmin, vmax, q):
    cum = np.cumsum(counts)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return np.full(q.shape, np.nan)
    h = q * (n - 1)
    j = np.floor(h).astype(np.int64)
    frac = h - j
    ranks = np.stack([j, np.minimum(j + 1, n - 1)])
    b = np.searchsorted(cum, ranks, side="right")
    c = counts[b]
    before = cum[b] - c
    lower, upper = ref_bin_edges(first_bin + b, vmin, vmax)
    x = lower + (ranks - before + 0.5) / c * (upper - lower)
    x = np.where(ranks == 0, vmin, np.where(ranks == n - 1, vmax, x))
    return np.clip(x[0] + frac * (x[1] - x[0]), vmin, vmax)


def ref_weighted_quantiles(weights, first_bin, vmin, vmax, q):
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w)
    total = float(cum[-1]) if cum.size else 0.0
    if total <= 0.0:
        return np.full(q.shape, np.nan)
    target = q * total
    b = np.minimum(np.searchsorted(cum, target, side="left"), cum.size - 1)
    b = np.where(q <= 0.0, np.argmax(w > 0), b)
    c = w[b]
    before = cum[b] - c
    lower, upper = ref_bin_edges(first_bin + b, vmin, vmax)
    frac = np.clip(np.where(c > 0, (target - before) / np.where(c > 0, c, 1.0), 0.0), 0.0, 1.0)
    return np.clip(lower + frac * (upper - lower), vmin, vmax)


LEVELS = np.array([0.0, 1e-9, 0.01, 0.05, 0.25, 0.5, 0.5 + 1e-12, 0.75, 0.95, 0.99, 1.0 - 1e-9, 1.0])


def _histograms(seed, weighted):
    """Histograms of 40 cells: log-normal values over many octaves, a few values near and past
    both open bins, empty cells, one-value cells, and (weighted) weights with many zeros."""
    rng = np.random.default_rng(seed)
    n_cells = 40
    hist = np.zeros((n_cells, ks.HIST_BINS), dtype=np.int64 if weighted else np.int32)
    vmin, vmax = np.full(n_cells, np.inf), np.full(n_cells, -np.inf)
    for k in range(n_cells):
        size = [0, 1, 2, 7, 500, 20_000][k % 6]
        v = rng.lognormal(mean=rng.uniform(-25, 20), sigma=rng.uniform(0.01, 4), size=size)
        if k % 5 == 0 and size:
            v[: min(size, 3)] = [0.0, 2.0**ks.HIST_EXP_HI, -1.0][: min(size, 3)]
        if size == 0:
            continue
        bins = np.array([ks.hist_bin(x) for x in v])
        w = rng.integers(0, 2**32, size) * (rng.random(size) < 0.6) if weighted else np.ones(size, dtype=np.int64)
        np.add.at(hist[k], bins, w)
        vmin[k], vmax[k] = v.min(), v.max()
    return hist, vmin, vmax


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_cell_equals_the_numpy_reference(seed, weighted):
    hist, vmin, vmax = _histograms(seed, weighted)
    lo, ln, counts = ragged_bins(hist, vmin, vmax)
    got = ragged_estimates(lo, ln, counts, vmin, vmax, LEVELS, weighted)
    ref_fn = ref_weighted_quantiles if weighted else ref_quantiles
    ends = np.cumsum(ln)
    seen = 0
    for k in range(hist.shape[0]):
        c = counts[ends[k] - ln[k] : ends[k]]
        ref = ref_fn(c, int(lo[k]), vmin[k], vmax[k], LEVELS)
        np.testing.assert_array_equal(got[k], ref, err_msg=f"cell {k}")
        one = (estimate_weighted_quantiles if weighted else estimate_quantiles)(c, int(lo[k]), vmin[k], vmax[k], LEVELS)
        np.testing.assert_array_equal(one, ref, err_msg=f"cell {k}, one-cell call")
        seen += np.isfinite(ref).all()
    assert seen >= 20  # most cells saw values (and the empty ones compared as NaN)


def test_bin_edges_equal_the_numpy_reference_at_both_open_bins_and_between():
    bins = np.array([0, 1, 2, 511, 512, 513, ks.HIST_BINS // 2, ks.HIST_BINS - 2, ks.HIST_BINS - 1])
    lo_ref, hi_ref = ref_bin_edges(bins, -3.0, 1e9)
    got = np.array([bin_edges(int(b), -3.0, 1e9) for b in bins])
    np.testing.assert_array_equal(got[:, 0], lo_ref)
    np.testing.assert_array_equal(got[:, 1], hi_ref)
    assert got[1, 0] == 2.0**ks.HIST_EXP_LO and got[1, 1] == 2.0**ks.HIST_EXP_LO * (1 + 2.0**-ks.HIST_SUB_BITS)  # by hand


def test_a_known_small_histogram_by_hand():
    # values 1, 2, 3, 4 in four bins: the median (rank 1.5) lies halfway between statistics 1 and 2,
    # each placed at the middle of its bin (one value per bin), so by hand it is the mean of the bin centres
    v = np.array([1.0, 2.0, 3.0, 4.0])
    bins = np.array([ks.hist_bin(x) for x in v])
    counts = np.zeros(bins[-1] - bins[0] + 1, dtype=np.int64)
    counts[bins - bins[0]] = 1
    centre = lambda b: sum(bin_edges(int(b), 1.0, 4.0)) / 2  # noqa: E731
    got = estimate_quantiles(counts, int(bins[0]), 1.0, 4.0, np.array([0.0, 0.5, 1.0]))
    assert got[0] == 1.0 and got[2] == 4.0
    assert got[1] == pytest.approx((centre(bins[1]) + centre(bins[2])) / 2, rel=1e-15)
    assert abs(got[1] - 2.5) / 2.5 < 2.0**-ks.HIST_SUB_BITS
