"""Small runs shared by the analysis tests (accessor, export, plots, report), made once per process.

Functions cached with ``lru_cache`` rather than conftest fixtures, so that the four test modules
share one cube and one summary file whichever of them run: 2 000 scenarios of the default config's
prior (``prior=True``: unweighted; weighted statistics are tested on these with known weights), seed 1.  The files live in one temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import engine.analysis.accessor  # noqa: F401  registers ds.dcproj (also done by `import engine` once registered there)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default.yaml"
SCENARIOS, SEED = 2000, 1
THRESHOLDS = ("2030>1000", "dc_only:2030>1000")  # stored in the summary file
DC_ONLY = ["accelerated_servers", "conventional_servers", "storage", "network", "infrastructure"]


@functools.lru_cache(maxsize=1)
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="dcproj-analysis-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=1)
def config():
    from engine import load_config

    return load_config(CONFIG)


@functools.lru_cache(maxsize=1)
def cube() -> xr.Dataset:
    """The full cube in memory (float32 storage, as files are by default)."""
    from engine import run

    return run(config(), scenarios=SCENARIOS, seed=SEED, prior=True)


@functools.lru_cache(maxsize=1)
def cube_file() -> Path:
    from engine import run_to_file

    return run_to_file(config(), workdir() / "full.nc", scenarios=SCENARIOS, seed=SEED, prior=True)


@functools.lru_cache(maxsize=1)
def summary_file() -> Path:
    from engine import run_to_file

    return run_to_file(config(), workdir() / "summary.nc", scenarios=SCENARIOS, seed=SEED, summary=True, thresholds=THRESHOLDS,
                       prior=True)  # fmt: skip


@functools.lru_cache(maxsize=1)
def summary() -> xr.Dataset:
    return xr.load_dataset(summary_file())


def integer_weights(n: int = SCENARIOS, seed: int = 3) -> np.ndarray:
    """Integer weights 0..4 (some zero), for checks by replication."""
    return np.random.default_rng(seed).integers(0, 5, n).astype(np.float64)


def smooth_weights(ds: xr.Dataset) -> np.ndarray:
    """Importance weights like a conditioning on the 2030 dc_only total near 800 TWh (sd 150)."""
    tot = ds.electricity.sel(component=DC_ONLY).astype(np.float64).sum(["region", "component"]).sel(year=2030).values
    return np.exp(-0.5 * ((tot - 800.0) / 150.0) ** 2)


def with_weights(ds: xr.Dataset, w) -> xr.Dataset:
    return ds.assign(weight=("scenario", np.asarray(w, dtype=np.float64)))


def dc_total_numpy(ds: xr.Dataset, components=DC_ONLY, region=None) -> np.ndarray:
    """The boundary's total [scenario, year] computed with numpy from the raw array (independent of engine.analysis)."""
    comp = [list(ds.component.values).index(c) for c in components]
    arr = np.asarray(ds.electricity.values, dtype=np.float64)[:, :, :, comp]
    if region is not None:
        arr = arr[:, :, [list(ds.region.values).index(region)]]
    return arr.sum(axis=(2, 3))


def synthetic_cube(values: np.ndarray, weights=None) -> xr.Dataset:
    """A minimal full cube: one year (2030), one region, the sample in accelerated_servers, zeros elsewhere."""
    comps = DC_ONLY + ["crypto"]
    elec = np.zeros((values.size, 1, 1, len(comps)))
    elec[:, 0, 0, 0] = values
    ds = xr.Dataset(
        {"electricity": (("scenario", "year", "region", "component"), elec, {"units": "TW h", "units_label": "TWh"})},
        coords={"scenario": np.arange(values.size), "year": [2030], "region": ["world"], "component": comps},
        attrs={"dcproj_kind": "full", "config_name": "synthetic", "scenarios": values.size, "dcproj_version": "test"},
    )
    return ds if weights is None else with_weights(ds, weights)
