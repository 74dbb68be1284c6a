"""The ``dcproj`` command group.  Dispatch only: the science lives in :mod:`engine` and :mod:`kernels`.

Commands live one module each (:mod:`.run_cmd`, :mod:`.inspect_cmds`); errors are reported by
:mod:`.errors` (user errors as one paragraph, bugs with their traceback).
"""

from __future__ import annotations

import click

from engine.cli.compare_cmd import compare_cmd
from engine.cli.inspect_cmds import kinds_cmd, summary_cmd, validate_cmd
from engine.cli.explore_cmds import discover_cmd, sensitivity_cmd
from engine.cli.present_cmds import export_cmd, plot_cmd, report_cmd
from engine.cli.run_cmd import run_cmd

__all__ = ["main"]


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


for _command in (run_cmd, summary_cmd, validate_cmd, kinds_cmd, plot_cmd, report_cmd, export_cmd, sensitivity_cmd, discover_cmd, compare_cmd):
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
