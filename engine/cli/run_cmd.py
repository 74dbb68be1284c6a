"""``dcproj run``: run a projection and write the cube, or its summary, to netCDF.

Every choice (backends, compressions, schedulers) comes from its registry.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.backends import available_backends
from engine.cli.errors import reports_errors, sigterm_as_interrupt
from engine.cli.params import Bytes, Quantiles, Scenarios
from engine.execution.executors import SCHEDULERS
from engine.output.netcdf import COMPRESSIONS
from engine.stats.sample import KEEP_SAMPLE

__all__ = ["run_cmd"]

BACKEND_CHOICES = available_backends()


@click.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value before validation, e.g. --set inputs.pue_ai.mode=1.15 --set years.end=2040 (repeatable; values are YAML).",
)
@click.option(
    "--scenarios",
    "-n",
    type=Scenarios(),
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
    help="Output netCDF file; default: runs/<config file name>.nc (runs/<config file name>.summary.nc with --summary).",
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
    metavar="[VAR][/BOUNDARY]:YEAR>VALUE",
    help=(
        "Also store P(total > VALUE) with its Monte Carlo count, e.g. 2030>1000, dc_only:2030>1000 or "
        "carbon/dc_only:2030>300 (repeatable; the config's thresholds are always included)."
    ),
)
@click.option(
    "--quantiles",
    type=Quantiles(),
    default=None,
    help="With --summary: quantile levels; default 0.01,0.05,0.1,0.25,0.5,0.75,0.9,0.95,0.99.",
)
@click.option(
    "--backend",
    type=click.Choice(sorted(BACKEND_CHOICES)),
    default="numba",
    show_default=True,
    help="; ".join(f"{name}: {caps.help}" for name, caps in sorted(BACKEND_CHOICES.items())) + ".",
)
@click.option(
    "--scheduler",
    default="auto",
    show_default=True,
    metavar="|".join([*SCHEDULERS, "ADDRESS"]),
    help="Where chunks run: " + "; ".join(f"{k}: {v}" for k, v in SCHEDULERS.items()) + "; or a dask scheduler address (tcp://host:8786).",
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
    type=Bytes(),
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
    "--keep-sample",
    type=click.IntRange(0),
    default=KEEP_SAMPLE,
    show_default=True,
    help="With --summary: keep the first N scenarios with their inputs and key outputs (for sensitivity and discovery); 0: none.",
)
@click.option(
    "--prior",
    is_flag=True,
    help="Ignore the config's observations: the unconditioned prior (otherwise a config with observations gives a weighted run).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace --out if it exists (atomically, once the run has succeeded); without it an existing file is never touched.",
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
    type=click.Choice(list(COMPRESSIONS)),
    default="blosc_lz4",
    show_default=True,
    help="netCDF compression filter; zlib is readable by every netCDF tool but ~8x slower to write.",
)
@click.option("--compression-level", type=click.IntRange(0, 9), default=1, show_default=True)
@click.option(
    "--storylines",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    metavar="DIR_OR_FILE",
    help=(
        "Run each storyline (configs/storylines/*.yaml: named sets of --set overrides) with the same seed into one "
        "file with a storyline dim; default --out runs/<config>.storylines.nc."
    ),
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress for runs longer than ~2 s (a bar on a terminal, periodic lines in logs).",
)
@reports_errors
def run_cmd(
    config,
    overrides,
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
    keep_sample,
    prior,
    overwrite,
    dtype,
    compression,
    compression_level,
    storylines,
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
    from engine.config import load_config
    from engine.errors import OutputError, RunError
    from engine.execution import run_to_file
    from engine.stats.spec import SUMMARY_QUANTILES

    cfg = load_config(config, overrides=overrides)
    if out is None and storylines is not None:
        out = Path("runs") / f"{config.stem}.storylines{'.summary' if summary else ''}.nc"
    if out is None:
        out = Path("runs") / (f"{config.stem}.summary.nc" if summary else f"{config.stem}.nc")
    if quantiles and not summary:
        raise RunError("--quantiles applies to --summary runs; a full cube holds every scenario (dcproj summary FILE reads any quantile)")
    if not out.parent.exists():  # like the default runs/: the folder of --out is created
        try:
            out.parent.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"{out}: cannot create its directory {out.parent} ({exc.strerror})") from None
    if storylines is not None:
        from engine.execution.storylines import storylines_to_file

        with sigterm_as_interrupt():
            path = storylines_to_file(
                config, storylines, out, scenarios, seed, overrides=overrides, summary=summary, overwrite=overwrite,
                compression=compression, compression_level=compression_level, resume=resume, backend=backend,
                chunk_size=chunk_size, dtype=dtype, progress=progress, thresholds=thresholds,
                quantiles=quantiles or SUMMARY_QUANTILES, scheduler=scheduler, cluster=cluster, n_workers=workers,
                memory_limit=memory_limit, keep_sample=keep_sample, prior=prior,
            )  # fmt: skip
        kind = "summaries of " if summary else ""
        click.echo(f"wrote {path} (storylines of {kind}{scenarios:,} scenarios, seed {cfg.seed if seed is None else seed})")
        return
    with sigterm_as_interrupt():
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
            quantiles=quantiles or SUMMARY_QUANTILES,
            scheduler=scheduler,
            cluster=cluster,
            n_workers=workers,
            memory_limit=memory_limit,
            resume=resume,
            keep_partial=True,
            overwrite=overwrite,
            keep_sample=keep_sample,
            prior=prior,
        )
    kind = "summary of " if summary else ""
    weighted = f", weighted by {len(cfg.observations)} observations" if cfg.observations and not prior else ""
    click.echo(f"wrote {path} ({kind}{scenarios:,} scenarios, seed {cfg.seed if seed is None else seed}{weighted})")
