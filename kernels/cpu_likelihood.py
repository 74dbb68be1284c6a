"""CPU weights of given scenarios: the log-likelihood of the observations from stored outputs.

:func:`scenario_weights` computes, for scenarios whose inputs and outputs are given (a cube
chunk, the kept sample of a summary, the NumPy reference's blocks), what
:func:`kernels.cpu_summary.summarise_block` computes inside its tiles: the same cell sums in
the same order and the same likelihood terms (:mod:`kernels.likelihood`), so a scenario's
weight does not depend on the path that computed it.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import likelihood, model, special, summary
from kernels._target import build
from kernels.cpu_sampling import build_inlined

K = build(numba.njit(cache=False, error_model="numpy", inline="always"), [likelihood])
_vintage_ll = K.vintage_log_likelihood
_quantised_weight = K.quantised_weight
_lterm = K.likelihood_term
_oform = K.observed_form
_fill_vintages = build_inlined([special, model]).fill_vintages
_W_UNIT = 1.0 / likelihood.WEIGHT_SCALE

__all__ = ["scenario_weights", "cell_log_likelihood", "n_vintages_observed", "weight_sums"]


@numba.njit(cache=True, error_model="numpy", inline="always")
def _element_value(k, s, e, c, w, a, cell_var, cell_ptr, term_idx):
    """Element cell ``k`` of scenario row ``s``: the sum of its flat elements in table order."""
    var = cell_var[k]
    v = 0.0
    for t in range(cell_ptr[k], cell_ptr[k + 1]):
        idx = term_idx[t]
        if var == summary.VAR_ELECTRICITY:
            v += e[s, idx]
        elif var == summary.VAR_CARBON:
            v += c[s, idx]
        elif var == summary.VAR_WATER:
            v += w[s, idx]
        else:
            v += a[s, idx]
    return v


@numba.njit(cache=True, error_model="numpy")
def _cell_value(k, s, e, c, w, a, cell_var, cell_ptr, term_idx):
    """Cell ``k`` of scenario row ``s``, summed as :func:`kernels.summary.derive_cells` sums it
    (derived cells of element cells, or of derived cells of element cells: the summary's depth)."""
    if cell_var[k] != summary.VAR_CELLS:
        return _element_value(k, s, e, c, w, a, cell_var, cell_ptr, term_idx)
    v = 0.0
    for t in range(cell_ptr[k], cell_ptr[k + 1]):
        src = term_idx[t]
        if cell_var[src] != summary.VAR_CELLS:
            v += _element_value(src, s, e, c, w, a, cell_var, cell_ptr, term_idx)
        else:
            u = 0.0
            for t2 in range(cell_ptr[src], cell_ptr[src + 1]):
                u += _element_value(term_idx[t2], s, e, c, w, a, cell_var, cell_ptr, term_idx)
            v += u
    return v


@numba.njit(cache=True, error_model="numpy", inline="always")
def n_vintages_observed(obs_src, obs_year):
    """The vintages the shipment and power observations read (later ones cannot change them)."""
    n_fill = 0
    for i in range(obs_src.shape[0]):
        if obs_src[i] != likelihood.SRC_CELL:
            n_fill = max(n_fill, obs_year[i] + 1)
    return n_fill


@numba.njit(cache=True, error_model="numpy", inline="always")
def cell_log_likelihood(v, s, e, c, w, a, cell_var, cell_ptr, term_idx, obs_src, obs_cell, obs_prev, obs_form, obs_par):
    """``v`` (the scenario's vintage terms) plus the terms of the cell observations of scenario row
    ``s`` of the outputs ``e, c, w, a`` (2-D [scenario, element]), in table order."""
    for i in range(obs_src.shape[0]):
        if obs_src[i] != likelihood.SRC_CELL:
            continue
        cur = _cell_value(obs_cell[i], s, e, c, w, a, cell_var, cell_ptr, term_idx)
        prev = _cell_value(obs_prev[i], s, e, c, w, a, cell_var, cell_ptr, term_idx) if obs_prev[i] >= 0 else 1.0
        v += _lterm(_oform(obs_form[i], cur, prev), obs_par[i, 0], obs_par[i, 1], obs_par[i, 2])
    return v


@numba.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def scenario_weights(x, e, c, w, a, n_regions, n_years, cell_var, cell_ptr, term_idx,
                     obs_src, obs_cell, obs_prev, obs_year, obs_form, obs_par, ll, wq):  # fmt: skip
    """Log-likelihood ``ll`` [scenarios] and quantised weight ``wq`` of given scenarios: inputs ``x``
    [scenario, input] and outputs ``e, c, w, a`` (2-D [scenario, element], any float type).

    The same terms in the same order as :func:`summarise_block` computes in its tiles, so a
    float64 cube's scenarios get the same bits as the summary's; a float32 cube's weights are
    those of its stored values (so anyone can recompute them from the file).
    """
    n_fill = n_vintages_observed(obs_src, obs_year)
    for s in numba.prange(x.shape[0]):
        ship = np.empty(n_years)
        power = np.empty(n_years)
        v = 0.0
        if n_fill > 0:
            _fill_vintages(x[s], n_regions, n_fill, ship, power, np.empty(n_fill))
            v = _vintage_ll(ship, power, obs_src, obs_year, obs_form, obs_par)
        v = cell_log_likelihood(v, s, e, c, w, a, cell_var, cell_ptr, term_idx, obs_src, obs_cell, obs_prev, obs_form, obs_par)
        ll[s] = v
        wq[s] = _quantised_weight(v)


@numba.njit(cache=True, error_model="numpy")
def weight_sums(wq, count):
    """``(Σ wq, Σ (wq 2^-32)²)`` of ``wq[:count]``: the integer sum and the float sum of squares, in order."""
    w1 = 0
    w2 = 0.0
    for j in range(count):
        w1 += wq[j]
        f = wq[j] * _W_UNIT
        w2 += f * f
    return w1, w2
