"""``ds.dcproj``: the analysts' questions as an xarray accessor, over full cubes and summary files.

Registered when this module is imported (``import engine`` imports it)::

    ds = xr.open_dataset("runs/default.nc")
    ds.dcproj.total(boundary="dc_only")                       # TWh per scenario and year (full cubes)
    ds.dcproj.quantiles([0.05, 0.5, 0.95], boundary="dc_only")  # quantile x year
    ds.dcproj.exceedance(1000, year=2030)                     # P(2030 > 1000 TWh) ± its MC error
    ds.dcproj.plot.fan("fan.png")
    ds.dcproj.export("iamc", "run.csv"); ds.dcproj.report("report.html")

A full cube with a ``weight`` variable (importance weights, dim ``scenario``) is weighted in
every statistic; a summary file's stored statistics are read.  The accessor is a thin face over
:mod:`.answers`, :mod:`.plots`, :mod:`.export` and :mod:`.report` (the last three imported
only when used, so ``import engine`` does not import matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from engine.analysis import answers
from engine.analysis.results import is_summary, summarise
from engine.analysis.results import total as _total
from engine.errors import AnalysisError

__all__ = ["DcprojAccessor", "PlotMethods"]


@xr.register_dataset_accessor("dcproj")
class DcprojAccessor:
    """Questions of a dcproj run file (``ds.attrs["dcproj_kind"]`` ``"full"`` or ``"summary"``)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def _checked(self) -> xr.Dataset:
        kind = self._ds.attrs.get("dcproj_kind")
        if kind not in ("full", "summary"):
            raise AnalysisError(f"not a dcproj run file: dcproj_kind is {kind!r}, expected 'full' or 'summary'")
        return self._ds

    def _each(self, fn):
        """``fn(ds)``; on a storylines file, per storyline: DataArrays joined along ``storyline``,
        anything else as a dict {storyline: result}."""
        ds = self._checked()
        if "storyline" not in ds.dims:
            return fn(ds)
        from engine.analysis.storylines import names, select

        parts = {n: fn(select(ds, n)) for n in names(ds)}
        if all(isinstance(v, xr.DataArray) for v in parts.values()):
            return xr.concat(list(parts.values()), dim="storyline", coords="different", compat="equals", join="outer")
        return parts

    @property
    def kind(self) -> str:
        """``"full"`` (a cube of scenarios) or ``"summary"`` (streamed statistics)."""
        return self._checked().attrs["dcproj_kind"]

    @property
    def weighted(self) -> bool:
        """Whether the statistics are weighted (a full cube with a ``weight`` variable)."""
        return answers.is_weighted(self._checked())

    @property
    def n_effective(self) -> float:
        """Kish's effective sample size of the weights, else the scenario count [scenarios]."""
        return self._each(answers.n_effective)

    def total(self, boundary: str = "dc_only", variable: str = "electricity", by: str | None = None) -> xr.DataArray:
        """Per-scenario total [TWh, Mt CO2 or GL] per year (full cubes; a summary file is an error)."""
        ds = self._checked()
        if is_summary(ds):
            raise AnalysisError("a summary file holds no per-scenario totals; use ds.dcproj.quantiles() or .mean()")
        return self._each(lambda d: _total(d, variable, boundary, by))

    def quantiles(
        self,
        q: Sequence[float] = (0.05, 0.5, 0.95),
        boundary: str = "dc_only",
        region: str | None = None,
        variable: str = "electricity",
        by: str | None = None,
        years=None,
        interpolate: bool = True,
    ) -> xr.DataArray:
        """Quantiles of the total per year (``quantile`` x ``year``) [the variable's units].

        See :func:`engine.analysis.answers.total_quantiles`.
        """
        return self._each(lambda d: answers.total_quantiles(d, q, variable, boundary, by, region, years, interpolate))

    def quantile_error(
        self, q=(0.05, 0.5, 0.95), boundary="dc_only", region=None, variable="electricity", years=None
    ) -> xr.DataArray:
        """Monte Carlo standard error of :meth:`quantiles` [the variable's units]."""
        return self._each(lambda d: answers.quantile_standard_error(d, q, variable, boundary, region, years))

    def mean(self, boundary: str = "dc_only", region: str | None = None, variable: str = "electricity", by=None) -> xr.DataArray:
        """(Weighted) mean of the total per year [the variable's units]."""
        return self._each(lambda d: answers.total_mean(d, variable, boundary, by, region))

    def exceedance(self, value: float, year: int = 2030, boundary: str = "dc_only", variable: str = "electricity"):
        """P(total in ``year`` > ``value``) with its Monte Carlo standard error (an :class:`~.answers.Exceedance`)."""
        return self._each(lambda d: answers.exceedance(d, value, year, boundary, variable))

    def summary(self, boundary: str = "dc_only", variable: str = "electricity", by=None, year=None):
        """The table of ``dcproj summary``: 5/25/50/75/95 % and mean per year (pandas)."""
        return self._each(lambda d: summarise(d, variable, boundary, by, year))

    def sensitivity(self, year=None, boundary=None, variable: str = "electricity", **kwargs) -> xr.Dataset:
        """Given-data sensitivity indices over input × year × boundary with bootstrap intervals
        (:func:`engine.analysis.sensitivity.sensitivity`; a summary file uses its kept scenarios)."""
        from engine.analysis.sensitivity import sensitivity

        return sensitivity(self._checked(), year=year, boundary=boundary, variable=variable, **kwargs)

    def discover(self, where: str = "electricity.dc_only.2030 > 1000", **kwargs):
        """PRIM boxes over the inputs for the event ``where`` (:func:`engine.analysis.discovery.discover`)."""
        from engine.analysis.discovery import discover

        return discover(self._checked(), where, **kwargs)

    @property
    def plot(self) -> PlotMethods:
        """Figures: ``fan``, ``regions``, ``components``, ``posterior``, ``storylines``, ``tornado`` (:mod:`.plots`)."""
        return PlotMethods(self._checked())

    def export(self, format: str, path, **kwargs):
        """Write IAMC, tidy CSV or parquet (:func:`engine.analysis.export.export`)."""
        from engine.analysis.export import export

        return export(self._checked(), format, path, **kwargs)

    def report(self, path, **kwargs):
        """Write the self-contained HTML report (:func:`engine.analysis.report.report`)."""
        from engine.analysis.report import report

        return report(self._checked(), path, **kwargs)


class PlotMethods:
    """``ds.dcproj.plot.<kind>(path=None, **options)``: each returns the matplotlib Figure."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def _draw(self, kind: str, path, kwargs):
        from engine.analysis.plots import plot

        return plot(self._ds, kind, path, **kwargs)

    def fan(self, path=None, **kwargs):
        """Fan chart of the total: median, 50 % and 90 % bands, published estimates as markers."""
        return self._draw("fan", path, kwargs)

    def regions(self, path=None, **kwargs):
        """Stacked areas of the median by region."""
        return self._draw("regions", path, kwargs)

    def components(self, path=None, **kwargs):
        """Stacked areas of the median by component."""
        return self._draw("components", path, kwargs)

    def posterior(self, path=None, **kwargs):
        """Prior (unweighted) vs posterior (weighted) fan chart; needs a ``weight`` variable."""
        return self._draw("posterior", path, kwargs)

    def storylines(self, path=None, **kwargs):
        """The storylines of a storylines file side by side: median and 90 % interval of each."""
        return self._draw("storylines", path, kwargs)

    def tornado(self, path=None, *, year, **kwargs):
        """Tornado of the run's own sensitivity in ``year`` (Spearman by default; :func:`~.plots.sensitivity_tornado`)."""
        return self._draw("tornado", path, dict(kwargs, year=year))
