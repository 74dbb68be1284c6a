"""``dcproj plot``, ``dcproj report`` and ``dcproj export``: presenting a run file.

Dispatch only: figures in :mod:`engine.analysis.plots`, the report in
:mod:`engine.analysis.report`, exports in :mod:`engine.analysis.export`; every choice is looked
up in its registry (``PLOTS``, ``EXPORTERS``, ``BOUNDARIES``) and a bad one is an
:class:`~engine.errors.AnalysisError`.  Outputs are written to a temporary file beside ``--out``
and renamed into place, and an existing ``--out`` is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from engine.cli.errors import reports_errors
from engine.cli.inspect_cmds import _open_run
from engine.errors import AnalysisError
from engine.output.guard import check_destination
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["plot_cmd", "report_cmd", "export_cmd"]

_run_path = click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
_overwrite = click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")


def _out(help_text: str):
    return click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help=help_text)


def _choose(what: str, value: str, registry) -> str:
    """``value`` if it is a key of ``registry``, else an AnalysisError naming the choices."""
    if value not in registry:
        raise AnalysisError(f"unknown {what} {value!r}; expected one of {', '.join(sorted(registry))}")
    return value


def _read_table(path: Path | None, what: str):
    if path is None:
        return None
    import pandas as pd

    if not path.exists():
        raise AnalysisError(f"{path}: no such file (the {what} table)")
    if what == "sensitivity" and path.suffix == ".nc":
        return _sensitivity_from_netcdf(path)
    try:
        return pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise AnalysisError(f"{path}: not a CSV table ({exc.__class__.__name__}); expected the CSV that "
                            f"`dcproj {what} ... --out FILE.csv` writes" + (" or its .nc" if what == "sensitivity" else "")) from None


def _sensitivity_from_netcdf(path: Path):
    """The ranked first-order table of a ``dcproj sensitivity --out FILE.nc`` result: its year (2030
    when it holds several) and boundary (dc_only when it holds both)."""
    import xarray as xr

    from engine.analysis.sensitivity import ranked_table

    with xr.open_dataset(path) as sens:
        if "input" not in sens.dims or "year" not in sens.dims:
            raise AnalysisError(f"{path}: not a dcproj sensitivity result (no input and year dims)")
        years = [int(y) for y in sens["year"].values]
        year = years[0] if len(years) == 1 else 2030 if 2030 in years else None
        if year is None:
            raise AnalysisError(f"{path}: holds the years {years}; write one year with --year, or include 2030")
        boundary = "dc_only" if "boundary" in sens.dims and "dc_only" in sens["boundary"].values else None
        return ranked_table(sens.load(), year, boundary)


@click.command("plot")
@_run_path
@click.option(
    "--kind",
    default="fan",
    show_default=True,
    help="fan, regions, components, posterior (needs a weight variable), storylines (a --storylines run) or tornado (needs --year).",
)
@_out("The figure: .png or .svg.")
@click.option("--boundary", default="dc_only", show_default=True, help="dc_only (without crypto mining) or incl_crypto.")
@click.option("--variable", default="electricity", show_default=True, help="electricity, carbon or water.")
@click.option("--region", default=None, help="One region instead of the global total (fan, posterior).")
@click.option("--no-published", is_flag=True, help="Fan chart without the published estimates.")
@click.option("--year", type=int, default=None, help="The year of a tornado (its sensitivity is computed from the run's scenarios).")
@click.option(
    "--measure", default=None, help="Sensitivity measure of a tornado: spearman (default), prcc, first_order or delta."
)
@click.option("--storyline", default=None, help="One storyline of a storylines file (for every kind but storylines).")
@_overwrite
@reports_errors
def plot_cmd(path, kind, out, boundary, variable, region, no_published, year, measure, storyline, overwrite):
    """Draw a figure of the run file PATH (full cube or summary) into --out.

    \b
    A tornado computes the given-data sensitivity of the total in --year from the run's
    scenarios (a summary file: its kept sample), e.g.
      dcproj plot runs/default.nc --kind tornado --year 2030 --out tornado.png
    """
    from engine.analysis.files import suffix_of
    from engine.analysis.plots import FORMATS, PLOTS, plot

    _choose("plot kind", kind, PLOTS)
    _choose("boundary", boundary, BOUNDARIES)
    _choose("variable", variable, VARIABLES)
    suffix_of(out, FORMATS)
    check_destination(out, overwrite=overwrite)
    options = {"boundary": boundary, "variable": variable, "overwrite": overwrite}
    given = {"region": region, "published": False if no_published else None, "year": year, "measure": measure}
    accepted = inspect.signature(PLOTS[kind]).parameters
    for name, value in given.items():
        if value is None:
            continue
        if name not in accepted:
            raise AnalysisError(f"--{'no-published' if name == 'published' else name} does not apply to --kind {kind}")
        options[name] = value
    with _open_run(path) as ds:
        if storyline is not None:
            from engine.analysis.storylines import select

            if kind == "storylines":
                raise AnalysisError("--storyline chooses one storyline; --kind storylines draws them all")
            ds = select(ds, storyline)
        plot(ds, kind, out, **options)
    click.echo(f"wrote {out}")


@click.command("report")
@_run_path
@_out("The report: one self-contained .html file.")
@click.option("--year", "years", type=int, multiple=True, help="Headline year (repeatable; default 2024, 2026, 2030, 2035).")
@click.option(
    "--sensitivity",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A sensitivity result for the optional section: the CSV (input, value, low, high) or .nc of dcproj sensitivity --out.",
)
@click.option(
    "--storylines",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV of storylines for the optional section.",
)
@click.option("--no-published", is_flag=True, help="Leave out the comparison with published estimates.")
@_overwrite
@reports_errors
def report_cmd(path, out, years, sensitivity, storylines, no_published, overwrite):
    """Write a self-contained HTML report of the run file PATH: headline numbers with their Monte
    Carlo error, fan charts, published estimates, assumptions and provenance."""
    from engine.analysis.files import suffix_of
    from engine.analysis.report import report

    suffix_of(out, {"html", "htm"})
    check_destination(out, overwrite=overwrite)
    tables = {"sensitivity": _read_table(sensitivity, "sensitivity"), "storylines": _read_table(storylines, "storylines")}
    with _open_run(path) as ds:
        report(ds, out, years=list(years) or None, table=None if no_published else "default", overwrite=overwrite, **tables)
    click.echo(f"wrote {out}")


@click.command("export")
@_run_path
@click.option(
    "--format", "fmt", default="iamc", show_default=True, help="iamc (IAMC CSV for pyam), csv (tidy) or parquet (tidy)."
)
@_out("The exported file.")
@click.option(
    "--quantile", "quantiles", type=float, multiple=True, help="Quantile level (repeatable; default 0.05 0.25 0.5 0.75 0.95)."
)
@click.option("--year", "years", type=int, multiple=True, help="Only this year (repeatable).")
@click.option("--no-regions", is_flag=True, help="Only the global totals.")
@click.option("--scenario", default=None, help="IAMC scenario name (default: the config name).")
@_overwrite
@reports_errors
def export_cmd(path, fmt, out, quantiles, years, no_regions, scenario, overwrite):
    """Export the quantiles and means of the run file PATH's totals per year (globally and per region)."""
    from engine.analysis.export import EXPORTERS, export
    from engine.analysis.results import TABLE_QUANTILES

    _choose("export format", fmt, EXPORTERS)
    check_destination(out, overwrite=overwrite)
    with _open_run(path) as ds:
        export(
            ds,
            fmt,
            out,
            quantiles=list(quantiles) or TABLE_QUANTILES,
            years=list(years) or None,
            regions=not no_regions,
            scenario=scenario,
            overwrite=overwrite,
        )
    click.echo(f"wrote {out}")
