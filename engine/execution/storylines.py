"""Storylines: named sets of overrides of one config, run with common random numbers into one file.

A storyline is a small YAML file (``configs/storylines/*.yaml``)::

    name: Lift-Off                    # the label on the storyline dim (default: the file's stem)
    order: 2                          # optional: position among the storylines (then the file name)
    description: >-
      Faster AI adoption ...
    sources:
      - "IEA (2025), Energy and AI, https://www.iea.org/reports/energy-and-ai"
    overrides:                        # KEY.PATH: VALUE, exactly as ``dcproj run --set KEY.PATH=VALUE``
      inputs.shipments_growth_initial.mode: 1.4

Reading and validating the files is :mod:`engine.execution.storyline_files` (its names are
re-exported here).  Each storyline's config is ``load_config(config, overrides={**base_overrides, **overrides})``:
the same machinery, schema and messages as ``--set``.  A key that does not exist in the base
config is rejected before anything runs, naming the storyline file, the key and what exists
there; so are the keys that would change the run's shape or its random numbers (``seed``,
``years``, ``regions``, ``thresholds``).  Every storyline runs with the same seed, so common
random numbers hold: dcproj's Philox streams are keyed by the input's name, the same seed
gives the same uniforms for the same inputs, and a storyline's slice of the result equals,
bit for bit, a plain run of the config with the same overrides.

The runs are concatenated along a new ``storyline`` dim (coordinate: the names), with the
storylines' description, sources, overrides, file, effective config and its sha256
(``storyline_config_checksum``) as coordinates on that dim (``storyline_*``) and, together, as
JSON in the ``storylines`` attribute.  Full cubes and ``--summary`` files alike; :func:`storylines_to_file` writes the
result as guarded as every other output (no file replaced without ``overwrite``, a lock per
output, the finished file placed atomically, nothing left behind on error).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engine.config.loading import config_overrides, config_sha256, effective_text
from engine.config.schema import Config
from engine.errors import RunError
from engine.execution.entry_points import run, run_to_file
from engine.execution.storyline_files import (  # noqa: F401  (re-exported: the storylines API in one place)
    DIM,
    NO_OVERRIDES,
    STRUCTURAL_KEYS,
    Storyline,
    load_storylines,
    read_storyline,
    storyline_configs,
)
from engine.output.cf import cf_encoding
from engine.output.guard import OutputLock, check_destination
from engine.output.netcdf import COMPRESSIONS, check_writable, write_dataset

__all__ = ["Storyline", "STRUCTURAL_KEYS", "read_storyline", "load_storylines", "storyline_configs", "combine"]
__all__ += ["run_storylines", "storylines_to_file"]

CONCAT = {"data_vars": "all", "coords": "different", "compat": "equals", "join": "exact", "combine_attrs": "override"}
SCENARIO_CHUNK = 16_384  # scenarios per dask chunk when a full cube is combined from its storylines' files


def _coords(storylines, configs, datasets) -> dict:
    clipped = [int(d.attrs.get("clipped_conventional_it_2022", 0)) for d in datasets]
    text = {
        "description": [s.description for s in storylines],
        "sources": ["\n".join(s.sources) for s in storylines],
        "overrides": ["; ".join(s.override_strings()) or NO_OVERRIDES for s in storylines],
        "file": [str(s.path) for s in storylines],
        "config_checksum": [config_sha256(c) for c in configs],
        "config": [effective_text(c) for c in configs],
    }
    out = {
        f"storyline_{k}": (DIM, np.array(v, dtype=object), {"long_name": f"the storyline's {k.replace('_', ' ')}"})
        for k, v in text.items()
    }
    out["storyline_config_checksum"][2]["long_name"] = "sha256 of the storyline's effective config"
    what = {"long_name": "scenarios whose 2022 conventional-IT residual was clipped", "units": "1"}
    out["storyline_clipped_conventional_it_2022"] = (DIM, np.array(clipped, dtype=np.int64), what)
    return out


def combine(
    datasets: Sequence[xr.Dataset], storylines: Sequence[Storyline], configs: Sequence[Config], base: Config
) -> xr.Dataset:
    """Concatenate the storylines' results along a new ``storyline`` dim (see the module docstring).

    The global attributes are the first run's, with the base config's provenance (``config``,
    ``config_sha256``, ``config_overrides``) and the storylines themselves (``storylines``, JSON).
    """
    names = [s.name for s in storylines]
    ds = xr.concat(list(datasets), dim=pd.Index(names, name=DIM), **CONCAT)
    ds = ds.assign_coords({k: (d, v, a) for k, (d, v, a) in _coords(storylines, configs, datasets).items()})
    for name, var in list(ds.variables.items()):  # empty labels (no thresholds) read back as objects: xarray writes them as str
        if var.dtype == object and var.size == 0:
            ds[name] = var.astype(str)
    ds[DIM].attrs["long_name"] = "storyline: a named set of overrides of the config, run with the same seed"
    attrs = dict(datasets[0].attrs)
    attrs.pop("config_overrides", None)
    sets = config_overrides(base)
    attrs.update(
        title=f"dcproj storylines of {base.name}: {', '.join(names)}",
        config_name=base.name,
        config_sha256=config_sha256(base),
        config=effective_text(base),
        config_note=(
            "config: the base config (after --set overrides); each storyline's effective config is storyline_config "
            "(its sha256: storyline_config_checksum)"
        ),
        dcproj_storylines="; ".join(names),
        storylines=json.dumps([s.record() for s in storylines], ensure_ascii=False),
        storylines_note=(
            "each storyline is the config with its overrides, run with the same seed: common random numbers (the same "
            "Philox uniforms for the same inputs), so differences between storylines are the overrides' effect"
        ),
        clipped_conventional_it_2022=int(sum(int(d.attrs.get("clipped_conventional_it_2022", 0)) for d in datasets)),
    )
    if sets:
        attrs["config_overrides"] = "; ".join(sets)
    ds.attrs = attrs
    return ds


def run_storylines(
    config: str | Path, storylines, scenarios: int = 10_000, seed: int | None = None, *, overrides=None, **options
) -> xr.Dataset:
    """Run every storyline of ``config`` in memory and return them along a ``storyline`` dim.

    Parameters
    ----------
    config
        The config file.
    storylines
        A directory, a file, a list of files (:func:`load_storylines`) or of :class:`Storyline`.
    scenarios, seed
        As :func:`engine.run`; the same seed for every storyline (default: the config's).
    overrides
        ``--set`` overrides of the base config (a storyline's own override wins).
    options
        Passed to :func:`engine.run` (``summary=True``, ``backend``, ``thresholds``, ...).

    Returns
    -------
    xarray.Dataset
        The runs' variables with a leading ``storyline`` dim [their units], see :func:`combine`.
    """
    stories = _stories(storylines)
    base, configs = storyline_configs(config, stories, overrides)
    seed = base.seed if seed is None else seed
    return combine([run(c, scenarios, seed, **options) for c in configs], stories, configs, base)


def _stories(storylines) -> list[Storyline]:
    if isinstance(storylines, Sequence) and storylines and all(isinstance(s, Storyline) for s in storylines):
        return list(storylines)
    return load_storylines(storylines)


def _encoding(ds: xr.Dataset, compression: str, level: int, summary: bool) -> dict:
    """CF encoding, no fill values on data, and for a cube the compression and chunks of
    :class:`~engine.output.netcdf.CubeWriter` (one storyline per chunk)."""
    enc = cf_encoding(ds)
    for name, var in ds.data_vars.items():
        e = enc.setdefault(str(name), {})
        e.setdefault("_FillValue", None)
        if not summary and "scenario" in var.dims:
            shape = dict(zip(var.dims, var.shape, strict=True))
            rest = [shape[d] for d in var.dims if d not in (DIM, "scenario")]
            per = int(np.prod(rest)) * var.dtype.itemsize
            sizes = {DIM: 1, "scenario": max(1, min(shape["scenario"], (1 << 22) // max(per, 1)))}
            e.update(chunksizes=tuple(sizes.get(d, shape[d]) for d in var.dims), **COMPRESSIONS[compression](level))
    return enc


def storylines_to_file(
    config: str | Path,
    storylines,
    out: str | Path,
    scenarios: int = 10_000,
    seed: int | None = None,
    *,
    overrides=None,
    summary: bool = False,
    overwrite: bool = False,
    compression: str = "blosc_lz4",
    compression_level: int = 1,
    resume: bool = False,
    **options,
) -> Path:
    """Run every storyline of ``config`` and write them, along a ``storyline`` dim, to the netCDF file ``out``.

    Every storyline is validated before anything runs; each one then runs with
    :func:`engine.run_to_file` into a private folder beside ``out`` (same seed), and the
    results are combined (:func:`combine`) into a temporary file placed at ``out`` when
    complete.  On any error or interruption nothing is left at ``out`` (an existing file is
    untouched) and the private folder is removed.  Arguments as :func:`run_storylines` and
    :func:`engine.run_to_file` (``resume`` is not supported: rerun the storylines).
    """
    if resume:
        raise RunError("--resume does not apply to --storylines runs; rerun the storylines (each one is a complete run)")
    stories = _stories(storylines)
    base, configs = storyline_configs(config, stories, overrides)
    seed = base.seed if seed is None else seed
    out = check_writable(out)
    check_destination(out, overwrite=overwrite, protected=[config, *(s.path for s in stories)])
    work = out.parent / f".{out.name}.storylines.{uuid.uuid4().hex[:8]}"
    with OutputLock(out), contextlib.ExitStack() as stack:
        work.mkdir()
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        files = []
        for i, (story, cfg) in enumerate(zip(stories, configs, strict=True)):
            kw = dict(summary=summary, compression=compression, compression_level=compression_level, **options)
            print(f"dcproj: storyline {story.name!r} ({i + 1}/{len(stories)})", file=sys.stderr)  # its warnings follow
            files.append(run_to_file(cfg, work / f"{i}.nc", scenarios, seed, **kw))
            if options.get("progress"):
                print(f"dcproj: storyline {story.name!r} done ({i + 1}/{len(stories)})")
        if summary:
            datasets = [xr.load_dataset(f) for f in files]
        else:
            with warnings.catch_warnings():  # dask chunks across the stored ones: read once, in order, by the writer
                warnings.filterwarnings("ignore", message="The specified chunks separate the stored chunks")
                datasets = [stack.enter_context(xr.open_dataset(f, chunks={"scenario": SCENARIO_CHUNK})) for f in files]
        ds = combine(datasets, stories, configs, base)
        for var in ds.variables.values():
            var.encoding = {}
        return write_dataset(ds, out, overwrite=overwrite, encoding=_encoding(ds, compression, compression_level, summary))
