"""What a streaming summary summarises: cells, groups, thresholds and quantile levels.


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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine.conditioning.tables import ObservationTables, build_tables, no_observations
from engine.errors import AnalysisError, RunError
from engine.output.variables import BOUNDARIES
from kernels import columns as m
from kernels import summary as ks

__all__ = [
    "MOMENT_BLOCK",
    "SUMMARY_QUANTILES",
    "SUMMARY_VARIABLES",
    "SummarySpec",
    "Group",
    "ThresholdSpec",
    "build_summary_spec",
    "parse_threshold",
]

MOMENT_BLOCK = 4096  # scenarios per moment block; summary chunks start on multiples of it
SUMMARY_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
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


THRESHOLD_FORM = (
    "expected [VARIABLE][/BOUNDARY]:YEAR>VALUE or YEAR>VALUE, e.g. 2030>1000, dc_only:2030>1000, "
    "electricity/dc_only:2030>800 or carbon:2030>300"
)


def parse_threshold(text: str, variable: str = "electricity", boundary: str = "incl_crypto") -> ThresholdSpec:
    """Parse a threshold such as ``2030>1000``, ``dc_only:2030>1000``, ``electricity/dc_only:2030>800``
    or ``carbon:2030>300`` (``electricity.dc_only.2030>1000`` too); omitted parts take ``variable``
    and ``boundary``."""
    head, sep, value = text.replace(" ", "").partition(">")
    if not sep:
        raise AnalysisError(f"threshold {text!r}: {THRESHOLD_FORM}")
    if ":" not in head and head.count(".") in (1, 2):  # electricity.dc_only.2030 / dc_only.2030
        head = head.rpartition(".")[0].replace(".", "/") + ":" + head.rpartition(".")[2]
    target, _, year = head.rpartition(":")
    first, _, second = target.partition("/")
    if first in BOUNDARIES and not second:  # "dc_only:2030>1000"
        first, second = "", first
    try:
        return ThresholdSpec(first or variable, second or boundary, int(year), float(value))
    except ValueError:
        raise AnalysisError(f"threshold {text!r}: {THRESHOLD_FORM}") from None


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
    keep_sample: int = 0  # scenarios 0 .. keep_sample-1 are kept with their inputs and key outputs (engine.stats.sample)
    input_names: tuple[str, ...] = ()  # labels of the kept inputs
    input_units: tuple[str, ...] = ()  # their units, descriptions and sources (coordinates of a summary file)
    input_long_names: tuple[str, ...] = ()
    input_sources: tuple[str, ...] = ()
    effective_names: tuple[str, ...] = ()  # labels of the kept effective inputs
    observations: ObservationTables = field(default_factory=no_observations)  # none: an unweighted summary

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
            "block": MOMENT_BLOCK,
            "keep_sample": self.keep_sample,
            "cells": self.n_cells,
            "observations": self.observations.key(),
        }


def _element_index(n_regions: int, y: int, r: int, c: int = 0, s: int | None = None) -> int:
    flat = (y * n_regions + r) * m.N_COMPONENTS + c
    return flat if s is None else flat * len(m.WATER_SOURCES) + s


@dataclass
class _CellTable:
    """The cell table under construction: per cell its variable code and its terms."""

    cell_var: list = field(default_factory=list)
    ptr: list = field(default_factory=lambda: [0])
    terms: list = field(default_factory=list)
    groups: list = field(default_factory=list)

    def add_group(self, name, variable, dims, shape, term_lists, derived=False) -> int:
        """Element cells (terms: flat elements of ``variable``) or derived ones (terms: earlier cells); returns the offset."""
        self.groups.append(Group(name, variable, dims, shape, len(self.cell_var)))
        code = ks.VAR_CELLS if derived else _VAR_CODE[variable]
        for tl in term_lists:
            self.cell_var.append(code)
            self.terms.extend(tl)
            self.ptr.append(len(self.terms))
        return self.groups[-1].offset


def _add_variable_groups(table: _CellTable, var: str, n_y: int, n_r: int, bounds) -> None:
    """The element cells of ``var`` and its by-region, by-component and total groups."""
    n_c, n_s = m.N_COMPONENTS, len(m.WATER_SOURCES)
    water = var == "water"
    srcs = range(n_s) if water else [None]
    if water:
        cells = [[_element_index(n_r, y, r, c, s)] for y in range(n_y) for r in range(n_r) for c in range(n_c) for s in range(n_s)]
        base = table.add_group(var, var, ("year", "region", "component", "water_source"), (n_y, n_r, n_c, n_s), cells)
    else:
        cells = [[_element_index(n_r, y, r, c)] for y in range(n_y) for r in range(n_r) for c in range(n_c)]
        base = table.add_group(var, var, ("year", "region", "component"), (n_y, n_r, n_c), cells)

    def cell(y, r, c, s):  # index of an element cell of this variable
        flat = (y * n_r + r) * n_c + c
        return base + (flat * n_s + s if water else flat)

    by_region = [[cell(y, r, c, s) for c in comps for s in srcs] for comps in bounds for y in range(n_y) for r in range(n_r)]
    reg = table.add_group(f"{var}_by_region", var, ("boundary", "year", "region"), (len(bounds), n_y, n_r), by_region, derived=True)
    by_comp = [[cell(y, r, c, s) for r in range(n_r) for s in srcs] for y in range(n_y) for c in range(n_c)]
    table.add_group(f"{var}_by_component", var, ("year", "component"), (n_y, n_c), by_comp, derived=True)
    total = [[reg + (b * n_y + y) * n_r + r for r in range(n_r)] for b in range(len(bounds)) for y in range(n_y)]
    table.add_group(f"{var}_total", var, ("boundary", "year"), (len(bounds), n_y), total, derived=True)


def build_summary_spec(config, layout, thresholds=(), quantiles=SUMMARY_QUANTILES, keep_sample: int = 0, prior: bool = False) -> SummarySpec:
    """Build the cell table for ``config`` (years, regions) with ``thresholds`` and ``quantiles``.

    The config's ``observations`` weight the summary unless ``prior`` (:mod:`engine.conditioning`).

    ``thresholds`` are :class:`ThresholdSpec` (or the config's ``Threshold`` entries, which
    have the same fields); the config's own thresholds are always included first.
    ``keep_sample`` scenarios (the first by index) are kept with their inputs and key outputs.
    """
    years = tuple(range(config.years.start, config.years.end + 1))
    n_y, n_r = len(years), layout.n_regions
    if keep_sample < 0:
        raise RunError(f"--keep-sample: expected a number of scenarios >= 0, got {keep_sample}")
    bounds = [[m.COMPONENTS.index(c) for c in BOUNDARIES[b]] for b in BOUNDARIES]
    table = _CellTable()
    for var in ("electricity", "carbon", "water"):
        _add_variable_groups(table, var, n_y, n_r, bounds)
    acc = "installed_accelerators"
    base = table.add_group(acc, acc, ("year", "region"), (n_y, n_r), [[y * n_r + r] for y in range(n_y) for r in range(n_r)])
    totals = [[base + y * n_r + r for r in range(n_r)] for y in range(n_y)]
    table.add_group(f"{acc}_total", acc, ("year",), (n_y,), totals, derived=True)
    cell_var, ptr, terms, groups = table.cell_var, table.ptr, table.terms, table.groups

    spec_thresholds = resolve_thresholds(list(getattr(config, "thresholds", [])) + list(thresholds), years)
    n_cells = len(cell_var)
    thr_cells = [_threshold_cell(groups, t, years) for t in spec_thresholds]
    order = np.argsort(np.array(thr_cells, dtype=np.int64), kind="stable")
    counts = np.bincount(np.array(thr_cells, dtype=np.int64), minlength=n_cells) if thr_cells else np.zeros(n_cells, np.int64)
    quantiles = tuple(sorted({float(q) for q in quantiles}))
    if not quantiles or not all(0.0 <= q <= 1.0 for q in quantiles):
        raise RunError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    spec = SummarySpec(
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
        keep_sample=int(keep_sample),
        input_names=tuple(layout.names),
        input_units=tuple(layout.units),
        input_long_names=tuple(layout.long_names),
        input_sources=tuple(layout.sources),
        effective_names=tuple(f"{key}.{r}" for key, _ in layout.normalised_columns() for r in layout.regions),
    )
    if prior or not getattr(config, "observations", None):
        return spec
    return replace(spec, observations=build_tables(config, spec))


def resolve_thresholds(items, years) -> list[ThresholdSpec]:
    """The thresholds of ``items`` (ThresholdSpec or the config's entries) checked against the run's years."""
    out: list[ThresholdSpec] = []
    for t in items:
        spec = t if isinstance(t, ThresholdSpec) else ThresholdSpec(t.variable, t.boundary, int(t.year), float(t.value))
        if spec.variable not in SUMMARY_VARIABLES:
            raise AnalysisError(
                f"threshold {spec.label()}: unknown variable {spec.variable!r}; expected one of {list(SUMMARY_VARIABLES)}"
            )
        if spec.boundary not in BOUNDARIES:
            raise AnalysisError(f"threshold {spec.label()}: unknown boundary {spec.boundary!r}; expected one of {list(BOUNDARIES)}")
        if spec.year not in years:
            raise AnalysisError(f"threshold {spec.label()}: year {spec.year} is outside the run's years {years[0]}..{years[-1]}")
        if spec not in out:
            out.append(spec)
    return out


def _threshold_cell(groups, t: ThresholdSpec, years) -> int:
    g = next(g for g in groups if g.name == f"{t.variable}_total")
    y = years.index(t.year)
    if g.dims == ("year",):
        return g.offset + y
    return g.offset + list(BOUNDARIES).index(t.boundary) * len(years) + y
