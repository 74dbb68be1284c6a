"""Scenario discovery: which ranges of the inputs make an event happen (PRIM boxes).

:func:`discover` turns ``where`` (``electricity.dc_only.2030 > 1000``) into a per-scenario
event on a full cube's totals and runs the Patient Rule Induction Method (Friedman & Fisher
1999) over the cube's inputs (the regional weights as normalised, as in :mod:`.sensitivity`),
with EMA Workbench's implementation (``ema_workbench.analysis.prim.Prim``, Kwakkel 2017):
boxes of input ranges in which the event is frequent, each with its peeling trajectory of
coverage (the share of the event's scenarios inside the box) and density (the share of the
box's scenarios with the event).

PRIM in EMA Workbench is unweighted.  With a ``weight`` variable the boxes are found on an
equally weighted resample of the scenarios (systematic resampling in proportion to the weights,
:func:`engine.analysis.weighted.systematic_resample`: sampling-importance-resampling), so that
PRIM's coverage and density estimate the weighted ones; the exact weighted coverage and density
of every step are then computed on the original scenarios with their weights
(``coverage_weighted``, ``density_weighted``), and the output says so.
"""

from __future__ import annotations

import operator
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.results import kept_sample_view, total
from engine.analysis.sensitivity import input_matrix, require_full, scenario_weights
from engine.analysis.weighted import systematic_resample
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["Condition", "Discovery", "parse_where", "discover"]

WHERE_FORM = (
    "expected VARIABLE.BOUNDARY.YEAR OP VALUE, e.g. 'electricity.dc_only.2030 > 1000' (VARIABLE.YEAR OP VALUE "
    "for installed_accelerators, e.g. 'installed_accelerators.2030 > 40'), with OP one of >, <, >=, <="
)
_WHERE = re.compile(
    r"\s*(?P<variable>[A-Za-z_]+)\.(?:(?P<boundary>[A-Za-z_]+)\.)?(?P<year>\d+)\s*"
    r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
)
OPERATORS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Condition:
    """``variable`` total (of ``boundary``) in ``year`` OP ``value`` [the variable's units]."""

    variable: str
    boundary: str | None
    year: int
    op: str
    value: float

    def label(self) -> str:
        b = f".{self.boundary}" if self.boundary else ""
        return f"{self.variable}{b}.{self.year} {self.op} {self.value:g} {VARIABLES[self.variable].units_label}"

    def holds(self, ds: xr.Dataset) -> np.ndarray:
        """Whether the condition holds, per scenario (bool [scenario])."""
        tot = total(ds, self.variable, self.boundary or "incl_crypto").sel(year=self.year)
        return OPERATORS[self.op](tot.values, self.value)


def parse_where(text: str, ds: xr.Dataset | None = None) -> Condition:
    """Parse ``VARIABLE.BOUNDARY.YEAR OP VALUE`` strictly (``VARIABLE.YEAR`` for installed_accelerators).

    With ``ds``, the year must be one of its years.  Anything else is an
    :class:`~engine.errors.AnalysisError` naming the expected form.
    """
    match = _WHERE.fullmatch(text)
    if not match:
        raise AnalysisError(f"--where {text!r}: {WHERE_FORM}")
    variable, boundary = match["variable"], match["boundary"]
    if variable not in VARIABLES:
        raise AnalysisError(f"--where {text!r}: unknown variable {variable!r}; expected one of {sorted(VARIABLES)}. {WHERE_FORM}")
    has_boundary = "component" in VARIABLES[variable].dims
    if has_boundary and boundary not in BOUNDARIES:
        what = f"unknown boundary {boundary!r}" if boundary else f"{variable} needs a boundary"
        raise AnalysisError(f"--where {text!r}: {what}; expected one of {list(BOUNDARIES)}. {WHERE_FORM}")
    if not has_boundary and boundary is not None:
        raise AnalysisError(f"--where {text!r}: {variable} has no boundary. {WHERE_FORM}")
    cond = Condition(variable, boundary, int(match["year"]), match["op"], float(match["value"]))
    if ds is not None:
        years = [int(y) for y in ds["year"].values]
        if cond.year not in years:
            raise AnalysisError(
                f"--where {text!r}: year {cond.year} is not in the file; expected a year in {years[0]}..{years[-1]}"
            )
    return cond


@dataclass(frozen=True)
class Discovery:
    """PRIM boxes for one event.

    ``boxes``: box, input, lower, upper, units (the restricted inputs of each box's chosen step,
    in the input's units); ``steps``: box, step, coverage, density, mass, restricted (number of
    restricted inputs), chosen (the step reported in ``boxes``), and with weights
    coverage_weighted, density_weighted.
    """

    event: str
    probability: float  # P(event) over the scenarios (weighted if weights exist)
    threshold: float
    boxes: pd.DataFrame
    steps: pd.DataFrame
    weighted: bool
    notes: tuple[str, ...] = ()
    n_effective: float = float("nan")  # scenarios (Kish's ESS when weighted) behind the probability

    def table(self) -> str:
        """Boxes and the chosen steps' coverage and density, as plain text."""
        p, n = self.probability, self.n_effective
        err = f" ± {np.sqrt(p * (1 - p) / n):.4f} (n_eff = {n:,.0f})" if np.isfinite(n) and n > 0 else ""
        lines = [f"event: {self.event}; P = {p:.4f}{err}; density threshold {self.threshold:g}"]
        chosen = self.steps[self.steps["chosen"]]
        for _, row in chosen.iterrows():
            w = f"; with the weights: coverage {row.coverage_weighted:.3f}, density {row.density_weighted:.3f}" if self.weighted else ""
            lines.append(f"box {row.box}: coverage {row.coverage:.3f}, density {row.density:.3f}, mass {row.mass:.3f}{w}")
            for _, b in self.boxes[self.boxes["box"] == row.box].iterrows():
                unit = f" [{b.units}]" if getattr(b, "units", "") not in ("", "1") else ""
                lines.append(f"  {b.input:<40} {b.lower:>12.5g} .. {b.upper:<12.5g}{unit}")
        if chosen.empty:
            lines.append(f"no box reaches density {self.threshold:g}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _prim_module():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from ema_workbench.analysis import prim
    except ImportError as exc:
        raise AnalysisError(f"scenario discovery needs EMA Workbench: pip install ema_workbench ({exc})") from None
    return prim


def _restricted(lims: pd.DataFrame, init: pd.DataFrame) -> list[str]:
    return [c for c in lims.columns if lims[c].iloc[0] > init[c].iloc[0] or lims[c].iloc[1] < init[c].iloc[1]]


def _inside(x, columns, lims, init) -> np.ndarray:
    """Rows of ``x`` (one column per name in ``columns``) inside the box ``lims`` (a DataFrame:
    lower and upper row), on the inputs it restricts: an unrestricted input's limits are the
    range of PRIM's own scenarios (a resample may not reach the originals' extremes)."""
    keep = _restricted(lims, init)
    cols = [list(columns).index(c) for c in keep]
    lo, hi = lims[keep].iloc[0].to_numpy(), lims[keep].iloc[1].to_numpy()
    return np.all((x[:, cols] >= lo) & (x[:, cols] <= hi), axis=1)


def _trajectory(box, columns, x, event, weights, box_id, pool, init) -> pd.DataFrame:
    """One box's peeling trajectory, with weighted coverage and density when there are weights
    (over ``pool``: the original scenarios outside the boxes found before)."""
    traj = box.peeling_trajectory
    frame = pd.DataFrame(
        {
            "box": box_id,
            "step": np.arange(len(traj)),
            "coverage": traj["coverage"].to_numpy(float),
            "density": traj["density"].to_numpy(float),
            "mass": traj["mass"].to_numpy(float),
            "restricted": traj["res_dim"].to_numpy(int),
        }
    )
    if weights is not None:
        cov, den = [], []
        for lims in box.box_lims:
            inside = pool[_inside(x[pool], columns, lims, init)]
            hit = weights[inside][event[inside]].sum()
            cov.append(hit / weights[event].sum())
            den.append(hit / weights[inside].sum() if inside.size else np.nan)
        frame["coverage_weighted"], frame["density_weighted"] = cov, den
    return frame


def discover(
    ds: xr.Dataset,
    where: str = "electricity.dc_only.2030 > 1000",
    inputs=None,
    threshold: float = 0.8,
    *,
    max_boxes: int = 3,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """PRIM boxes over the inputs of a full cube for the event ``where``.

    Parameters
    ----------
    ds : xarray.Dataset
        A full cube.
    where : str
        ``VARIABLE.BOUNDARY.YEAR OP VALUE`` (``VARIABLE.YEAR OP VALUE`` for
        installed_accelerators), OP one of ``>``, ``<``, ``>=``, ``<=``; VALUE in the variable's
        units (TWh, Mt CO2, GL, million units).
    inputs : list of str, optional
        Input names or families; default all with any variation.
    threshold : float
        Minimum density of a box.  Each box reports the step of its trajectory with the
        highest coverage among those with density ≥ ``threshold``; boxes are searched one
        after the other on the scenarios left outside the previous ones, until one does not
        reach the threshold or ``max_boxes`` are found.
    peel_alpha, paste_alpha, mass_min : float
        PRIM's peeling and pasting fractions and the minimum share of scenarios in a box.

    Returns
    -------
    Discovery
        Boxes (input, lower, upper), trajectories (coverage, density, mass per step).
    """
    ds = kept_sample_view(ds)  # a summary file: its kept scenarios
    require_full(ds, "scenario discovery")
    cond = parse_where(where, ds)
    event = cond.holds(ds)
    weights = scenario_weights(ds)
    w = np.ones(event.shape) if weights is None else weights
    if event.all() or not event.any():
        raise AnalysisError(f"{cond.label()} holds in {'all' if event.any() else 'none'} of the scenarios: nothing to discover")
    xm = input_matrix(ds, inputs)
    rows = np.arange(event.size) if weights is None else systematic_resample(weights)  # PRIM's scenarios
    x = pd.DataFrame(xm.values[rows], columns=xm.names)
    prim = _prim_module()
    pool = np.arange(event.size)  # the original scenarios outside the boxes found so far
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = prim.Prim(x, event[rows], threshold=threshold, peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min)
        steps, boxes = [], []
        for box_id in range(1, max_boxes + 1):
            box = finder.find_box()
            if box is None or len(box.peeling_trajectory) < 2 or box.density < threshold:
                break  # EMA returns a "dump" box (all remaining scenarios) when none reaches the threshold
            traj = _trajectory(box, xm.names, xm.values, event, weights, box_id, pool, finder.box_init)
            ok = traj.index[traj["density"] >= threshold]
            chosen = int(traj.loc[ok, "coverage"].idxmax())
            box.select(chosen)
            traj["chosen"] = traj.index == chosen
            steps.append(traj)
            lims = box.box_lims[chosen]
            unit_of = dict(zip(xm.names, xm.units, strict=True))
            boxes += [(box_id, c, float(lims[c].iloc[0]), float(lims[c].iloc[1]), unit_of[c]) for c in _restricted(lims, finder.box_init)]
            pool = pool[~_inside(xm.values[pool], xm.names, lims, finder.box_init)]
    notes = [f"left out, zero variance (fixed inputs): {', '.join(xm.skipped)}"] if xm.skipped else []
    if weights is not None:
        notes.append(
            f"PRIM (EMA Workbench) is unweighted: boxes found on a systematic resample of the {event.size:,} scenarios in "
            f"proportion to their weights ({np.unique(rows).size:,} distinct); *_weighted: exact, with the weights"
        )
    columns = ["box", "step", "coverage", "density", "mass", "restricted", "chosen"]
    return Discovery(
        cond.label(),
        float(w[event].sum() / w.sum()),
        threshold,
        pd.DataFrame(boxes, columns=["box", "input", "lower", "upper", "units"]),
        pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=columns),
        weights is not None,
        tuple(notes),
        float(w.sum() ** 2 / (w**2).sum()),
    )
