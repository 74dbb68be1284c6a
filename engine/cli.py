"""Command line: ``dcproj run``, ``dcproj summary``, ``dcproj validate``.

Dispatch only: the science lives in :mod:`engine` and :mod:`kernels`.  User errors are
printed as one paragraph (no traceback) with a non-zero exit status.
"""

from __future__ import annotations

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
@click.option("--scenarios", "-n", type=_Scenarios(), default="100000", show_default=True, help="Number of Monte Carlo scenarios (1e6 notation accepted).")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=None, help="RNG seed; default: the config's seed.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Output netCDF file; default: runs/<config name>.nc.")
@click.option("--backend", type=click.Choice(["numba", "cuda", "numpy"]), default="numba", show_default=True, help="numba: compiled CPU kernels; cuda: the same kernels on an NVIDIA GPU (numba.cuda); numpy: the plain reference implementation (slow).")
@click.option("--chunk-size", type=click.IntRange(1), default=None, help="Scenarios per chunk (memory); results do not depend on it.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True, help="Storage type of the outputs (arithmetic is float64).")
@click.option("--compression", type=click.Choice(["blosc_lz4", "zstd", "zlib", "none"]), default="blosc_lz4", show_default=True, help="netCDF compression filter; zlib is readable by every netCDF tool but ~8x slower to write.")
@click.option("--compression-level", type=click.IntRange(0, 9), default=1, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress for runs longer than ~2 s.")
def run_cmd(config, scenarios, seed, out, backend, chunk_size, dtype, compression, compression_level, progress):
    """Run a projection of CONFIG (YAML or TOML) and write the cube to a netCDF file.

    The file holds electricity [TWh], carbon [Mt CO2], water [GL] and installed
    accelerators [million] by scenario, year, region and component, the sampled inputs,
    and the config, seed and version in its attributes.  It appears only when complete.
    """
    try:
        from engine.config import load_config
        from engine.runner import run_to_file

        cfg = load_config(config)
        if out is None:
            out = Path("runs") / f"{config.stem}.nc"
            out.parent.mkdir(parents=True, exist_ok=True)
        path = run_to_file(cfg, out, scenarios, seed, backend=backend, chunk_size=chunk_size, dtype=dtype, compression=compression, compression_level=compression_level, progress=progress)
    except _user_errors() as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; no output file was written", 130)
    click.echo(f"wrote {path} ({scenarios:,} scenarios, seed {cfg.seed if seed is None else seed})")


@main.command("summary")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--variable", type=click.Choice(["electricity", "carbon", "water", "installed_accelerators"]), default="electricity", show_default=True)
@click.option("--boundary", type=click.Choice(["incl_crypto", "dc_only"]), default="incl_crypto", show_default=True, help="incl_crypto: IEA's 460 TWh boundary; dc_only: without crypto mining.")
@click.option("--by", type=click.Choice(["region", "component"]), default=None, help="Break the totals down by region or component.")
@click.option("--year", type=int, default=None, help="Only this year.")
def summary_cmd(path, variable, boundary, by, year):
    """Print quantiles (5, 25, 50, 75, 95 %) and the mean of totals per year from a run file."""
    try:
        import xarray as xr

        from engine.summary import summarise

        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            ds = xr.open_dataset(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable netCDF file ({exc})") from None
        with ds:
            frame = summarise(ds, variable, boundary, by, year)
            units = ds[variable].attrs.get("units", "")
            title = f"{variable} [{units}], {boundary}, {ds.attrs.get('scenarios', '?')} scenarios ({path})"
    except _user_errors() as exc:
        _fail(str(exc))
    _print_table(frame, title)


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
