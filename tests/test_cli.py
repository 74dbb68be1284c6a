"""The command line end to end, through a subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import xarray as xr

from tests.conftest import DEFAULT_CONFIG, ROOT


def dcproj(*args, cwd=None):
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "default.nc"
    res = dcproj("run", DEFAULT_CONFIG, "--scenarios", "2e3", "--seed", "42", "--out", out)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout
    return out


def test_run_writes_a_cube_with_the_command(run_file):
    with xr.open_dataset(run_file) as ds:
        assert ds.sizes["scenario"] == 2000
        assert ds.attrs["seed"] == "42"
        assert "--scenarios 2e3" in ds.attrs["command"]


def test_summary_prints_quantile_table(run_file):
    res = dcproj("summary", run_file)
    assert res.returncode == 0, res.stderr
    for col in ("p5", "p25", "p50", "p75", "p95", "mean", "2022", "2035"):
        assert col in res.stdout
    res = dcproj("summary", run_file, "--boundary", "dc_only", "--by", "region", "--year", "2026")
    assert res.returncode == 0, res.stderr
    assert "united_states" in res.stdout and "2026" in res.stdout and "2030" not in res.stdout


def test_summary_numbers_match_xarray(run_file):
    import numpy as np

    from engine.analysis.results import summarise

    with xr.open_dataset(run_file) as ds:
        frame = summarise(ds, "electricity", "dc_only", None, 2026)
        total = ds.electricity.sel(year=2026).drop_sel(component="crypto").astype("float64").sum(["region", "component"])
        w = ds.weight.values  # the default is conditioned on its observations: the numbers are weighted
        from engine.analysis.weighted import weighted_quantile

        assert frame.loc[2026, "p50"] == pytest.approx(float(weighted_quantile(total.values, w, [0.5])[0]), rel=1e-12)
        assert frame.loc[2026, "mean"] == pytest.approx(float(np.average(total.values, weights=w)), rel=1e-12)


def test_validate(tmp_path):
    res = dcproj("validate", DEFAULT_CONFIG)
    assert res.returncode == 0 and "valid" in res.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "does-not-exist.yaml", "-n", "10"], "config file not found"),
        (["run", DEFAULT_CONFIG, "--scenarios", "0"], "positive number of scenarios"),
        (["run", DEFAULT_CONFIG, "--scenarios", "-5"], "positive number of scenarios"),
        (["run", DEFAULT_CONFIG, "--scenarios", "abc"], "whole number"),
        (["validate", "does-not-exist.yaml"], "config file not found"),
        (["summary", "does-not-exist.nc"], "no such file"),
    ],
)
def test_bad_arguments_exit_non_zero_without_traceback(args, expected, tmp_path):
    res = dcproj(*args, cwd=tmp_path)
    assert res.returncode != 0
    assert expected in res.stderr
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.glob("**/*.nc"))


def test_bad_config_exits_non_zero_and_writes_nothing(tmp_path, default_text):
    bad = tmp_path / "bad.yaml"
    bad.write_text(default_text.replace("pue_ai:\n    {kind: pert, low: 1.10, mode: 1.20", "pue_ai:\n    {kind: pert, low: 1.10, mode: 1.50"))
    out = tmp_path / "out.nc"
    res = dcproj("run", bad, "-n", "10", "-o", out)
    assert res.returncode != 0
    assert "bad.yaml" in res.stderr and "inputs.pue_ai" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()
    res = dcproj("validate", bad)
    assert res.returncode != 0 and "inputs.pue_ai" in res.stderr


def test_missing_output_directory_is_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "x.nc"
    res = dcproj("run", DEFAULT_CONFIG, "-n", "10", "-o", out)
    assert res.returncode == 0, res.stderr
    assert out.exists()


def test_unwritable_output_path(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = dcproj("run", DEFAULT_CONFIG, "-n", "10", "-o", locked / "x.nc")
        if os.geteuid() == 0:  # root ignores directory permissions: a "directory" that is a file instead
            (tmp_path / "afile").write_text("")
            res = dcproj("run", DEFAULT_CONFIG, "-n", "10", "-o", tmp_path / "afile" / "sub" / "x.nc")
            assert "cannot create its directory" in res.stderr
        else:
            assert "not writable" in res.stderr
        assert res.returncode != 0 and "Traceback" not in res.stderr
    finally:
        locked.chmod(0o700)


def test_help_explains_the_commands():
    res = dcproj("--help")
    assert res.returncode == 0
    for word in ("run", "summary", "validate", "netCDF"):
        assert word in res.stdout
    res = dcproj("run", "--help")
    assert "--scenarios" in res.stdout and "--seed" in res.stdout
