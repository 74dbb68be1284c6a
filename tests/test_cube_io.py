"""The netCDF cube: round trip, metadata, atomic writes."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import xarray as xr

from engine import run, run_to_file
from engine.errors import OutputError
from engine.inputs.layout import build_layout
from engine.output.variables import VARIABLES


@pytest.fixture(scope="module")
def written(tmp_path_factory, default_config):
    path = tmp_path_factory.mktemp("cube") / "run.nc"
    run_to_file(default_config, path, scenarios=500, seed=3, chunk_size=128, command="pytest")
    return path


def test_netcdf_round_trip_gives_the_run_back(written, default_config):
    mem = run(default_config, scenarios=500, seed=3, command="pytest")
    with xr.open_dataset(written) as disk:
        xr.testing.assert_equal(mem, disk)
        for name in [*VARIABLES, "inputs"]:
            assert disk[name].attrs == mem[name].attrs, name
            assert disk[name].dtype == mem[name].dtype, name
        skip = {"created", "history"}
        assert {k: v for k, v in disk.attrs.items() if k not in skip} == {k: v for k, v in mem.attrs.items() if k not in skip}


def test_every_variable_has_units_and_long_name(written, default_config):
    with xr.open_dataset(written) as ds:
        for name, var in ds.data_vars.items():
            assert var.attrs.get("units"), name
            assert var.attrs.get("long_name"), name
        assert ds.electricity.dtype == np.float32  # float32 storage by default
        assert list(ds.electricity.dims) == ["scenario", "year", "region", "component"]
        assert ds.inputs.sel(input="pue_ai").input_units.item() == "1"
        source = ds.inputs.sel(input="pue_ai").input_source.item()
        assert source == default_config.distribution("pue_ai").source and "Environmental Report" in source  # the config's citation, verbatim


def test_provenance_attributes(written, default_text):
    with xr.open_dataset(written) as ds:
        a = ds.attrs
        assert a["seed"] == "3" and int(a["scenarios"]) == 500
        assert a["config_file_text"] == default_text  # the file as read
        from engine.config import parse_config

        assert parse_config(a["config"]).model_dump() == parse_config(default_text).model_dump()  # the effective config, serialised
        assert a["config_sha256"] == hashlib.sha256(a["config"].encode()).hexdigest()
        assert a["dcproj_version"] and a["created"] and a["command"] == "pytest"
        assert "TechInsights" in a["sources"]


def test_failed_run_leaves_no_file_and_keeps_the_old_one(tmp_path, default_config, monkeypatch):
    out = tmp_path / "keep.nc"
    out.write_bytes(b"precious")
    import engine.execution.executors as run_mod

    calls = {"n": 0}
    real = run_mod.compute_chunk

    def exploding(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # an interrupt in the middle of the run
        return real(*args, **kwargs)

    monkeypatch.setattr(run_mod, "compute_chunk", exploding)
    with pytest.raises(KeyboardInterrupt):
        run_to_file(default_config, out, scenarios=100, seed=1, chunk_size=10, overwrite=True)
    assert out.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["keep.nc"]


def test_unwritable_output_fails_before_computing(tmp_path, default_config):
    with pytest.raises(OutputError, match="does not exist"):
        run_to_file(default_config, tmp_path / "missing" / "x.nc", scenarios=10)
    with pytest.raises(OutputError, match="is a directory"):
        run_to_file(default_config, tmp_path, scenarios=10)


def test_a_full_cube_that_cannot_fit_on_disk_is_refused_before_computing(tmp_path, default_config):
    import shutil

    from engine.errors import OutputError
    from engine.execution.planning import bytes_per_scenario

    free = shutil.disk_usage(tmp_path).free
    per = bytes_per_scenario(build_layout(default_config), np.float32)
    n = int(2 * free / per) + 1  # twice what the disk holds even uncompressed
    with pytest.raises(OutputError, match=r"needs about .* [kMGT]?B free; use --summary"):
        run_to_file(default_config, tmp_path / "huge.nc", scenarios=n)
    assert os.listdir(tmp_path) == []
