"""Command line: ``dcproj run``, ``dcproj summary``, ``dcproj validate``.

Dispatch only: the science lives in :mod:`engine` and :mod:`kernels`.  User errors are
printed as one paragraph (no traceback) with a non-zero exit status.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

import click

EXIT_USAGE = 2


class _Scenarios(click.ParamType):
    """A positive count that also accepts scientific notation such as ``1e6``."""

    name = "N"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            n = value
        else:
            try:
                f = float(str(value).replace("_", ""))
            except ValueError:
                self.fail(f"expected a whole number such as 100000 or 1e6, got {value!r}", param, ctx)
            if not f.is_integer():
                self.fail(f"expected a whole number, got {value!r}", param, ctx)
            n = int(f)
        if n < 1:
            self.fail(f"expected a positive number of scenarios, got {value!r}", param, ctx)
        return n


def _fail(message: str, code: int = EXIT_USAGE):
    click.echo(f"dcproj: error: {message}", err=True)
    sys.exit(code)


def _user_errors():
    from engine.backends import BackendUnavailable
    from engine.config import ConfigError
    from engine.io import OutputError
    from engine.runner import RunError

    return (ConfigError, RunError, OutputError, BackendUnavailable, ValueError, FileNotFoundError, PermissionError)


class _Bytes(click.ParamType):
    """A memory size such as ``8GiB``, ``500MB`` or ``2e9`` (bytes)."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from dask.utils import parse_bytes

        try:
            n = parse_bytes(str(value))
        except (ValueError, TypeError):
            self.fail(f"expected a size such as 8GiB, 500MB or 2e9, got {value!r}", param, ctx)
        if n < 1:
            self.fail(f"expected a positive size, got {value!r}", param, ctx)
        return int(n)


class _Quantiles(click.ParamType):
    name = "Q,Q,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            qs = tuple(float(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected comma-separated levels such as 0.05,0.5,0.95, got {value!r}", param, ctx)
        if not qs or not all(0.0 <= q <= 1.0 for q in qs):
            self.fail(f"quantile levels must lie in [0, 1], got {value!r}", param, ctx)
        return qs


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM (batch schedulers, ``kill``) into KeyboardInterrupt, like SIGINT, while running."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dcproj", prog_name="dcproj")
def main():
    """dcproj: Monte Carlo projections of data-centre electricity, carbon and water.

    \b
    Typical session:
      dcproj validate configs/default.yaml
      dcproj run configs/default.yaml --scenarios 100000 --out runs/default.nc
      dcproj summary runs/default.nc --boundary dc_only --by region --year 2026

    Results are netCDF files; open them with xarray.open_dataset(path).
    """


@main.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--scenarios",
    "-n",
    type=_Scenarios(),
    default="100000",
    show_default=True,
    help="Number of Monte Carlo scenarios (1e6 notation accepted).",
)
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=None, help="RNG seed; default: the config's seed.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output netCDF file; default: runs/<config name>.nc (runs/<config name>.summary.nc with --summary).",
)
@click.option(
    "--summary",
    is_flag=True,
    help=(
        "Write streaming summary statistics (quantiles, moments, min/max, exceedance) instead of "
        "the cube; memory does not grow with --scenarios."
    ),
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="[VAR[/BOUNDARY]:]YEAR>VALUE",
    help=(
        "With --summary: also report P(total > VALUE), e.g. 2030>1000 or carbon/dc_only:2030>300 "
        "(repeatable; the config's thresholds are always included)."
    ),
)
@click.option(
    "--quantiles",
    type=_Quantiles(),
    default=None,
    help="With --summary: quantile levels; default 0.01,0.05,0.1,0.25,0.5,0.75,0.9,0.95,0.99.",
)
@click.option(
    "--backend",
    type=click.Choice(["numba", "cuda", "numpy"]),
    default="numba",
    show_default=True,
    help=(
        "numba: compiled CPU kernels; cuda: the same kernels on an NVIDIA GPU (numba.cuda); numpy: "
        "the plain reference implementation (slow)."
    ),
)
@click.option(
    "--scheduler",
    default="auto",
    show_default=True,
    metavar="auto|none|local|ADDRESS",
    help=(
        "Where chunks run: none (this process, numba threads), local (a dask LocalCluster sized to "
        "this machine), a dask scheduler address (tcp://host:8786), or auto (local from 1e7 "
        "scenarios up, else none)."
    ),
)
@click.option(
    "--cluster",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=(
        "Run on a batch cluster through dask-jobqueue, described by a YAML file (see "
        "configs/cluster/slurm.yaml; needs the 'cluster' extra)."
    ),
)
@click.option("--workers", type=click.IntRange(1), default=None, help="Workers of --scheduler local (default: one per core).")
@click.option(
    "--memory-limit",
    type=_Bytes(),
    default=None,
    help=(
        "Memory budget of the run (this process and local workers), e.g. 8GiB; chunks are planned "
        "to fit. Default: 60 percent of the available RAM."
    ),
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1),
    default=None,
    help="Scenarios per chunk; default planned from --memory-limit. Results do not depend on it.",
)
@click.option(
    "--resume",
    is_flag=True,
    help=(
        "Continue an interrupted run from the finished chunks kept in <out>.partial/ (same "
        "settings); the result equals an uninterrupted run."
    ),
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="Storage type of the cube (arithmetic is float64; summaries are always float64).",
)
@click.option(
    "--compression",
    type=click.Choice(["blosc_lz4", "zstd", "zlib", "none"]),
    default="blosc_lz4",
    show_default=True,
    help="netCDF compression filter; zlib is readable by every netCDF tool but ~8x slower to write.",
)
@click.option("--compression-level", type=click.IntRange(0, 9), default=1, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress for runs longer than ~2 s (a bar on a terminal, periodic lines in logs).",
)
def run_cmd(
    config,
    scenarios,
    seed,
    out,
    summary,
    thresholds,
    quantiles,
    backend,
    scheduler,
    cluster,
    workers,
    memory_limit,
    chunk_size,
    resume,
    dtype,
    compression,
    compression_level,
    progress,
):
    """Run a projection of CONFIG (YAML or TOML) and write the cube, or its summary, to netCDF.

    The cube holds electricity [TWh], carbon [Mt CO2], water [GL] and installed
    accelerators [million] by scenario, year, region and component, the sampled inputs,
    and the config, seed and version in its attributes.  The file appears only when
    complete.  If the run is interrupted (Ctrl-C, SIGTERM), its finished chunks stay in
    <out>.partial/ and the same command with --resume finishes it.

    \b
    Large runs:
      dcproj run configs/default.yaml -n 1e8 --summary --out runs/big.nc
      dcproj run configs/default.yaml -n 1e9 --summary --scheduler tcp://host:8786 -o runs/huge.nc
      dcproj run configs/default.yaml -n 2e8 --summary --cluster configs/cluster/slurm.yaml -o runs/huge.nc
    """
    from engine.runner import Interrupted

    try:
        from engine.config import load_config
        from engine.io import OutputError
        from engine.runner import run_to_file
        from engine.summaries import QUANTILES

        cfg = load_config(config)
        if out is None:
            out = Path("runs") / (f"{config.stem}.summary.nc" if summary else f"{config.stem}.nc")
        if not out.parent.exists():  # like the default runs/: the folder of --out is created
            try:
                out.parent.mkdir(parents=True)
            except OSError as exc:
                raise OutputError(f"{out}: cannot create its directory {out.parent} ({exc.strerror})") from None
        if (thresholds or quantiles) and not summary:
            raise ValueError(
                "--threshold and --quantiles apply to --summary runs; a full cube holds every scenario "
                "(use dcproj summary FILE --threshold ... on it)"
            )
        with _sigterm_as_interrupt():
            path = run_to_file(
                cfg,
                out,
                scenarios,
                seed,
                backend=backend,
                chunk_size=chunk_size,
                dtype=dtype,
                compression=compression,
                compression_level=compression_level,
                progress=progress,
                summary=summary,
                thresholds=thresholds,
                quantiles=quantiles or QUANTILES,
                scheduler=scheduler,
                cluster=cluster,
                n_workers=workers,
                memory_limit=memory_limit,
                resume=resume,
                keep_partial=True,
            )
    except _user_errors() as exc:
        _fail(str(exc))
    except Interrupted as exc:
        _fail(
            f"interrupted after {exc.done:,} of {exc.total:,} scenarios; no output file was written. The finished chunks "
            f"are kept in {exc.partial}: rerun the same command with --resume to finish the run",
            130,
        )
    except KeyboardInterrupt:
        _fail("interrupted; no output file was written", 130)
    kind = "summary of " if summary else ""
    click.echo(f"wrote {path} ({kind}{scenarios:,} scenarios, seed {cfg.seed if seed is None else seed})")


@main.command("summary")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--variable",
    type=click.Choice(["electricity", "carbon", "water", "installed_accelerators"]),
    default="electricity",
    show_default=True,
)
@click.option(
    "--boundary",
    type=click.Choice(["incl_crypto", "dc_only"]),
    default="incl_crypto",
    show_default=True,
    help="incl_crypto: IEA's 460 TWh boundary; dc_only: without crypto mining.",
)
@click.option(
    "--by", type=click.Choice(["region", "component"]), default=None, help="Break the totals down by region or component."
)
@click.option("--year", type=int, default=None, help="Only this year.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="[VAR[/BOUNDARY]:]YEAR>VALUE",
    help="Also print P(total > VALUE), e.g. 2030>1000 (summary files: those computed by the run).",
)
def summary_cmd(path, variable, boundary, by, year, thresholds):
    """Print quantiles (5, 25, 50, 75, 95 %) and the mean of totals per year from a run file.

    Reads full cubes and --summary files alike; for summary files the exceedance
    probabilities computed by the run are printed too.
    """
    try:
        import xarray as xr

        from engine.summary import exceedance, is_summary, summarise

        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            ds = xr.open_dataset(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable netCDF file ({exc})") from None
        with ds:
            if "dcproj_kind" not in ds.attrs:
                raise ValueError(f"{path}: not a dcproj run file (no dcproj_kind attribute)")
            frame = summarise(ds, variable, boundary, by, year)
            units = ds[f"{variable}_total_mean" if is_summary(ds) else variable].attrs.get("units", "")
            kind = "summary of " if is_summary(ds) else ""
            title = f"{variable} [{units}], {boundary}, {kind}{ds.attrs.get('scenarios', '?')} scenarios ({path})"
            events = exceedance(ds, thresholds) if thresholds or (is_summary(ds) and ds.sizes.get("threshold", 0)) else None
    except _user_errors() as exc:
        _fail(str(exc))
    _print_table(frame, title)
    if events is not None and len(events):
        for event, p in events["probability"].items():
            click.echo(f"{event} = {p:.4f}")


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
        table.add_row(*[str(i) for i in idx], *[f"{v:,.1f}" for v in row.values])
    Console(width=max(100, 20 * len(frame.columns))).print(table)


@main.command("validate")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def validate_cmd(config):
    """Check CONFIG against the schema: keys, types, distribution parameters, correlations."""
    try:
        from engine.config import load_config
        from engine.layout import build_layout

        cfg = load_config(config)
        layout = build_layout(cfg)
    except _user_errors() as exc:
        _fail(str(exc))
    click.echo(
        f"{config}: valid ({cfg.name}: years {cfg.years.start}-{cfg.years.end}, {len(cfg.regions)} regions, "
        f"{layout.n_inputs} sampled inputs, {len(cfg.correlations)} correlations)"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
