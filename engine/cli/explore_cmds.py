"""``dcproj sensitivity`` and ``dcproj discover``: which inputs drive a run, and which ranges make an event.

Thin faces over :mod:`engine.analysis.sensitivity` and :mod:`engine.analysis.discovery`.
"""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from pathlib import Path

import click

from engine.analysis.estimators import MEASURES
from engine.cli.errors import reports_errors
from engine.cli.inspect_cmds import _open_run
from engine.errors import OutputError
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["sensitivity_cmd", "discover_cmd"]

OUT_KINDS = (".nc", ".csv")


@click.command("sensitivity")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=int, default=None, help="The year to analyse; default all (netCDF --out only).")
@click.option(
    "--boundary",
    type=click.Choice(list(BOUNDARIES)),
    default=None,
    help="incl_crypto or dc_only; default both in a netCDF --out, incl_crypto in the table.",
)
@click.option("--variable", type=click.Choice(list(VARIABLES)), default="electricity", show_default=True)
@click.option(
    "--measure",
    "measures",
    type=click.Choice(list(MEASURES)),
    multiple=True,
    help="first_order (Var E[Y|X]/Var Y), delta (Borgonovo), spearman, prcc (repeatable); default: all in a "
    "netCDF --out, first_order in the table and CSV.",
)
@click.option(
    "--input", "inputs", multiple=True, help="Only these inputs or families, e.g. --input accelerator_share (repeatable)."
)
@click.option(
    "--bootstrap", type=click.IntRange(0), default=100, show_default=True, help="Bootstrap replicates for the intervals."
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="sens.nc: the whole result as netCDF; sens.csv: the ranked table (input, value, low, high).",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option(
    "--method",
    type=click.Choice(["given", "sobol"]),
    default="given",
    show_default=True,
    help="given: given-data indices of the run file PATH; sobol: pick-freeze Sobol' indices of the config PATH "
    "(independent inputs only), through the kernels.",
)
@click.option(
    "-n", "base_samples", type=click.IntRange(2), default=1024, show_default=True, help="--method sobol: base samples (2^k)."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="--method sobol: override a config value (repeatable)."
)
@click.option("--storyline", default=None, help="One storyline of a storylines file.")
@reports_errors
def sensitivity_cmd(
    path, year, boundary, variable, measures, inputs, bootstrap, seed, out, overwrite, method, base_samples, overrides, storyline
):
    """Rank the inputs of a run by their influence on a total: given-data indices with bootstrap intervals.

    Reads a full cube, or the kept scenarios of a summary file.  Valid with correlated inputs
    (the config's copula); weighted when the file has a weight variable.  Prints the ranked
    table for --year (and --boundary).

    \b
    With --method sobol, PATH is a config with independent inputs (no correlations):
      dcproj sensitivity configs/default.yaml --method sobol -n 1024 --set 'correlations=[]' --year 2030
    """
    if method == "sobol":
        return _sobol(path, year, boundary, variable, measures, inputs, seed, out, overwrite, base_samples, overrides)
    if overrides:
        raise click.UsageError("--set applies to --method sobol (a run file's config is fixed)")
    from engine.analysis.sensitivity import ranked_table, sensitivity

    kind = _out_kind(out, overwrite, path)
    table_needed = kind != ".nc"
    if table_needed and year is None:
        raise click.UsageError("--year is required unless --out is a netCDF file (.nc)")
    if table_needed and len(measures) > 1:
        raise click.UsageError("the table and the CSV hold one --measure; write a .nc for several")
    has_boundary = "component" in VARIABLES[variable].dims
    table_boundary = (boundary or "incl_crypto") if has_boundary else None
    chosen = list(measures) or (["first_order"] if table_needed else None)
    with _open_run(path) as ds:
        ds = _one_storyline(ds, storyline)
        if bootstrap >= 20 and ds.sizes.get("scenario", ds.sizes.get("sample", 0)) * bootstrap > 2e6:
            click.echo(f"dcproj: {bootstrap} bootstrap replicates of every measure asked for: this takes a while "
                       "(--bootstrap 20 or one --measure is quicker)", err=True)  # fmt: skip
        sens = sensitivity(
            ds,
            year=year,
            boundary=(boundary if kind == ".nc" else table_boundary) if has_boundary else None,
            variable=variable,
            inputs=list(inputs) or None,
            bootstrap=bootstrap,
            seed=seed,
            measures=chosen,
        )
    measure = (chosen or list(MEASURES))[0]
    if year is not None:
        frame = ranked_table(sens, year, table_boundary, measure)
        where = f", {table_boundary}" if table_boundary else ""
        click.echo(
            f"{measure} of {variable} {year}{where} ({sens.attrs['ci_level']:.0%} bootstrap intervals, {bootstrap} replicates)"
        )
        click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if sens.attrs.get("notes"):
        click.echo(f"notes: {sens.attrs['notes']}")
    if kind == ".nc":
        from engine.output.netcdf import write_dataset

        sens.attrs["command"] = shlex.join(["dcproj", *sys.argv[1:]])
        click.echo(f"wrote {write_dataset(sens, out, overwrite=overwrite)}")
    elif kind == ".csv":  # the ranked columns first, then what they are of
        units = dict(zip(map(str, sens["input"].values), map(str, sens["input_units"].values), strict=True)) if "input_units" in sens.coords else {}
        labelled = frame.assign(measure=measure, variable=variable, year=year, boundary=table_boundary or "",
                                input_units=frame["input"].map(units).fillna(""),
                                weighted=str(sens.attrs.get("weighted", "no")).startswith("yes"))  # fmt: skip
        click.echo(f"wrote {_write_csv(labelled, out, overwrite)}")


def _sobol(path, year, boundary, variable, measures, inputs, seed, out, overwrite, n, overrides) -> None:
    """``dcproj sensitivity CONFIG --method sobol``: pick-freeze indices of the config (:mod:`engine.analysis.sobol`)."""
    from engine.analysis.sobol import sobol_indices, sobol_table
    from engine.config import load_config

    if measures or inputs:
        raise click.UsageError("--measure and --input apply to --method given; --method sobol gives S1 and ST of every input")
    kind = _out_kind(out, overwrite, path)
    if kind != ".nc" and year is None:
        raise click.UsageError("--year is required unless --out is a netCDF file (.nc)")
    cfg = load_config(path, overrides=overrides)
    ds = sobol_indices(cfg, n, seed, year=year, boundary=boundary or "dc_only", variable=variable)
    if year is not None:
        frame = sobol_table(ds, year, "ST")
        first = sobol_table(ds, year, "S1").set_index("input")["value"]
        shown = frame.assign(S1=frame["input"].map(first)).rename(columns={"value": "ST", "low": "ST_low", "high": "ST_high"})
        click.echo(f"Sobol' indices of {variable} {year}, {boundary or 'dc_only'} ({ds.attrs['model_evaluations']:,} model runs; "
                   f"ST ± its {ds.attrs['conf_level']:.0%} bootstrap half-width)")  # fmt: skip
        if cfg.observations:
            click.echo(f"note: of the prior: the config's {len(cfg.observations)} observations are not used (pick-freeze "
                       "designs cannot carry weights); the given-data indices of a weighted run describe the posterior")  # fmt: skip
        click.echo(shown[["input", "ST", "ST_low", "ST_high", "S1"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if kind == ".nc":
        from engine.output.netcdf import write_dataset

        ds.attrs["command"] = shlex.join(["dcproj", *sys.argv[1:]])
        click.echo(f"wrote {write_dataset(ds, out, overwrite=overwrite)}")
    elif kind == ".csv":
        click.echo(f"wrote {_write_csv(frame, out, overwrite)}")


def _out_kind(out: Path | None, overwrite: bool, run: Path) -> str | None:
    """The kind of ``--out`` (``.nc``, ``.csv``, or None for none), refused early if it may not be written."""
    if out is None:
        return None
    from engine.output.guard import check_destination
    from engine.output.netcdf import check_writable

    if out.suffix.lower() not in OUT_KINDS:
        raise OutputError(f"{out}: expected a .nc (the whole result) or .csv (the ranked table) file name")
    check_destination(out, overwrite=overwrite, protected=(run,))
    check_writable(out)
    return out.suffix.lower()


def _write_csv(frame, out: Path, overwrite: bool) -> Path:
    """Write ``frame`` to a temporary file beside ``out``, then move it into place."""
    from engine.output.guard import place

    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        frame.to_csv(tmp, index=False)
    except BaseException:
        if tmp.exists():
            os.unlink(tmp)
        raise
    return place(tmp, out, overwrite=overwrite)


@click.command("discover")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--where",
    required=True,
    metavar="VARIABLE.BOUNDARY.YEAR OP VALUE",
    help="The event, e.g. 'electricity.dc_only.2030 > 1000' or 'installed_accelerators.2030 > 40'; OP: >, <, >=, <=.",
)
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.8, show_default=True, help="Minimum density of a box.")
@click.option("--input", "inputs", multiple=True, help="Only these inputs or families (repeatable).")
@click.option("--max-boxes", type=click.IntRange(1), default=3, show_default=True)
@click.option("--steps", is_flag=True, help="Also print every box's peeling trajectory.")
@click.option("--storyline", default=None, help="One storyline of a storylines file.")
@reports_errors
def discover_cmd(path, where, threshold, inputs, max_boxes, steps, storyline):
    """Find the ranges of the inputs in which an event is frequent (PRIM boxes, EMA Workbench).

    Prints each box's restricted inputs with its coverage (share of the event's scenarios
    inside) and density (share of the box's scenarios with the event).
    """
    from engine.analysis.discovery import discover

    with _open_run(path) as ds:
        found = discover(_one_storyline(ds, storyline), where, inputs=list(inputs) or None, threshold=threshold, max_boxes=max_boxes)
    click.echo(found.table())
    if steps and not found.steps.empty:
        click.echo(found.steps.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _one_storyline(ds, storyline: str | None):
    """Storyline ``storyline`` of a storylines file (the file itself when ``None``); a storyline asked
    of a plain run file is an error."""
    if storyline is None:
        return ds
    if "storyline" not in ds.dims:
        raise click.UsageError("--storyline applies to a storylines file (dcproj run --storylines)")
    from engine.analysis.storylines import select

    return select(ds, storyline)
