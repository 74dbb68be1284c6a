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

Each storyline's config is ``load_config(config, overrides={**base_overrides, **overrides})``:
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
import difflib
import json
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from engine.config.loading import apply_overrides, config_overrides, config_sha256, effective_text, load_config, parse_overrides
from engine.config.schema import Config
from engine.errors import ConfigError, RunError
from engine.execution.entry_points import run, run_to_file
from engine.output.cf import cf_encoding
from engine.output.guard import OutputLock, check_destination
from engine.output.netcdf import COMPRESSIONS, check_writable, write_dataset

__all__ = ["Storyline", "STRUCTURAL_KEYS", "read_storyline", "load_storylines", "storyline_configs", "combine"]
__all__ += ["run_storylines", "storylines_to_file"]

DIM = "storyline"
SUFFIXES = (".yaml", ".yml")
FILE_KEYS = ("name", "order", "description", "sources", "overrides")
STRUCTURAL_KEYS = {  # top-level keys a storyline may not override, and why
    "seed": "every storyline runs with the same seed (common random numbers)",
    "years": "the storylines share one year axis",
    "regions": "the storylines share one region axis",
    "thresholds": "the storylines share one set of thresholds (pass --threshold to the run)",
}
NO_OVERRIDES = "(none: the config as it is)"
CONCAT = {"data_vars": "all", "coords": "different", "compat": "equals", "join": "exact", "combine_attrs": "override"}
SCENARIO_CHUNK = 16_384  # scenarios per dask chunk when a full cube is combined from its storylines' files


@dataclass(frozen=True)
class Storyline:
    """One storyline: a name, its description and sources, and its config overrides.

    Attributes
    ----------
    name : str
        The label on the ``storyline`` dim.
    description : str
        What the storyline assumes, in words.
    sources : tuple of str
        Where its assumptions come from.
    overrides : dict
        ``{"inputs.pue_ai.mode": 1.15, ...}``: key paths of the config and their new values.
    path : pathlib.Path
        The storyline file.
    order : int or None
        Position among the storylines (``None``: after those with one, by file name).
    """

    name: str
    description: str
    sources: tuple[str, ...]
    overrides: dict
    path: Path
    order: int | None = None

    def override_strings(self) -> list[str]:
        """The overrides as ``KEY.PATH=VALUE`` strings (values in YAML flow style, as ``--set`` takes them)."""
        return [
            f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in self.overrides.items()
        ]

    def record(self) -> dict:
        """The storyline as plain data (for the ``storylines`` attribute)."""
        return {
            "name": self.name,
            "description": self.description,
            "sources": list(self.sources),
            "overrides": self.override_strings(),
            "file": str(self.path),
        }


def read_storyline(path: str | Path) -> Storyline:
    """Read and check one storyline file (see the module docstring for its keys).

    Raises
    ------
    ConfigError
        Naming the file and what is wrong: not YAML, unknown keys, a missing or empty
        description or sources, overrides that are not a mapping of key paths.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: storyline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the storyline file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with the keys {', '.join(FILE_KEYS)}; got {type(data).__name__}")
    unknown = [k for k in data if k not in FILE_KEYS]
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) {unknown}; a storyline has {', '.join(FILE_KEYS)} (config changes go under overrides:)"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{p}: description: required, a non-empty text saying what the storyline assumes")
    sources = data.get("sources")
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s.strip() for s in sources):
        raise ConfigError(f"{p}: sources: required, a non-empty list of texts naming where the assumptions come from")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict) or not all(isinstance(k, str) and k.strip() for k in overrides):
        raise ConfigError(
            f"{p}: overrides: expected a mapping KEY.PATH: VALUE (as --set KEY.PATH=VALUE), e.g. inputs.pue_ai.mode: 1.15"
        )
    order = data.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool)):
        raise ConfigError(f"{p}: order: expected an integer, got {order!r}")
    name = str(data.get("name") or p.stem)
    return Storyline(name, description.strip(), tuple(s.strip() for s in sources), parse_overrides(overrides), p, order)


def load_storylines(source: str | Path | Iterable[str | Path]) -> list[Storyline]:
    """The storylines of a directory (its ``*.yaml``/``*.yml`` files), of one file, or of a list of files.

    Sorted by ``order`` (those without one last), then by file name.  Names must be unique.
    """
    if isinstance(source, str | Path):
        p = Path(source)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not files:
                raise ConfigError(f"{p}: the storylines directory holds no .yaml files")
        elif p.exists():
            files = [p]
        else:
            raise ConfigError(f"{p}: no such storyline file or directory")
    else:
        files = [Path(f) for f in source]
        if not files:
            raise ConfigError("no storyline files given")
    stories = sorted((read_storyline(f) for f in files), key=lambda s: (s.order is None, s.order or 0, s.path.name))
    seen: dict[str, Path] = {}
    for s in stories:
        if s.name in seen:
            raise ConfigError(f"{s.path}: storyline name {s.name!r} is also the name of {seen[s.name]}; names must be unique")
        seen[s.name] = s.path
    return stories


def _check_key(data: Any, key: str, story: Storyline, config_path) -> None:
    """Refuse ``key`` unless it names something that exists in the config ``data``."""
    parts = key.split(".")
    if parts[0] in STRUCTURAL_KEYS:
        raise ConfigError(f"{story.path}: overrides: {key}: a storyline may not change {parts[0]}: {STRUCTURAL_KEYS[parts[0]]}")
    node = data
    for depth, part in enumerate(parts):
        where, parent = ".".join(parts[: depth + 1]), ".".join(parts[:depth]) or "the top level"
        if isinstance(node, dict):
            if part not in node:
                have = [str(k) for k in node]
                close = difflib.get_close_matches(part, have, n=1)
                hint = f" (did you mean {'.'.join([*parts[:depth], close[0]])}?)" if close else ""
                raise ConfigError(
                    f"{story.path}: overrides: {key}: {where} does not exist in {config_path}{hint}; a storyline overrides "
                    f"keys that exist. {parent} has: {', '.join(have)}"
                )
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{story.path}: overrides: {key}: {parent} is a list of {len(node)} items; "
                    f"expected an index 0..{len(node) - 1}"
                )
            node = node[int(part)]
        else:
            raise ConfigError(f"{story.path}: overrides: {key}: {parent} is a value ({node!r}), not a mapping with keys")


def storyline_configs(config: str | Path, storylines: Sequence[Storyline], overrides=None) -> tuple[Config, list[Config]]:
    """The base config (with ``overrides``) and each storyline's config, every one validated before any run.

    Parameters
    ----------
    config
        The config file.
    storylines
        From :func:`load_storylines`.
    overrides
        ``--set`` overrides applied to the base and to every storyline (a storyline's own win).

    Raises
    ------
    ConfigError
        For a key that does not exist or may not change, and for values the schema refuses
        (the ``--set`` messages, prefixed with the storyline file).
    """
    base_sets = parse_overrides(overrides)
    base = load_config(config, overrides=base_sets)
    out = []
    for story in storylines:
        data = base.model_dump(mode="json", by_alias=True)
        for key, value in story.overrides.items():
            _check_key(data, key, story, config)
            data = apply_overrides(data, {key: value}, str(story.path))
        try:
            out.append(load_config(config, overrides={**base_sets, **story.overrides}))
        except ConfigError as exc:
            text = str(exc).replace("[set by --set ", "[set by ")
            raise ConfigError(f"storyline {story.name!r} ({story.path}) applied to {text}") from None
    return base, out


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
