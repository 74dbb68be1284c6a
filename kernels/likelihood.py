"""Per-scenario log-likelihood of the observations, written once for every target.

Target-independent kernel arithmetic (see :mod:`kernels._target`).  The host compiles a
config's observations into small tables (:mod:`engine.conditioning.tables`):

* ``obs_src[i]``: where observation ``i``'s model value comes from: :data:`SRC_CELL` (a
  summary cell: a total or a regional total of a variable), :data:`SRC_SHIPMENTS` (the year's
  deployments [M]) or :data:`SRC_POWER` (their rated power [GW]);
* ``obs_cell[i]`` / ``obs_prev[i]``: the cell of the year (and of the year before, for a growth
  rate; else -1), for :data:`SRC_CELL`; ``obs_year[i]`` the year index for the others;
* ``obs_form[i]``: :data:`FORM_LEVEL` or :data:`FORM_GROWTH` (``v(t)/v(t-1) - 1``);
* ``obs_par[i]``: centre, sd below, sd above (a normal, or a split normal for an asymmetric
  90 % interval).

The log-likelihood is a sum of ``-z²/2`` terms (each observation's peak is 0, so the weight
``exp(ll)`` lies in [0, 1]); the vintage terms come first, then the cell terms, in table
order, on every path (fused summaries, cubes, kept samples), so the same scenario gets the
same bits.  Weights are quantised to integers (:func:`quantised_weight`, units of
2^-32), so weighted histograms and exceedance sums add exactly in any order, like counts.
"""

from __future__ import annotations

import math

from kernels._target import kernel

SRC_CELL = 0
SRC_SHIPMENTS = 1
SRC_POWER = 2
FORM_LEVEL = 0
FORM_GROWTH = 1
WEIGHT_BITS = 32
WEIGHT_SCALE = 4294967296.0  # 2**WEIGHT_BITS: a weight of 1 is this many units
LL_FLOOR = -745.0  # below this exp() underflows to 0 in float64


@kernel
def likelihood_term(model_value, centre, sd_lo, sd_hi):
    """``-z²/2`` of a (split) normal: ``z = (model - centre)/sd``, the sd of the side the model falls on [1]."""
    d = model_value - centre
    s = sd_lo if d < 0.0 else sd_hi
    z = d / s
    return -0.5 * z * z


@kernel
def observed_form(form, current, previous):
    """The model's value of an observation: the level, or the growth ``current/previous - 1``."""
    if form == FORM_GROWTH:
        return current / previous - 1.0
    return current


@kernel
def vintage_log_likelihood(ship, power, obs_src, obs_year, obs_form, obs_par):
    """Sum of the terms of the shipment and accelerator-power observations, from one scenario's
    deployments ``ship`` [M] and vintage power ``power`` [W] (:func:`kernels.vintages.fill_vintages`).
    Accelerator power [GW] = ship [M] x power [W] / 1000."""
    ll = 0.0
    for i in range(obs_src.shape[0]):
        src = obs_src[i]
        if src == SRC_CELL:
            continue
        y = obs_year[i]
        cur = ship[y]
        prev = ship[y - 1] if y > 0 else 1.0
        if src == SRC_POWER:
            cur = cur * power[y] / 1000.0
            if y > 0:
                prev = prev * power[y - 1] / 1000.0
        ll += likelihood_term(observed_form(obs_form[i], cur, prev), obs_par[i, 0], obs_par[i, 1], obs_par[i, 2])
    return ll


@kernel
def tile_log_likelihood(ll, tile, j, obs_src, obs_cell, obs_prev, obs_form, obs_par):
    """``ll`` plus the terms of the cell observations of scenario column ``j`` of a cell-major tile."""
    for i in range(obs_src.shape[0]):
        if obs_src[i] != SRC_CELL:
            continue
        cur = tile[obs_cell[i], j]
        prev = tile[obs_prev[i], j] if obs_prev[i] >= 0 else 1.0
        ll += likelihood_term(observed_form(obs_form[i], cur, prev), obs_par[i, 0], obs_par[i, 1], obs_par[i, 2])
    return ll


@kernel
def quantised_weight(ll):
    """The weight ``exp(ll)`` in integer units of 2^-32 (0 .. 2^32), rounded to nearest.

    Weights below 2^-33 become 0: such a scenario is more than ~6.7 sd from an observation.
    A NaN log-likelihood also gives 0; the run checks the outputs for non-finite values.
    """
    if not ll > LL_FLOOR:
        return 0
    return int(math.exp(ll) * WEIGHT_SCALE + 0.5)
