"""Interrupted runs keep their finished chunks in <out>.partial/; --resume finishes them with the
result of an uninterrupted run.  In process (KeyboardInterrupt) and through the CLI (SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

import engine.execution.sinks as runner
from engine import run, run_to_file
from engine.errors import Interrupted
from engine.execution.checkpoint import ResumeError, Sidecar
from engine.stats.spec import MOMENT_BLOCK as BLOCK
from tests.conftest import DEFAULT_CONFIG, ROOT


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def _interrupt_after(monkeypatch, chunks: int):
    class Stop(runner.Progress):
        calls = 0

        def advance(self, n):
            Stop.calls += 1
            if Stop.calls > chunks:
                raise KeyboardInterrupt
            super().advance(n)

    monkeypatch.setattr(runner, "Progress", Stop)


@pytest.mark.parametrize("summary", [False, True])
def test_interrupted_run_resumes_to_the_uninterrupted_result(default_config, tmp_path, monkeypatch, summary):
    out = tmp_path / "r.nc"
    n, chunk = (5 * BLOCK + 11, BLOCK) if summary else (3000, 400)
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted) as info:
        run_to_file(default_config, out, scenarios=n, seed=21, summary=summary, chunk_size=chunk, keep_partial=True)
    side = Sidecar(out)
    assert not out.exists() and side.exists() and info.value.partial == side.dir
    manifest = json.loads(side.manifest_path.read_text())
    assert manifest["finished"] == [0, 1, 2] and manifest["key"]["seed"] == "21" and manifest["key"]["chunk_size"] == chunk
    assert (side.state_path if summary else side.cube_path).exists()
    monkeypatch.undo()
    with pytest.raises(ResumeError, match="add --resume"):
        run_to_file(default_config, out, scenarios=n, seed=21, summary=summary, keep_partial=True)
    with pytest.raises(ResumeError, match="seed: was '21', now '22'"):
        run_to_file(default_config, out, scenarios=n, seed=22, summary=summary, resume=True)
    run_to_file(default_config, out, scenarios=n, seed=21, summary=summary, resume=True)  # chunk size from the manifest
    assert not side.dir.exists()
    with xr.open_dataset(out) as resumed:
        _assert_same(run(default_config, scenarios=n, seed=21, summary=summary, dtype="float32"), resumed)


def test_resume_without_a_partial_run_is_an_error(default_config, tmp_path):
    with pytest.raises(ResumeError, match="no unfinished run"):
        run_to_file(default_config, tmp_path / "none.nc", scenarios=10, resume=True)


def test_failed_run_removes_its_partial_chunks(default_config, tmp_path, monkeypatch):
    class Boom(runner.Progress):
        def advance(self, n):
            raise OSError("disk full")

    monkeypatch.setattr(runner, "Progress", Boom)
    with pytest.raises(OSError, match="disk full"):
        run_to_file(default_config, tmp_path / "f.nc", scenarios=1000, chunk_size=300, keep_partial=True)
    assert not list(tmp_path.iterdir())


def _dcproj(*args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **(env or {})),
    )


def _wait_for_progress(proc, manifest, key, timeout=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.communicate()}")
        try:
            if json.loads(manifest.read_text()).get(key):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    pytest.fail("no chunk finished in time")


@pytest.mark.slow
@pytest.mark.parametrize("summary", [False, True])
def test_sigterm_then_resume_through_the_cli(default_config, tmp_path, summary):
    out = tmp_path / "cli.nc"
    n, chunk = (12 * BLOCK, BLOCK) if summary else (120_000, 500)  # long enough that SIGTERM lands mid-run
    args = ["run", DEFAULT_CONFIG, "-n", n, "--seed", 5, "--chunk-size", chunk, "--scheduler", "none", "-o", out] + (
        ["--summary"] if summary else []
    )
    proc = _dcproj(*args, env={"DCPROJ_CHECKPOINT_SECONDS": "0"})
    _wait_for_progress(proc, Sidecar(out).manifest_path, "done" if summary else "finished")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not out.exists() and Sidecar(out).exists()
    _resume_through_the_cli(args, out, run(default_config, scenarios=n, seed=5, summary=summary))


def _resume_through_the_cli(args, out, expected) -> None:
    """``dcproj run ARGS --resume`` finishes the run, removes the sidecar and writes ``expected``."""
    proc = _dcproj(*args, "--resume")
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"wrote {out}" in stdout and not Sidecar(out).dir.exists()
    with xr.open_dataset(out) as resumed:
        _assert_same(expected, resumed)


def _interrupted_full_run(default_config, out, monkeypatch, n=3000, chunk=400):
    """A full-cube run stopped after three chunks, its sidecar kept."""
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        run_to_file(default_config, out, scenarios=n, seed=21, chunk_size=chunk, keep_partial=True)
    monkeypatch.undo()
    side = Sidecar(out)
    manifest = json.loads(side.manifest_path.read_text())
    assert manifest["finished"] == [0, 1, 2] and sorted(manifest["digests"]) == ["0", "1", "2"]
    return side


def test_resume_recomputes_finished_chunks_whose_data_changed(default_config, tmp_path, monkeypatch, capfd):
    """A finished chunk whose bytes in the partial cube no longer match its checksum is computed again."""
    import netCDF4

    out = tmp_path / "r.nc"
    side = _interrupted_full_run(default_config, out, monkeypatch)
    with netCDF4.Dataset(side.cube_path, "a") as nc:  # damage chunk 1 (scenarios 400..799)
        nc.variables["electricity"][450] = 0.0
    path = run_to_file(default_config, out, scenarios=3000, seed=21, resume=True)
    err = capfd.readouterr().err
    assert "1 finished chunk(s)" in err and "(chunks [1])" in err
    with xr.open_dataset(path) as got:
        _assert_same(got, run(default_config, scenarios=3000, seed=21))
    assert not side.dir.exists()


def test_resume_after_a_kill_that_left_the_partial_cube_unreadable(default_config, tmp_path, monkeypatch, capfd):
    """A driver killed mid-write (SIGKILL) can leave an HDF5 file that cannot be opened: --resume
    says so, starts the cube afresh and still ends with the uninterrupted result."""
    out = tmp_path / "r.nc"
    side = _interrupted_full_run(default_config, out, monkeypatch)
    raw = side.cube_path.read_bytes()
    side.cube_path.write_bytes(raw[: len(raw) // 3])  # what a write cut short can leave
    path = run_to_file(default_config, out, scenarios=3000, seed=21, resume=True)
    err = capfd.readouterr().err
    assert "cannot be opened" in err and "Starting the cube afresh" in err
    with xr.open_dataset(path) as got:
        _assert_same(got, run(default_config, scenarios=3000, seed=21))
    assert not side.dir.exists()


@pytest.mark.slow
def test_sigkill_then_resume_through_the_cli(default_config, tmp_path):
    """SIGKILL gives the driver no chance to clean up; whatever state the partial cube is left
    in, --resume ends with the uninterrupted result and the destination is never half-written."""
    out = tmp_path / "kill.nc"
    n, chunk = 60_000, 500
    args = ["run", DEFAULT_CONFIG, "-n", n, "--seed", 6, "--chunk-size", chunk, "--scheduler", "none", "-o", out]
    proc = _dcproj(*args)
    _wait_for_progress(proc, Sidecar(out).manifest_path, "finished")
    proc.kill()
    proc.communicate(timeout=60)
    assert not out.exists() and Sidecar(out).exists()
    _resume_through_the_cli(args, out, run(default_config, scenarios=n, seed=6))
