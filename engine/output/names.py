"""The names of dcproj's output variables and boundaries, with no dependency (the config schema
checks thresholds against them; :mod:`engine.output.variables` gives them their metadata)."""

from __future__ import annotations

from kernels import columns as m

__all__ = ["VARIABLE_NAMES", "BOUNDARIES"]

#: The output variables, in the cube's order.
VARIABLE_NAMES = ("electricity", "carbon", "water", "installed_accelerators")
#: Boundary name -> the components it sums.
BOUNDARIES = {
    "incl_crypto": list(m.COMPONENTS),
    "dc_only": [c for c in m.COMPONENTS if c != "crypto"],
}
