"""``dcproj summary``, ``dcproj validate`` and ``dcproj kinds``: reading run files and configs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from engine.analysis.results import GROUPINGS, TABLE_QUANTILES
from engine.cli.errors import reports_errors
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["summary_cmd", "validate_cmd", "kinds_cmd"]


@click.command("summary")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--variable",
    type=click.Choice(list(VARIABLES)),
    default="electricity",
    show_default=True,
)
@click.option(
    "--boundary",
    type=click.Choice(list(BOUNDARIES)),
    default="incl_crypto",
    show_default=True,
    help="incl_crypto: IEA's 460 TWh boundary; dc_only: without crypto mining.",
)
@click.option(
    "--by", type=click.Choice(list(GROUPINGS)), default=None, help="Break the totals down by region or component."
)
@click.option("--year", type=int, default=None, help="Only this year.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="[VAR][/BOUNDARY]:YEAR>VALUE",
    help=(
        "Also print P(total > VALUE), e.g. 2030>1000 (of --variable and --boundary), dc_only:2030>1000 or "
        "carbon/incl_crypto:2030>300 (summary files: those computed by the run)."
    ),
)
@reports_errors
def summary_cmd(path, variable, boundary, by, year, thresholds):
    """Print quantiles (5, 25, 50, 75, 95 %) and the mean of totals per year from a run file.

    Reads full cubes and --summary files alike; for summary files the exceedance
    probabilities computed by the run are printed too.
    """
    from engine.analysis import answers
    from engine.analysis.results import is_summary, summarise
    from engine.stats.spec import ThresholdSpec, parse_threshold

    wanted = [parse_threshold(t, variable, boundary) for t in thresholds]
    with _open_run(path) as ds:
        if "storyline" in ds.dims:
            return _storylines_summary(ds, path, variable, boundary, by, year, wanted)
        frame = summarise(ds, variable, boundary, by, year)
        units = ds[f"{variable}_total_mean" if is_summary(ds) else variable].attrs
        units = units.get("units_label", units.get("units", ""))
        kind = "summary of " if is_summary(ds) else ""
        title = f"{variable} [{units}], {boundary}, {kind}{ds.attrs.get('scenarios', '?')} scenarios ({path})"
        if not wanted and ds.sizes.get("threshold", 0):  # the probabilities the run stored, of --variable/--boundary
            stored = zip(ds.threshold_variable.values, ds.threshold_boundary.values, ds.threshold_year.values,
                         ds.threshold_value.values, strict=True)  # fmt: skip
            wanted = [ThresholdSpec(str(v), str(b), int(y), float(x)) for v, b, y, x in stored
                      if str(v) == variable and (str(b) == boundary or v == "installed_accelerators")]  # fmt: skip
        events = [answers.exceedance(ds, t.value, t.year, t.boundary, t.variable) for t in wanted]
        n_eff = answers.n_effective(ds)
        years = None if year is None else [year]
        frame = _with_errors(frame, answers.quantile_standard_error(ds, TABLE_QUANTILES, variable, boundary, by=by, years=years),
                             answers.total_mean_standard_error(ds, variable, boundary, by).sel(year=years or slice(None)))  # fmt: skip
    _print_table(frame, title)
    click.echo(f"±: Monte Carlo standard error (quantiles: order statistics; mean: sqrt(variance / n_eff)), n_eff = {n_eff:,.0f}")
    for ex in events:
        click.echo(f"{ex.event} = {ex.probability:.4f} ± {ex.standard_error:.4f} (Monte Carlo standard error, n = {ex.n_effective:,.0f})")


def _aligned(values, index):
    """``values`` (a Series or DataFrame from xarray) reindexed to ``index``, whose level order may differ."""
    return (values.reorder_levels(index.names) if values.index.nlevels > 1 else values).reindex(index)


def _with_errors(frame, se, mean_se):
    """``frame``'s columns as text "value ± error" (``se``: dims quantile, year, and ``by``; ``mean_se``: year, ``by``)."""
    errors = se.to_dataframe(name="se")["se"].unstack("quantile")
    errors.columns = [f"p{int(round(c * 100))}" for c in errors.columns]
    errors["mean"] = _aligned(mean_se.to_series(), errors.index)
    errors = _aligned(errors, frame.index)
    out = frame.copy()
    for col in errors.columns:
        out[col] = [f"{v:,.1f} ± {e:,.1f}" for v, e in zip(frame[col], errors[col], strict=True)]
    return out


def _storyline_evidence(ds, variable, boundary, year) -> None:
    """Each storyline's evidence from the observations and its posterior probability (equal prior
    odds); for one year, the storylines pooled by those probabilities."""
    from engine.analysis.results import is_summary
    from engine.analysis.storylines import evidence, mixture_quantiles
    from engine.errors import AnalysisError

    try:
        ev = evidence(ds)
    except AnalysisError as exc:
        click.echo(f"evidence of the storylines: not available ({exc})")
        return
    parts = [f"{n} {r.posterior:.3f} ± {r.posterior_se:.3f} (Bayes factor {r.bayes_factor:.2f})" for n, r in ev.iterrows()]
    click.echo("P(storyline | observations), equal prior odds, ± Monte Carlo error: " + "; ".join(parts))
    if year is None:
        return
    try:
        mix = mixture_quantiles(ds, (0.05, 0.5, 0.95), variable, boundary).loc[year]
    except AnalysisError as exc:
        click.echo(f"the storylines pooled by these probabilities: not available ({exc})")
        return
    kept = " (from the kept sample)" if is_summary(ds) else ""
    click.echo(f"the storylines pooled by these probabilities{kept}: {variable} {boundary} {year} median {mix['p50']:,.0f} "
               f"± {mix['se_p50']:.1f}, 5-95 % {mix['p5']:,.0f}-{mix['p95']:,.0f} (n_eff {mix['n_eff']:,.0f})")  # fmt: skip


def _storylines_summary(ds, path, variable, boundary, by, year, wanted) -> None:
    """The storylines of a storylines file side by side: per storyline its median and 5-95 % range per year."""
    from engine.analysis import answers
    from engine.analysis.results import is_summary
    from engine.analysis.storylines import compare, described, select

    frame = compare(ds, variable, boundary, by, year)
    cells = {}
    for name in dict.fromkeys(frame.columns.get_level_values(0)):
        part = frame[name]
        se = answers.quantile_standard_error(select(ds, name), [0.5], variable, boundary, by=by,
                                             years=None if year is None else [year]).sel(quantile=0.5, drop=True)  # fmt: skip
        se = _aligned(se.to_series(), part.index)
        cells[f"{name} median"] = [f"{v:,.0f} ±{e:.1f}" for v, e in zip(part["p50"], se, strict=True)]
        cells[f"{name} 5-95 %"] = [f"{lo:,.0f}-{hi:,.0f}" for lo, hi in zip(part["p5"], part["p95"], strict=True)]
    import pandas as pd

    table = pd.DataFrame(cells, index=frame.index)
    var = ds[f"{variable}_total_mean" if is_summary(ds) else variable]
    units = var.attrs.get("units_label", var.attrs.get("units", ""))
    kind = "summaries of " if is_summary(ds) else ""
    _print_table(table, f"storylines: {variable} [{units}], {boundary}, {kind}{ds.attrs.get('scenarios', '?')} scenarios each, same seed ({path})")
    n_eff = ", ".join(f"{n} {answers.n_effective(select(ds, n)):,.0f}" for n in dict.fromkeys(frame.columns.get_level_values(0)))
    click.echo(f"±: Monte Carlo standard error of the median (order statistics); n_eff: {n_eff}")
    if answers.is_weighted(ds):
        _storyline_evidence(ds, variable, boundary, year)
    for _, row in described(ds).iterrows():
        count = 0 if row["overrides"].startswith("(none") else row["overrides"].count("; ") + 1
        click.echo(f"{row['storyline']}: {count} override(s) of the config (storyline_overrides); {row['description'][:90]}...")
    for t in wanted:
        for name in frame.columns.get_level_values(0).unique():
            ex = answers.exceedance(select(ds, name), t.value, t.year, t.boundary, t.variable)
            click.echo(f"{name}: {ex.event} = {ex.probability:.4f} ± {ex.standard_error:.4f}")


@contextlib.contextmanager
def _open_run(path: Path):
    """Open a dcproj run file with xarray, or explain why it cannot be read."""
    import xarray as xr

    if not path.exists():
        raise AnalysisError(f"{path}: no such file")
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{path}: not a readable netCDF file ({exc})") from None
    with ds:
        if "dcproj_kind" not in ds.attrs:
            raise AnalysisError(f"{path}: not a dcproj run file (no dcproj_kind attribute)")
        yield ds


def _print_table(frame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in frame.index.names:
        table.add_column(name, justify="left")
    for col in frame.columns:
        table.add_column(col, justify="right")
    for idx, row in frame.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        table.add_row(*[str(i) for i in idx], *[v if isinstance(v, str) else f"{v:,.1f}" for v in row.values])
    Console(width=max(100, 20 * len(frame.columns))).print(table)


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a config value before validation (repeatable).")
@reports_errors
def validate_cmd(config, overrides):
    """Check CONFIG against the schema: keys, types, distribution parameters, physical domains,
    correlations.  `dcproj kinds` lists the distribution kinds and their parameters."""
    from engine.config import load_config
    from engine.inputs.layout import build_layout

    cfg = load_config(config, overrides=overrides)
    layout = build_layout(cfg)
    sets = f", {len(overrides)} override(s)" if overrides else ""
    click.echo(
        f"{config}: valid ({cfg.name}: years {cfg.years.start}-{cfg.years.end}, {len(cfg.regions)} regions, "
        f"{layout.n_inputs} sampled inputs, {len(cfg.correlations)} correlations{sets})"
    )


@click.command("kinds")
def kinds_cmd():
    """List the distribution kinds of a config and their parameters."""
    from engine.distributions import kind_parameters

    for kind, params in kind_parameters().items():
        click.echo(f"{kind}:")
        for name, need, desc in params:
            click.echo(f"  {name:<8} {need:<16} {desc}")
