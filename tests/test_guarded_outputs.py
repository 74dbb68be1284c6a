"""Nothing the user had is lost: an existing --out is kept without --overwrite, two runs on one
--out never mix, a full disk fails cleanly, an in-memory run too big for memory is refused, and
the CLI tells user errors from bugs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

from engine import run, run_to_file
from engine.errors import OutputError, RunError
from tests.conftest import DEFAULT_CONFIG, ROOT


def _cli(*args, cwd=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=cwd or ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_existing_out_is_kept_without_overwrite(tmp_path, default_config):
    out = tmp_path / "keep.nc"
    out.write_bytes(b"the user's precious file")
    before = _digest(out)
    with pytest.raises(OutputError, match="exists; add --overwrite"):
        run_to_file(default_config, out, scenarios=50, seed=1)
    assert _digest(out) == before
    p = _cli("run", DEFAULT_CONFIG, "-n", "50", "-o", out, "--no-progress")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "--overwrite" in err and "Traceback" not in err
    assert _digest(out) == before
    run_to_file(default_config, out, scenarios=50, seed=1, overwrite=True)
    with xr.open_dataset(out) as ds:
        assert ds.sizes["scenario"] == 50


def test_out_pointing_at_the_config_is_refused_even_with_overwrite(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(DEFAULT_CONFIG.read_text())
    before = _digest(cfg)
    p = _cli("run", cfg, "-n", "20", "-o", cfg, "--overwrite", "--no-progress")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "an input of this run" in err
    assert _digest(cfg) == before


def test_two_runs_on_one_out_never_mix(tmp_path):
    """Two real processes started together: exactly one writes the file, the other stops clearly."""
    out = tmp_path / "race.nc"
    args = ("run", DEFAULT_CONFIG, "-n", "40000", "--summary", "-o", out, "--no-progress")
    a = _cli(*args, "--seed", "1")
    time.sleep(0.3)
    b = _cli(*args, "--seed", "2")
    (oa, ea), (ob, eb) = a.communicate(timeout=600), b.communicate(timeout=600)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (ea, eb)
    loser = eb if b.returncode else ea
    assert "another dcproj run" in loser or "exists" in loser, loser
    winner_seed = "1" if a.returncode == 0 else "2"
    with xr.open_dataset(out) as ds:
        assert ds.attrs["seed"] == winner_seed and int(ds["count"]) == 40000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.nc"]  # no lock, partial or temporary file left


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    from engine.output.guard import OutputLock

    out = tmp_path / "x.nc"
    code = f"from engine.output.guard import OutputLock; import time; l = OutputLock({str(out)!r}).__enter__(); print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputError, match=f"pid {holder.pid}"):
        OutputLock(out).__enter__()
    holder.kill()
    holder.wait()
    with OutputLock(out):  # the kernel dropped the dead process's lock
        pass


@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 kB tmpfs (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({res.stderr.strip() or res.returncode}); the ENOSPC path is tested by test_enospc_while_writing_is_reported")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("summary", [False, True])
def test_a_full_disk_fails_cleanly(tiny_fs, default_config, summary, monkeypatch):
    """A 256 kB file system fills up while the file is written (the up-front space check is bypassed,
    as when another program fills the disk during the run)."""
    import engine.execution.entry_points as ep

    monkeypatch.setattr(ep, "check_disk_space", lambda *a, **k: None)
    out = tiny_fs / "full.nc"
    n = 20_000 if summary else 3000  # a summary file is ~480 kB; a 3000-scenario cube ~19 MB uncompressed
    with pytest.raises(OutputError) as info:
        run_to_file(default_config, out, scenarios=n, seed=1, summary=summary, compression="none", chunk_size=500 if not summary else None)
    msg = str(info.value)
    assert str(out) in msg and "is full" in msg, msg
    assert "0 GB" not in msg
    assert not list(tiny_fs.iterdir())  # no partial or temporary file


def test_enospc_while_writing_is_reported(tmp_path, default_config, monkeypatch):
    """Without a small file system: a write that raises ENOSPC."""
    import errno

    import engine.output.netcdf as nc

    def full(self, offset, arrays):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nc.CubeWriter, "write", lambda self, offset, arrays: self._raise_if_full(OSError(errno.ENOSPC, "x")))
    out = tmp_path / "x.nc"
    with pytest.raises(OutputError, match="is full"):
        run_to_file(default_config, out, scenarios=100, seed=1)
    assert not list(tmp_path.iterdir())


def test_the_disk_space_refusal_uses_readable_units(tmp_path, default_config, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=123_456))
    with pytest.raises(OutputError) as info:
        run_to_file(default_config, tmp_path / "x.nc", scenarios=10_000, seed=1)
    msg = str(info.value)
    assert "123 kB free" in msg and "MB" in msg and "0 GB" not in msg, msg


def test_an_in_memory_run_beyond_the_budget_is_refused(default_config):
    with pytest.raises(RunError, match="run_to_file"):
        run(default_config, scenarios=10**6, seed=1, memory_limit=100 * 2**20)


def test_internal_errors_show_a_traceback_and_ask_for_a_report(monkeypatch):
    from click.testing import CliRunner

    import engine.execution as ex
    from engine.cli import main

    def broken(*a, **k):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(ex, "run_to_file", broken)
    res = CliRunner().invoke(main, ["run", str(DEFAULT_CONFIG), "-n", "10", "-o", os.devnull + ".nc"])
    assert res.exit_code == 1
    assert "Traceback" in res.output and "an internal inconsistency" in res.output and "bug in dcproj" in res.output
