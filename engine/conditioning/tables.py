"""A config's observations as the kernels' tables (:mod:`kernels.likelihood`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from engine.output.names import BOUNDARIES
from kernels import likelihood as kl

__all__ = ["ObservationTables", "build_tables", "no_observations"]

_SOURCES = {"shipments": kl.SRC_SHIPMENTS, "accelerator_power": kl.SRC_POWER}
_FORMS = {"level": kl.FORM_LEVEL, "growth": kl.FORM_GROWTH}


@dataclass(frozen=True)
class ObservationTables:
    """The observations of a run in kernel form (length 0: an unweighted run)."""

    ids: tuple[str, ...]
    obs_src: np.ndarray  # int64[n]
    obs_cell: np.ndarray  # int64[n]: the year's summary cell (SRC_CELL), else -1
    obs_prev: np.ndarray  # int64[n]: the previous year's cell (a growth of SRC_CELL), else -1
    obs_year: np.ndarray  # int64[n]: year index from the base year
    obs_form: np.ndarray  # int64[n]
    obs_par: np.ndarray  # float64[n, 3]: centre, sd below, sd above
    description: str = "[]"  # the observations as JSON (for the file's attributes)

    @property
    def weighted(self) -> bool:
        return len(self.ids) > 0

    def arrays(self) -> tuple:
        return self.obs_src, self.obs_cell, self.obs_prev, self.obs_year, self.obs_form, self.obs_par

    def key(self) -> list:
        """What a resumed run must share with the interrupted one."""
        return [list(self.ids), self.obs_par.tolist(), self.obs_cell.tolist(), self.obs_src.tolist()]


def no_observations() -> ObservationTables:
    """The tables of an unweighted run (no observations, or ``--prior``)."""
    z = np.zeros(0, dtype=np.int64)
    return ObservationTables((), z, z, z, z, z, np.zeros((0, 3)))


def _cell(spec, variable: str, boundary: str | None, region: str, year_index: int) -> int:
    """The summary cell of a total (``region == "global"``) or regional total of ``variable``."""
    n_y = len(spec.years)
    if variable == "installed_accelerators":
        if region == "global":
            return spec.group("installed_accelerators_total").offset + year_index
        return spec.group("installed_accelerators").offset + year_index * len(spec.regions) + spec.regions.index(region)
    b = list(BOUNDARIES).index(boundary)
    if region == "global":
        return spec.group(f"{variable}_total").offset + b * n_y + year_index
    g = spec.group(f"{variable}_by_region")
    return g.offset + (b * n_y + year_index) * len(spec.regions) + spec.regions.index(region)


def build_tables(config, spec) -> ObservationTables:
    """Compile ``config.observations`` against the summary cell table ``spec``
    (:func:`engine.stats.spec.build_summary_spec` of the same config)."""
    obs = list(config.observations)
    if not obs:
        return no_observations()
    src, cell, prev, year, form, par = [], [], [], [], [], []
    for o in obs:
        y = o.year - config.years.start
        s = _SOURCES.get(o.variable, kl.SRC_CELL)
        src.append(s)
        year.append(y)
        form.append(_FORMS[o.form])
        if s == kl.SRC_CELL:
            cell.append(_cell(spec, o.variable, o.boundary, o.region, y))
            prev.append(_cell(spec, o.variable, o.boundary, o.region, y - 1) if o.form == "growth" else -1)
        else:
            cell.append(-1)
            prev.append(-1)
        par.append(o.centre_and_spread())
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    text = json.dumps([o.model_dump(exclude_none=True) for o in obs], sort_keys=True)
    return ObservationTables(tuple(o.id for o in obs), i64(src), i64(cell), i64(prev), i64(year), i64(form),
                             np.array(par, dtype=np.float64), text)  # fmt: skip
