"""Streaming summaries: mergeable per-cell statistics, written once for every target.

Target-independent kernel arithmetic (see :mod:`kernels._target`): the CPU driver
(:mod:`kernels.cpu_summary`) runs :func:`accumulate_cell` for every summary cell in a
``prange``; a GPU driver can run the same function with one thread per cell.

Summary cells
-------------
A *cell* is one scalar per scenario: one element of an output variable (e.g. electricity of
one year, region and component) or a sum (a boundary total).  An *element cell* reads
variable ``cell_var[k]`` (0 electricity, 1 carbon, 2 water, 3 installed accelerators; each
passed as a 2-D ``[scenario, flat element]`` array) and sums the flat elements
``term_idx[cell_ptr[k]:cell_ptr[k+1]]``; a *derived cell* (``cell_var[k] == VAR_CELLS``)
sums the earlier cells ``term_idx[cell_ptr[k]:cell_ptr[k+1]]``.  Sums run in table order
(a fixed summation order, so every target gives the same float64 value).

Statistics of a block of scenarios
----------------------------------
For one block (at most a few thousand consecutive scenarios) each cell gets

* a histogram of its values in ``int64`` counts (exact, so partial histograms add up
  in any order to the same result);
* ``min`` and ``max`` (order-independent);
* the block mean and the sum of squared deviations ``M2``: each sub-block of :data:`SUB`
  scenarios gives its count, mean and M2 from shifted sums (:func:`subblock_moments`), and
  the sub-blocks are folded in scenario order with :func:`moments_merge` (Chan et al. 1979);
  the host folds block moments the same way in block order, which makes the moments
  independent of chunking, worker count and target;
* exceedance counts ``#(x > threshold)`` for the thresholds attached to the cell;
* the first scenario whose value is not finite.

The CPU (:mod:`kernels.cpu_summary`) reduces sub-blocks in parallel straight from the model's
output and counts bins per cell afterwards; the GPU (:mod:`kernels.cuda`) writes a batch's
values cell-major with :func:`gather_cells` and folds each cell with :func:`accumulate_cell`
and :func:`block_moments`, one thread per cell.

Histogram bins
--------------
Bins follow the float64 representation: ``x = f·2^e`` with ``f`` in [1, 2); the bin is
``e`` and the top :data:`HIST_SUB_BITS` bits of ``f``'s fraction, taken exactly with
``math.frexp``.  Bins therefore are log-spaced with :data:`HIST_PER_OCTAVE` bins per
octave; a bin's width is at most 2^-9 = 0.195 % of its lower edge, which bounds the
relative error of a quantile read from the histogram (see ``engine.summaries``).  Bin 0
holds values below ``2^HIST_EXP_LO`` (zero and negative values included); bin
``HIST_BINS - 1`` holds values from ``2^HIST_EXP_HI`` up.
"""

from __future__ import annotations

import math
import struct

from kernels._target import kernel

HIST_SUB_BITS = 9  # fraction bits per bin: 512 bins per octave
HIST_PER_OCTAVE = 512  # 2**HIST_SUB_BITS
HIST_EXP_LO = -20  # [log2 units] values below 2^-20 (~9.5e-7) go to the bin "below"
HIST_EXP_HI = 24  # [log2 units] values from 2^24 (~1.7e7) go to the bin "above"
HIST_BINS = (HIST_EXP_HI - HIST_EXP_LO) * HIST_PER_OCTAVE + 2  # 22 530 bins per cell
# the same bins from the IEEE-754 bits of x (as int64): sign | 11 exponent bits | 52 fraction bits
HIST_LO_BITS = struct.unpack("<q", struct.pack("<d", 2.0**HIST_EXP_LO))[0]
HIST_HI_BITS = struct.unpack("<q", struct.pack("<d", 2.0**HIST_EXP_HI))[0]
HIST_BITS_SHIFT = 52 - HIST_SUB_BITS
HIST_BITS_OFFSET = (1023 + HIST_EXP_LO) * HIST_PER_OCTAVE - 1

VAR_ELECTRICITY = 0
VAR_CARBON = 1
VAR_WATER = 2
VAR_ACCELERATORS = 3
VAR_CELLS = 4  # a derived cell: the sum of earlier cells (their rows of the tile)

SUB = 32  # scenarios per sub-block: the unit of the moment fold (and of the CPU's fused tiles)
BIN_SKIP = 65535  # a uint16 bin slot of a non-finite value (HIST_BINS < BIN_SKIP)


@kernel
def hist_bin(x):
    """Histogram bin of ``x`` [any unit]: 0 below 2^HIST_EXP_LO, HIST_BINS-1 from 2^HIST_EXP_HI."""
    if not x >= 2.0**HIST_EXP_LO:
        return 0
    if x >= 2.0**HIST_EXP_HI:
        return HIST_BINS - 1
    f, e = math.frexp(x)  # x = f * 2^e, f in [0.5, 1): exact
    sub = int((2.0 * f - 1.0) * HIST_PER_OCTAVE)  # top HIST_SUB_BITS bits of the fraction: exact
    return 1 + (e - 1 - HIST_EXP_LO) * HIST_PER_OCTAVE + sub


@kernel
def hist_bin_bits(bits):
    """:func:`hist_bin` from the float64's bits read as an int64 (no libm call: ~10x faster).

    Negative values have the sign bit set, so their int64 is negative and below HIST_LO_BITS.
    """
    if bits < HIST_LO_BITS:
        return 0
    if bits >= HIST_HI_BITS:
        return HIST_BINS - 1
    return (bits >> HIST_BITS_SHIFT) - HIST_BITS_OFFSET


@kernel
def hist_lower_edge(b):
    """Lower edge of bin ``b`` (1 .. HIST_BINS-2) [unit of the values]."""
    j = b - 1
    octave = j // HIST_PER_OCTAVE
    sub = j - octave * HIST_PER_OCTAVE
    return math.ldexp(1.0 + sub / HIST_PER_OCTAVE, HIST_EXP_LO + octave)


@kernel
def moments_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Merge two (count, mean, M2) triples (Chan, Golub & LeVeque 1979); returns the merged triple."""
    if n_a == 0:
        return n_b, mean_b, m2_b
    if n_b == 0:
        return n_a, mean_a, m2_a
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta * delta * (n_a * (n_b / n))
    return n, mean, m2


@kernel
def subblock_moments(values, m):
    """``(n, mean, M2)`` of the finite values among ``values[0:m]``, one pass of shifted sums.

    With ``K`` the first finite value, ``s1 = Σ(x−K)`` and ``s2 = Σ(x−K)²`` give
    ``mean = K + s1/n`` and ``M2 = s2 − s1²/n`` (the "shifted data" algorithm: exact enough
    for a sub-block of :data:`SUB` values that differ by far less than their magnitude).
    Every target folds a block's sub-blocks with :func:`moments_merge` in scenario order,
    so the block moments are the same bits on the CPU and the GPU, whatever the thread count.
    """
    n = 0
    k0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for j in range(m):
        v = values[j]
        if math.isfinite(v):
            if n == 0:
                k0 = v
            d = v - k0
            s1 += d
            s2 += d * d
            n += 1
    if n == 0:
        return 0, 0.0, 0.0
    m2 = s2 - s1 * (s1 / n)
    return n, k0 + s1 / n, m2 if m2 > 0.0 else 0.0


@kernel
def gather_elements(s0, n, col0, e, c, w, a, cell_var, cell_ptr, term_idx, tile):
    """Write the element cells' values for scenarios ``s0 .. s0+n-1`` (rows of ``e, c, w, a``)
    into ``tile[:, col0 .. col0+n-1]``; derived cells (``VAR_CELLS``) are left alone.

    An element cell's value is the sum of its flat elements in table order.  ``tile``
    [cells, tile width] is cell-major, so the accumulation then reads each cell's values
    contiguously (a cache-blocked transpose of the scenario-major cube).  The loops are
    written out per variable on purpose: a helper taking the arrays, or re-binding an array
    variable, costs numba atomic reference-count updates per call.
    """
    for k in range(cell_var.shape[0]):
        var = cell_var[k]
        if var == VAR_CELLS:
            continue
        for j in range(n):
            tile[k, col0 + j] = 0.0
        # terms outer, scenarios inner: n independent sums in flight (the order per sum is the table's)
        for t in range(cell_ptr[k], cell_ptr[k + 1]):
            idx = term_idx[t]
            if var == VAR_ELECTRICITY:
                for j in range(n):
                    tile[k, col0 + j] += e[s0 + j, idx]
            elif var == VAR_CARBON:
                for j in range(n):
                    tile[k, col0 + j] += c[s0 + j, idx]
            elif var == VAR_WATER:
                for j in range(n):
                    tile[k, col0 + j] += w[s0 + j, idx]
            else:
                for j in range(n):
                    tile[k, col0 + j] += a[s0 + j, idx]


@kernel
def derive_cells(col0, n, cell_var, cell_ptr, term_idx, tile):
    """Fill the derived cells (``VAR_CELLS``) of tile columns ``col0 .. col0+n-1``: each the sum,
    in table order, of the earlier cells ``term_idx[cell_ptr[k]:cell_ptr[k+1]]`` (rows of
    ``tile``).  Contiguous row sums: the totals cost a fraction of gathering them from elements.
    """
    for k in range(cell_var.shape[0]):
        if cell_var[k] != VAR_CELLS:
            continue
        for j in range(n):
            tile[k, col0 + j] = 0.0
        for t in range(cell_ptr[k], cell_ptr[k + 1]):
            src = term_idx[t]
            for j in range(n):
                tile[k, col0 + j] += tile[src, col0 + j]


@kernel
def gather_cells(s0, n, col0, e, c, w, a, cell_var, cell_ptr, term_idx, tile):
    """Write every cell's value for scenarios ``s0 .. s0+n-1`` into ``tile[:, col0 .. col0+n-1]``:
    :func:`gather_elements`, then :func:`derive_cells` (the same values, bit for bit, whether
    a target runs them per scenario or per range of columns)."""
    gather_elements(s0, n, col0, e, c, w, a, cell_var, cell_ptr, term_idx, tile)
    derive_cells(col0, n, cell_var, cell_ptr, term_idx, tile)


@kernel
def accumulate_cell(k, values, bits, first, thr_ptr, thr_value, hist, thr_count, vmin, vmax, bad):
    """Count the values of cell ``k`` for consecutive scenarios ``first, first+1, ...``.

    ``values`` [n] are the cell's values in scenario order, ``bits`` the same memory viewed
    as int64 (for :func:`hist_bin_bits`).  ``hist[k]`` [HIST_BINS] and the cell's exceedance
    counts are incremented, ``vmin[k]``/``vmax[k]`` updated and ``bad[k]`` lowered to the
    first scenario whose value is not finite (non-finite values are left out of every
    statistic).  The moments come from :func:`subblock_moments`.
    """
    tally_cell(k, values, bits, bits, False, first, thr_ptr, thr_value, hist, thr_count, vmin, vmax, bad)


@kernel
def accumulate_cell_weighted(k, values, bits, wq, first, thr_ptr, thr_value, hist, thr_count, vmin, vmax, bad):
    """:func:`accumulate_cell` with weights: scenario ``first + i`` adds its quantised weight
    ``wq[i]`` [2^-32] (not 1) to its histogram bin and to each exceedance sum of cell ``k``.
    Min, max and the first non-finite scenario ignore the weights (a scenario of weight 0
    still bounds the range, as on the CPU)."""
    tally_cell(k, values, bits, wq, True, first, thr_ptr, thr_value, hist, thr_count, vmin, vmax, bad)


@kernel
def tally_cell(k, values, bits, wq, weighted, first, thr_ptr, thr_value, hist, thr_count, vmin, vmax, bad):
    """The loop of :func:`accumulate_cell` (each value adds 1) and :func:`accumulate_cell_weighted`
    (each adds ``wq[i]``)."""
    t0 = thr_ptr[k]
    t1 = thr_ptr[k + 1]
    lo = vmin[k]
    hi = vmax[k]
    for i in range(values.shape[0]):
        v = values[i]
        if not math.isfinite(v):
            if first + i < bad[k]:
                bad[k] = first + i
            continue
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        wi = wq[i] if weighted else 1
        hist[k, hist_bin_bits(bits[i])] += wi
        for t in range(t0, t1):
            if v > thr_value[t]:
                thr_count[t] += wi
    vmin[k] = lo
    vmax[k] = hi


@kernel
def block_moments(values, count):
    """``(mean, M2)`` of the finite values among ``values[0:count]`` (one summary block):
    :func:`subblock_moments` of each :data:`SUB` values, folded in order with
    :func:`moments_merge` (the CPU computes the same sub-blocks in parallel and folds them
    in the same order)."""
    n = 0.0
    mean = 0.0
    m2 = 0.0
    for q in range((count + SUB - 1) // SUB):
        lo = q * SUB
        m = count - lo
        if m > SUB:
            m = SUB
        nq, mq, m2q = subblock_moments(values[lo:], m)
        n, mean, m2 = moments_merge(n, mean, m2, float(nq), mq, m2q)
    return mean, m2
