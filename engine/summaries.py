"""Streaming summaries of a run: what is summarised, how partials merge, how a summary is labelled.

A summary run never holds the cube.  Each chunk of scenarios is projected block by block
(:data:`BLOCK` scenarios) and folded into per-*cell* statistics by the kernels of
:mod:`kernels.summary`; the chunk returns a :class:`ChunkSummary` (a few MB whatever its
size) and :class:`SummaryState` merges chunks **in chunk order**:

* histograms and exceedance counts are ``int64`` and add exactly;
* min and max are order-independent;
* block moments (count, mean, M2) are folded block by block in scenario order (Chan et al.),
  and chunks always start on a block boundary, so the moments are bit-identical whatever
  the chunk size or the number of workers.

Cells and groups
----------------
For ``electricity``, ``carbon`` and ``water`` the summary has four groups of cells:

=================  ===============================================  ============================
group              dims                                             value per scenario
=================  ===============================================  ============================
(cells)            year, region, component (, water_source)         one element of the cube
``by_region``      boundary, year, region                           sum over the boundary's components
``by_component``   year, component                                  sum over regions
``total``          boundary, year                                   sum over regions and components
=================  ===============================================  ============================

Water totals also sum over ``water_source``.  ``installed_accelerators`` has its cells
(year, region) and a ``total`` (year).  Boundaries: ``incl_crypto`` (all components) and
``dc_only`` (all but crypto).

Summary file layout
-------------------
One netCDF file (``dcproj_kind = "summary"``, the same provenance attributes as a full run)
holding, for every group ``G`` in ``electricity``, ``electricity_by_region``,
``electricity_by_component``, ``electricity_total``, … ``installed_accelerators_total``:

* ``G_quantile`` (quantile, <group dims>) — quantiles read from the histogram;
* ``G_mean``, ``G_variance`` (sample variance, ddof = 1), ``G_min``, ``G_max`` (<group dims>);

plus ``count`` (scenarios) and, per requested threshold, ``exceedance_probability`` and
``exceedance_count`` (dim ``threshold``, with the variable, boundary, year, value and a
readable label as coordinates).  Every variable carries ``units``, ``long_name`` and CF
``cell_methods``.

Quantile accuracy
-----------------
Quantiles follow NumPy's default (linear interpolation between order statistics).  Each
order statistic is placed inside its histogram bin (by rank, the bin clipped to the exact
min and max), so its error is at most the bin's width: 2^-9 (0.196 %) of the bin's lower
edge for values in [2^-20, 2^24) of the variable's unit, an absolute 2^-20 (~1e-6) for
non-negative values below that range; values from 2^24 on (none in the default config)
fall in one open bin and the run warns if a reported quantile lands there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from engine.cube import BOUNDARIES, VARIABLES
from kernels import model as m
from kernels import summary as ks

__all__ = [
    "BLOCK",
    "QUANTILES",
    "SummarySpec",
    "ChunkSummary",
    "SummaryState",
    "ThresholdSpec",
    "build_summary_spec",
    "parse_threshold",
    "estimate_quantiles",
]

BLOCK = 4096  # scenarios per moment block; summary chunks start on multiples of it
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
QUANTILE_REL_ERROR = 2.0**-ks.HIST_SUB_BITS
SUMMARY_VARIABLES = ("electricity", "carbon", "water", "installed_accelerators")
_VAR_CODE = {
    "electricity": ks.VAR_ELECTRICITY,
    "carbon": ks.VAR_CARBON,
    "water": ks.VAR_WATER,
    "installed_accelerators": ks.VAR_ACCELERATORS,
}


@dataclass(frozen=True)
class ThresholdSpec:
    """P(total ``variable`` of ``boundary`` in ``year`` > ``value``)."""

    variable: str
    boundary: str
    year: int
    value: float

    def label(self, units: str = "") -> str:
        b = "" if self.variable == "installed_accelerators" else f" {self.boundary}"
        return f"P({self.variable}{b} {self.year} > {self.value:g}{' ' + units if units else ''})"


def parse_threshold(text: str) -> ThresholdSpec:
    """Parse ``[VARIABLE[/BOUNDARY]:]YEAR>VALUE``, e.g. ``2030>1000`` or ``carbon/dc_only:2030>300``."""
    form = "expected [VARIABLE[/BOUNDARY]:]YEAR>VALUE, e.g. 2030>1000 or electricity/dc_only:2030>800"
    head, sep, value = text.replace(" ", "").partition(">")
    if not sep:
        raise ValueError(f"threshold {text!r}: {form}")
    target, _, year = head.rpartition(":")
    variable, _, boundary = target.partition("/")
    try:
        return ThresholdSpec(variable or "electricity", boundary or "incl_crypto", int(year), float(value))
    except ValueError:
        raise ValueError(f"threshold {text!r}: {form}") from None


@dataclass(frozen=True)
class Group:
    """A group of summary cells laid out in C order of ``dims``."""

    name: str  # dataset prefix, e.g. "electricity_by_region"
    variable: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    offset: int  # first cell index

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class SummarySpec:
    """The cell table the kernels consume, the groups that label it, thresholds and quantiles."""

    cell_var: np.ndarray  # int64[cells]
    cell_ptr: np.ndarray  # int64[cells + 1]
    term_idx: np.ndarray  # int64[terms]
    thr_ptr: np.ndarray  # int64[cells + 1]
    thr_value: np.ndarray  # float64[thresholds], ordered by cell
    thr_order: np.ndarray  # int64[thresholds]: position in ``thresholds`` of each thr_value
    groups: tuple[Group, ...]
    thresholds: tuple[ThresholdSpec, ...]
    quantiles: tuple[float, ...]
    years: tuple[int, ...]
    regions: tuple[str, ...]

    @property
    def n_cells(self) -> int:
        return int(self.cell_var.shape[0])

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def describe_cell(self, k: int) -> str:
        """A readable name of cell ``k``, e.g. ``electricity (year 2030, region europe, component crypto)``."""
        for g in self.groups:
            if g.offset <= k < g.offset + g.size:
                idx = np.unravel_index(k - g.offset, g.shape)
                labels = {
                    "year": self.years,
                    "region": self.regions,
                    "component": m.COMPONENTS,
                    "water_source": m.WATER_SOURCES,
                    "boundary": tuple(BOUNDARIES),
                }
                parts = ", ".join(f"{d} {labels[d][i]}" for d, i in zip(g.dims, idx, strict=True))
                return f"{g.name} ({parts})"
        raise IndexError(k)

    def element_offsets(self) -> np.ndarray:
        """First cell of the element groups of electricity, carbon, water and installed
        accelerators (int64[4]), checked to hold one element each in the cube's C order, so
        a kernel may write the model's outputs straight into a cell-major tile."""
        out = []
        for var in SUMMARY_VARIABLES:
            g = self.group(var)
            cells = slice(g.offset, g.offset + g.size)
            ptr = self.cell_ptr[g.offset : g.offset + g.size + 1]
            ok = (self.cell_var[cells] == _VAR_CODE[var]).all() and (np.diff(ptr) == 1).all()
            if not ok or not (self.term_idx[ptr[0] : ptr[-1]] == np.arange(g.size)).all():
                raise AssertionError(f"summary group {var}: element cells are not in the cube's order")
            out.append(g.offset)
        return np.array(out, dtype=np.int64)

    def key(self) -> dict:
        """What a resumed run must share with the interrupted one."""
        return {
            "quantiles": list(self.quantiles),
            "thresholds": [[t.variable, t.boundary, t.year, t.value] for t in self.thresholds],
            "hist": [ks.HIST_SUB_BITS, ks.HIST_EXP_LO, ks.HIST_EXP_HI],
            "block": BLOCK,
            "cells": self.n_cells,
        }


def _element_index(n_regions: int, y: int, r: int, c: int = 0, s: int | None = None) -> int:
    flat = (y * n_regions + r) * m.N_COMPONENTS + c
    return flat if s is None else flat * len(m.WATER_SOURCES) + s


def build_summary_spec(config, layout, thresholds=(), quantiles=QUANTILES) -> SummarySpec:
    """Build the cell table for ``config`` (years, regions) with ``thresholds`` and ``quantiles``.

    ``thresholds`` are :class:`ThresholdSpec` (or the config's ``Threshold`` entries, which
    have the same fields); the config's own thresholds are always included first.
    """
    years = tuple(range(config.years.start, config.years.end + 1))
    n_y, n_r, n_c, n_s = len(years), layout.n_regions, m.N_COMPONENTS, len(m.WATER_SOURCES)
    comp_index = {c: i for i, c in enumerate(m.COMPONENTS)}
    bounds = [[comp_index[c] for c in BOUNDARIES[b]] for b in BOUNDARIES]
    cell_var: list[int] = []
    ptr: list[int] = [0]
    terms: list[int] = []
    groups: list[Group] = []

    def add_group(name, variable, dims, shape, term_lists, derived=False):
        """Element cells (terms: flat elements of ``variable``) or derived ones (terms: earlier cells)."""
        groups.append(Group(name, variable, dims, shape, len(cell_var)))
        code = ks.VAR_CELLS if derived else _VAR_CODE[variable]
        for tl in term_lists:
            cell_var.append(code)
            terms.extend(tl)
            ptr.append(len(terms))

    for var in ("electricity", "carbon", "water"):
        srcs = range(n_s) if var == "water" else [None]
        if var == "water":
            cells = [
                [_element_index(n_r, y, r, c, s)] for y in range(n_y) for r in range(n_r) for c in range(n_c) for s in range(n_s)
            ]
            add_group(var, var, ("year", "region", "component", "water_source"), (n_y, n_r, n_c, n_s), cells)
        else:
            cells = [[_element_index(n_r, y, r, c)] for y in range(n_y) for r in range(n_r) for c in range(n_c)]
            add_group(var, var, ("year", "region", "component"), (n_y, n_r, n_c), cells)
        base = groups[-1].offset

        def cell(y, r, c, s, _base=base, _w=var == "water"):  # index of an element cell of this variable
            flat = (y * n_r + r) * n_c + c
            return _base + (flat * n_s + s if _w else flat)

        by_region = [[cell(y, r, c, s) for c in comps for s in srcs] for comps in bounds for y in range(n_y) for r in range(n_r)]
        add_group(f"{var}_by_region", var, ("boundary", "year", "region"), (len(bounds), n_y, n_r), by_region, derived=True)
        reg = groups[-1].offset
        by_comp = [[cell(y, r, c, s) for r in range(n_r) for s in srcs] for y in range(n_y) for c in range(n_c)]
        add_group(f"{var}_by_component", var, ("year", "component"), (n_y, n_c), by_comp, derived=True)
        total = [[reg + (b * n_y + y) * n_r + r for r in range(n_r)] for b in range(len(bounds)) for y in range(n_y)]
        add_group(f"{var}_total", var, ("boundary", "year"), (len(bounds), n_y), total, derived=True)
    acc = "installed_accelerators"
    add_group(acc, acc, ("year", "region"), (n_y, n_r), [[y * n_r + r] for y in range(n_y) for r in range(n_r)])
    base = groups[-1].offset
    add_group(
        f"{acc}_total", acc, ("year",), (n_y,), [[base + y * n_r + r for r in range(n_r)] for y in range(n_y)], derived=True
    )

    spec_thresholds = _thresholds(list(getattr(config, "thresholds", [])) + list(thresholds), years)
    n_cells = len(cell_var)
    thr_cells = [_threshold_cell(groups, t, years) for t in spec_thresholds]
    order = np.argsort(np.array(thr_cells, dtype=np.int64), kind="stable")
    counts = np.bincount(np.array(thr_cells, dtype=np.int64), minlength=n_cells) if thr_cells else np.zeros(n_cells, np.int64)
    quantiles = tuple(sorted({float(q) for q in quantiles}))
    if not quantiles or not all(0.0 <= q <= 1.0 for q in quantiles):
        raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    return SummarySpec(
        cell_var=np.array(cell_var, dtype=np.int64),
        cell_ptr=np.array(ptr, dtype=np.int64),
        term_idx=np.array(terms, dtype=np.int64),
        thr_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        thr_value=np.array([spec_thresholds[i].value for i in order], dtype=np.float64),
        thr_order=order.astype(np.int64),
        groups=tuple(groups),
        thresholds=tuple(spec_thresholds),
        quantiles=quantiles,
        years=years,
        regions=tuple(config.regions),
    )


def _thresholds(items, years) -> list[ThresholdSpec]:
    out: list[ThresholdSpec] = []
    for t in items:
        spec = t if isinstance(t, ThresholdSpec) else ThresholdSpec(t.variable, t.boundary, int(t.year), float(t.value))
        if spec.variable not in SUMMARY_VARIABLES:
            raise ValueError(
                f"threshold {spec.label()}: unknown variable {spec.variable!r}; expected one of {list(SUMMARY_VARIABLES)}"
            )
        if spec.boundary not in BOUNDARIES:
            raise ValueError(f"threshold {spec.label()}: unknown boundary {spec.boundary!r}; expected one of {list(BOUNDARIES)}")
        if spec.year not in years:
            raise ValueError(f"threshold {spec.label()}: year {spec.year} is outside the run's years {years[0]}..{years[-1]}")
        if spec not in out:
            out.append(spec)
    return out


def _threshold_cell(groups, t: ThresholdSpec, years) -> int:
    g = next(g for g in groups if g.name == f"{t.variable}_total")
    y = years.index(t.year)
    if g.dims == ("year",):
        return g.offset + y
    return g.offset + list(BOUNDARIES).index(t.boundary) * len(years) + y


# -- partials and their merge -------------------------------------------------------------


@dataclass
class ChunkSummary:
    """The statistics of one chunk (``start`` a multiple of :data:`BLOCK`)."""

    start: int
    count: int
    hist_lo: np.ndarray  # int64[cells]: first stored bin per cell
    hist_len: np.ndarray  # int64[cells]: stored bins per cell
    hist_counts: np.ndarray  # int32[sum(hist_len)]: the bins, cell after cell (a chunk holds < 2**31 scenarios)
    block_n: np.ndarray  # float64[blocks]
    bmean: np.ndarray  # float64[blocks, cells]
    bm2: np.ndarray  # float64[blocks, cells]
    vmin: np.ndarray  # float64[cells]
    vmax: np.ndarray  # float64[cells]
    thr_count: np.ndarray  # int64[thresholds], in spec.thr_value order

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))


@dataclass
class SummaryState:
    """Chunks merged so far (a prefix of the plan, in order); the basis of the summary and of resume."""

    spec: SummarySpec
    done: int = 0  # scenarios merged (the next chunk must start here)
    hist: np.ndarray = field(default=None)  # int64[cells, HIST_BINS] (pages touched only where used)
    n: np.ndarray = field(default=None)
    mean: np.ndarray = field(default=None)
    m2: np.ndarray = field(default=None)
    vmin: np.ndarray = field(default=None)
    vmax: np.ndarray = field(default=None)
    thr_count: np.ndarray = field(default=None)

    def __post_init__(self):
        k = self.spec.n_cells
        if self.hist is None:
            self.hist = np.zeros((k, ks.HIST_BINS), dtype=np.int64)
            self.n = np.zeros(k)
            self.mean = np.zeros(k)
            self.m2 = np.zeros(k)
            self.vmin = np.full(k, np.inf)
            self.vmax = np.full(k, -np.inf)
            self.thr_count = np.zeros(self.spec.thr_value.shape[0], dtype=np.int64)

    def add(self, part: ChunkSummary) -> None:
        """Merge the next chunk; chunks must arrive in scenario order (the caller buffers)."""
        from kernels.cpu_summary import add_ragged, fold_moments

        if part.start != self.done:
            raise RuntimeError(f"summary chunks out of order: expected scenario {self.done}, got {part.start}")
        add_ragged(self.hist, part.hist_lo, part.hist_len, part.hist_counts)
        fold_moments(self.n, self.mean, self.m2, part.block_n, part.bmean, part.bm2)
        np.minimum(self.vmin, part.vmin, out=self.vmin)
        np.maximum(self.vmax, part.vmax, out=self.vmax)
        self.thr_count += part.thr_count
        self.done += part.count

    # -- checkpoint ----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the state atomically to ``path`` (.npz, histograms stored over occupied bins only)."""
        from kernels.cpu_summary import ragged_bins

        lo, ln, counts = ragged_bins(self.hist, self.vmin, self.vmax)
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez(
            tmp,
            done=np.int64(self.done),
            n=self.n,
            mean=self.mean,
            m2=self.m2,
            vmin=self.vmin,
            vmax=self.vmax,
            thr_count=self.thr_count,
            hist_lo=lo,
            hist_len=ln,
            hist_counts=counts,
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, spec: SummarySpec, path: Path) -> SummaryState:
        from kernels.cpu_summary import add_ragged

        with np.load(path) as f:
            st = cls(spec)
            st.done = int(f["done"])
            for name in ("n", "mean", "m2", "vmin", "vmax", "thr_count"):
                getattr(st, name)[...] = f[name]
            add_ragged(st.hist, f["hist_lo"], f["hist_len"], f["hist_counts"])
        return st

    # -- finalize ------------------------------------------------------------------------

    def quantiles(self) -> np.ndarray:
        """float64[cells, quantiles] read from the histograms."""
        from kernels.cpu_summary import ragged_bins

        q = np.array(self.spec.quantiles)
        out = np.empty((self.spec.n_cells, q.size))
        lo, ln, counts = ragged_bins(self.hist, self.vmin, self.vmax)
        ends = np.cumsum(ln)
        for k in range(self.spec.n_cells):
            out[k] = estimate_quantiles(counts[ends[k] - ln[k] : ends[k]], int(lo[k]), self.vmin[k], self.vmax[k], q)
        return out

    def to_dataset(self, attrs: dict) -> xr.Dataset:
        """The labelled summary (see the module docstring for the layout)."""
        return summary_dataset(self, attrs)


def _bin_edges(bins: np.ndarray, vmin: float, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of histogram ``bins``, clipped to [vmin, vmax]."""
    j = bins - 1
    lower = np.ldexp(1.0 + (j % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j // ks.HIST_PER_OCTAVE)
    j1 = bins
    upper = np.ldexp(1.0 + (j1 % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j1 // ks.HIST_PER_OCTAVE)
    lower = np.where(bins == 0, vmin, lower)
    upper = np.where(bins == 0, 2.0**ks.HIST_EXP_LO, upper)
    lower = np.where(bins == ks.HIST_BINS - 1, 2.0**ks.HIST_EXP_HI, lower)
    upper = np.where(bins == ks.HIST_BINS - 1, vmax, upper)
    return np.clip(lower, vmin, vmax), np.clip(upper, vmin, vmax)


def estimate_quantiles(counts: np.ndarray, first_bin: int, vmin: float, vmax: float, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of the values binned in ``counts`` (bins ``first_bin`` ...), NumPy's linear rule.

    Order statistic ``i`` is placed at ``lower + (i - before + ½)/c·(upper - lower)`` in its bin
    (``c`` values, ``before`` values in earlier bins), the first and last at the exact min and
    max; quantile ``q`` interpolates linearly between order statistics ``⌊q(n−1)⌋`` and the next.
    """
    q = np.asarray(q, dtype=np.float64)
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
    lower, upper = _bin_edges(first_bin + b, vmin, vmax)
    x = lower + (ranks - before + 0.5) / c * (upper - lower)
    x = np.where(ranks == 0, vmin, np.where(ranks == n - 1, vmax, x))
    return np.clip(x[0] + frac * (x[1] - x[0]), vmin, vmax)


# -- labelling -----------------------------------------------------------------------------

_GROUP_TEXT = {
    "": "",
    "by_region": ", sum over the components of the boundary",
    "by_component": ", sum over regions",
    "total": ", sum over regions and the components of the boundary",
}
_STATS = {
    "mean": ("scenario: mean", "mean over scenarios"),
    "variance": ("scenario: variance", "sample variance over scenarios (ddof=1)"),
    "min": ("scenario: minimum", "minimum over scenarios"),
    "max": ("scenario: maximum", "maximum over scenarios"),
}


def _coords(spec: SummarySpec) -> dict:
    th = spec.thresholds
    units = {t: VARIABLES[t.variable].units for t in th}
    return {
        "quantile": ("quantile", np.array(spec.quantiles), {"long_name": "quantile over scenarios (histogram estimate)"}),
        "year": ("year", np.array(spec.years, dtype=np.int64), {"long_name": "calendar year"}),
        "region": ("region", np.array(spec.regions, dtype=object), {"long_name": "region"}),
        "component": ("component", np.array(m.COMPONENTS, dtype=object), {"long_name": "data-centre component"}),
        "water_source": (
            "water_source",
            np.array(m.WATER_SOURCES, dtype=object),
            {"long_name": "on-site cooling or off-site generation"},
        ),
        "boundary": (
            "boundary",
            np.array(list(BOUNDARIES), dtype=object),
            {"long_name": "incl_crypto: all components; dc_only: all but crypto"},
        ),
        "threshold": ("threshold", np.arange(len(th), dtype=np.int64), {"long_name": "exceedance threshold index"}),
        "threshold_label": (
            "threshold",
            np.array([t.label(units[t]) for t in th], dtype=object),
            {"long_name": "exceedance event"},
        ),
        "threshold_variable": (
            "threshold",
            np.array([t.variable for t in th], dtype=object),
            {"long_name": "variable of the total"},
        ),
        "threshold_boundary": (
            "threshold",
            np.array([t.boundary for t in th], dtype=object),
            {"long_name": "boundary of the total"},
        ),
        "threshold_year": ("threshold", np.array([t.year for t in th], dtype=np.int64), {"long_name": "year of the total"}),
        "threshold_value": (
            "threshold",
            np.array([t.value for t in th], dtype=np.float64),
            {"long_name": "threshold value (units of the variable)"},
        ),
    }


def summary_data_vars(state: SummaryState) -> dict:
    """name -> (dims, values, attrs) of every summary variable."""
    spec = state.spec
    qs = state.quantiles()
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(state.n > 1, state.m2 / (state.n - 1.0), np.nan)
    stats = {"mean": state.mean, "variance": variance, "min": state.vmin, "max": state.vmax}
    out = {}
    for g in spec.groups:
        sl = slice(g.offset, g.offset + g.size)
        vs = VARIABLES[g.variable]
        kind = g.name[len(g.variable) :].lstrip("_")
        text = _GROUP_TEXT[kind] + (", sum over water sources" if g.variable == "water" and kind else "")
        base = {"long_name": f"{vs.long_name}{text}"}
        out[f"{g.name}_quantile"] = (
            ("quantile", *g.dims),
            np.moveaxis(qs[sl].reshape(*g.shape, len(spec.quantiles)), -1, 0),
            dict(
                base,
                units=vs.units,
                cell_methods="scenario: quantile",
                description="quantile over scenarios read from a log-spaced histogram "
                f"({ks.HIST_PER_OCTAVE} bins per octave; relative error <= {QUANTILE_REL_ERROR:.3%})",
            ),
        )
        for stat, (method, desc) in _STATS.items():
            units = f"({vs.units})^2" if stat == "variance" else vs.units
            out[f"{g.name}_{stat}"] = (
                g.dims,
                stats[stat][sl].reshape(g.shape),
                dict(base, units=units, cell_methods=method, description=desc),
            )
    n = state.done
    counts = np.empty_like(state.thr_count)
    counts[spec.thr_order] = state.thr_count  # back to the order of spec.thresholds
    out["count"] = ((), np.int64(n), {"long_name": "number of scenarios summarised", "units": "1"})
    out["exceedance_count"] = (("threshold",), counts, {"long_name": "scenarios whose total exceeds the threshold", "units": "1"})
    out["exceedance_probability"] = (
        ("threshold",),
        counts / max(n, 1),
        {"long_name": "probability that the total exceeds the threshold", "units": "1", "cell_methods": "scenario: mean"},
    )
    return out


def summary_dataset(state: SummaryState, attrs: dict) -> xr.Dataset:
    coords = _coords(state.spec)
    data_vars = {k: (d, v, a) for k, (d, v, a) in summary_data_vars(state).items()}
    ds = xr.Dataset(data_vars, coords={k: (d, v, a) for k, (d, v, a) in coords.items()}, attrs=dict(attrs))
    ds.attrs.update(summary_attrs(state.spec))
    return ds


def summary_attrs(spec: SummarySpec) -> dict:
    """Global attributes describing the summary method."""
    return {
        "dcproj_kind": "summary",
        "summary_quantiles": ", ".join(f"{q:g}" for q in spec.quantiles),
        "summary_method": (
            f"streaming: per-cell int64 histograms with {ks.HIST_PER_OCTAVE} log-spaced bins per octave on "
            f"[2^{ks.HIST_EXP_LO}, 2^{ks.HIST_EXP_HI}) (quantile relative error <= {QUANTILE_REL_ERROR:.3%}), "
            f"exact min/max/exceedance counts, moments folded over blocks of {BLOCK} scenarios in scenario order "
            "(Chan et al.); independent of chunking and worker count"
        ),
    }


def warnings_for(state: SummaryState) -> list[str]:
    """Cells whose reported quantiles fall outside the histogram's accurate range."""
    qs = state.quantiles()
    above = np.nonzero((qs >= 2.0**ks.HIST_EXP_HI).any(axis=1))[0]
    negative = np.nonzero(state.vmin < 0)[0]
    out = []
    if above.size:
        out.append(
            f"{above.size} summary cells have quantiles above 2^{ks.HIST_EXP_HI}, where the histogram has no resolution "
            f"(first: {state.spec.describe_cell(int(above[0]))}); their quantiles are approximate"
        )
    if negative.size:
        out.append(
            f"{negative.size} summary cells have negative values (first: {state.spec.describe_cell(int(negative[0]))}); "
            f"quantiles below 2^{ks.HIST_EXP_LO} are interpolated between the minimum and 2^{ks.HIST_EXP_LO}"
        )
    return out
