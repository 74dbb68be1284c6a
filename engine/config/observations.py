"""Observations in a config: what was measured, how uncertain it is and where it comes from.

An ``observations:`` entry is evidence to condition on, not an input: each scenario is
weighted by the likelihood of the observed value given the scenario's projection
(:mod:`engine.conditioning`).  The schema checks what can be checked without running the
model: a known variable and form, a boundary the variable has, a region of the config (or
``global``), a year inside the projection (a growth rate also needs the year before), a
positive uncertainty given once (``sd``, or a 90 % interval ``low90``/``high90`` around the
value), the variable's units, and a source.

Observable variables (:data:`OBSERVABLES`):

==========================  ======  ===========  ==============================================
variable                    units   boundaries   per scenario
==========================  ======  ===========  ==============================================
``electricity``             TWh     yes          annual electricity, sum over the boundary
``carbon``                  Mt CO2  yes          annual location-based CO2
``water``                   GL      yes          annual water, on-site and off-site
``installed_accelerators``  M       no           year-average accelerators in service
``shipments``               M       no           accelerators deployed in the year (global)
``accelerator_power``       GW      no           rated power of the accelerators deployed in
                                                 the year (shipments x vintage power; global)
==========================  ======  ===========  ==============================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.output.names import BOUNDARIES

__all__ = ["Observation", "OBSERVABLES", "Z90", "check_observations"]

Z90 = 1.6448536269514722  # the standard normal's 95th percentile: a 90 % interval spans +-Z90 sd


@dataclass(frozen=True)
class Observable:
    """What a scenario says about an observed variable."""

    units: tuple[str, ...]  # accepted spellings of the unit of a level
    has_boundary: bool
    regional: bool  # can be observed per region


OBSERVABLES = {
    "electricity": Observable(("TWh", "TW h"), True, True),
    "carbon": Observable(("Mt CO2", "Mt", "MtCO2"), True, True),
    "water": Observable(("GL",), True, True),
    "installed_accelerators": Observable(("M units", "1e6", "million units"), False, True),
    "shipments": Observable(("M units", "1e6", "million units"), False, False),
    "accelerator_power": Observable(("GW",), False, False),
}
_GROWTH_UNITS = ("fraction", "1")


class Observation(BaseModel):
    """One observed figure: a level or a year-on-year growth rate, with its uncertainty and source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="a short name, e.g. iea_dc_2024")
    variable: str
    boundary: str | None = Field(None, description="dc_only or incl_crypto (electricity, carbon, water only)")
    region: str = "global"
    year: int
    form: Literal["level", "growth"] = "level"
    value: float | None = Field(None, description="the observed level, or the growth as a fraction (0.17 = +17 %)")
    sd: float | None = Field(None, description="1 standard deviation, in the value's units")
    low90: float | None = Field(None, description="lower end of a 90 % interval")
    high90: float | None = Field(None, description="upper end of a 90 % interval")
    unit: str
    source: str = Field(min_length=1)
    uncertainty_basis: str = Field("", description="where the uncertainty comes from (stated by the source, or assumed and why)")
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Observation:
        if self.variable not in OBSERVABLES:
            raise ValueError(f"variable: unknown observable {self.variable!r}; expected one of {list(OBSERVABLES)}")
        obs = OBSERVABLES[self.variable]
        if obs.has_boundary:
            if self.boundary is None:
                raise ValueError(f"boundary: {self.variable} needs a boundary, one of {list(BOUNDARIES)}")
            if self.boundary not in BOUNDARIES:
                raise ValueError(f"boundary: unknown boundary {self.boundary!r}; expected one of {list(BOUNDARIES)}")
        elif self.boundary is not None:
            raise ValueError(f"boundary: {self.variable} has no boundary; leave it out (got {self.boundary!r})")
        if not obs.regional and self.region != "global":
            raise ValueError(f"region: {self.variable} is projected globally only; expected 'global', got {self.region!r}")
        units = _GROWTH_UNITS if self.form == "growth" else obs.units
        if self.unit not in units:
            raise ValueError(f"unit: a {self.form} of {self.variable} is in {' or '.join(map(repr, units))}, got {self.unit!r}")
        self._check_uncertainty()
        return self

    def _check_uncertainty(self) -> None:
        interval = self.low90 is not None or self.high90 is not None
        for name in ("value", "sd", "low90", "high90"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, got {v}")
        if self.sd is not None and interval:
            raise ValueError("give the uncertainty once: sd, or a 90 % interval low90/high90, not both")
        if self.sd is None and not interval:
            raise ValueError("no uncertainty: expected sd (1 standard deviation) or a 90 % interval low90/high90")
        if self.sd is not None:
            if self.value is None:
                raise ValueError("sd needs a value")
            if not self.sd > 0:
                raise ValueError(f"sd: expected a positive standard deviation, got {self.sd}")
        if interval:
            if self.low90 is None or self.high90 is None:
                raise ValueError("a 90 % interval needs both low90 and high90")
            if not self.low90 < self.high90:
                raise ValueError(f"low90 ({self.low90}) must be below high90 ({self.high90})")
            if self.value is not None and not self.low90 < self.value < self.high90:
                raise ValueError(f"value {self.value} must lie strictly inside the 90 % interval [{self.low90}, {self.high90}]")

    def centre_and_spread(self) -> tuple[float, float, float]:
        """``(centre, sd below, sd above)`` of the likelihood, in the value's units.

        ``sd``: a normal around the value.  A 90 % interval around a value: a split (two-piece)
        normal whose halves reach ``low90`` and ``high90`` at the 5 % and 95 % points.  An
        interval with no value: a normal centred on its midpoint.
        """
        if self.sd is not None:
            return float(self.value), float(self.sd), float(self.sd)
        if self.value is None:
            mid = 0.5 * (self.low90 + self.high90)
            half = (self.high90 - self.low90) / (2.0 * Z90)
            return mid, half, half
        return float(self.value), (self.value - self.low90) / Z90, (self.high90 - self.value) / Z90


def check_observations(observations, regions, start: int, end: int) -> None:
    """Checks that need the rest of the config: regions, years and unique ids."""
    seen = set()
    for k, o in enumerate(observations):
        where = f"observations[{k}] ({o.id})"
        if o.id in seen:
            raise ValueError(f"{where}.id: {o.id!r} appears twice; ids must be unique")
        seen.add(o.id)
        if o.region != "global" and o.region not in regions:
            raise ValueError(f"{where}.region: {o.region!r} is not a region of this config; expected 'global' or one of {list(regions)}")
        first = start + 1 if o.form == "growth" else start
        if not first <= o.year <= end:
            why = " (a growth rate needs the year before)" if o.form == "growth" else ""
            raise ValueError(f"{where}.year: {o.year} is outside the projection years {first}..{end}{why}")
