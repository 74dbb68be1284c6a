"""``dcproj compare``: a run beside the published estimates (:mod:`engine.analysis.evidence`)."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.errors import reports_errors
from engine.cli.explore_cmds import _write_csv
from engine.cli.inspect_cmds import _open_run

__all__ = ["compare_cmd"]


def _fmt(v: float) -> str:
    return "" if v != v else f"{v:,.0f}"


def _published(row) -> str:
    if row["value"] == row["value"]:
        return _fmt(row["value"])
    return f"{_fmt(row['low'])}-{_fmt(row['high'])}"


@click.command("compare")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A CSV of published estimates (default: configs/evidence/published_estimates.csv).")  # fmt: skip
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the comparison as CSV (every column, incl. the Monte Carlo errors and the caveats).")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@reports_errors
def compare_cmd(path, table, out, overwrite):
    """The run's median and 90 % interval (with Monte Carlo errors) beside each published estimate.

    Every global row of the table whose boundary (dc_only, incl_crypto) and unit (TWh, Mt CO2, GL)
    the run projects, for the years it covers; verdict: inside, below or above the run's 5-95 %
    interval (a published range: inside when it overlaps).  Weighted when the run is.
    """
    from engine.analysis.evidence import compare, published_estimates
    from engine.output.guard import check_destination

    if out is not None:
        check_destination(out, overwrite=overwrite, protected=(path,))
    with _open_run(path) as ds:
        frame = compare(ds, None if table is None else published_estimates(table))
        weighted = "weighted by its observations" if "weights_ess" in ds.attrs else "unweighted"
    if frame.empty:
        click.echo("no published estimate in the table is comparable with this run (global, dc_only/incl_crypto, TWh/Mt CO2/GL)")
    else:
        shown = frame.assign(
            published=frame.apply(_published, axis=1),
            run_median=[f"{m:,.0f} ±{e:,.0f}" if e >= 1 else f"{m:,.0f} ±{e:.1g}" for m, e in zip(frame["p50"], frame["p50_se"], strict=True)],
            run_90=[f"{a:,.0f}-{b:,.0f}" for a, b in zip(frame["p5"], frame["p95"], strict=True)],
        )
        cols = ["id", "kind", "scenario", "variable", "boundary", "year", "published", "run_median", "run_90", "verdict"]
        click.echo(f"{path} ({weighted}) against {len(frame)} published estimates; run median ± its Monte Carlo standard error")
        click.echo(shown[cols].to_string(index=False))
        counts = frame["verdict"].value_counts()
        click.echo("verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in ("inside", "below", "above")))
    if out is not None:
        click.echo(f"wrote {_write_csv(frame, out, overwrite)}")
