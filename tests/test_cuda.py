"""The CUDA backend in the default test run, without a GPU.

* The kernels run under numba's CUDA simulator in a subprocess (the simulator must be on
  before numba is imported, so it cannot share this process): ``tests/test_cuda_sim.py``.
* Compiled for a real target: the kernels are lowered to PTX for sm_90 (H100) and assembled
  with ``ptxas`` when the CUDA toolkit's NVVM is installed, which the simulator cannot check
  (it runs the kernels as Python and never types them).
* Without a GPU and without the simulator, the backend and the CLI say so clearly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from engine.backends import get_backend
from engine.backends.cuda_gpu import cuda_unavailable_reason
from engine.errors import BackendUnavailable
from tests.conftest import DEFAULT_CONFIG, ROOT

HAS_GPU = cuda_unavailable_reason() is None


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(extra)
    return env


#: The simulator files, run in one subprocess (one interpreter start, one load of the CPU kernels).
SIMULATOR_FILES = ("tests/test_cuda_sim.py", "tests/test_cuda_weighted.py")
#: The only skip allowed there: a test that needs the real compiler (it runs in this process instead).
SIMULATOR_SKIP = "the simulator neither types nor lowers kernels"


def test_cuda_kernels_under_the_simulator():
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *SIMULATOR_FILES],
        cwd=ROOT,
        env=_env(NUMBA_ENABLE_CUDASIM="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    last = res.stdout.strip().splitlines()[-1]
    assert " passed" in last and "failed" not in last and "error" not in last, res.stdout[-2000:]
    skips = [ln for ln in res.stdout.splitlines() if ln.startswith("SKIPPED")]
    assert all(SIMULATOR_SKIP in ln for ln in skips), "\n".join(skips)


def test_cli_run_with_backend_cuda_under_the_simulator(tmp_path):
    """``dcproj run --backend cuda`` end to end (simulator): the file records the backend."""
    import xarray as xr

    out = tmp_path / "gpu.nc"
    res = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(DEFAULT_CONFIG), "-n", "12", "--seed", "5", "--backend", "cuda", "-o", str(out), "--no-progress"],
        cwd=ROOT,
        env=_env(NUMBA_ENABLE_CUDASIM="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    with xr.open_dataset(out) as ds:
        assert ds.attrs["backend"] == "cuda"
        assert ds.sizes["scenario"] == 12
        assert float(ds.electricity.sel(year=2022).sum(["region", "component"]).mean()) > 300


def test_cli_summary_run_with_backend_cuda_matches_the_cpu(tmp_path):
    """``dcproj run --summary --backend cuda`` (simulator): device-side summaries, same statistics."""
    import numpy as np
    import xarray as xr

    files = {}
    for backend in ("cuda", "numba"):
        files[backend] = tmp_path / f"{backend}.nc"
        res = subprocess.run(
            [sys.executable, "-m", "engine.cli", "run", str(DEFAULT_CONFIG), "-n", "10", "--seed", "3", "--summary", "--prior",
             "--backend", backend, "-o", str(files[backend]), "--no-progress"],
            cwd=ROOT,
            env=_env(NUMBA_ENABLE_CUDASIM="1") if backend == "cuda" else _env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr[-3000:]
    with xr.open_dataset(files["cuda"]) as gpu, xr.open_dataset(files["numba"]) as cpu:
        assert gpu.attrs["backend"] == "cuda"
        names = [n for n in cpu.data_vars if np.issubdtype(cpu[n].dtype, np.number)]
        assert "electricity_total_mean" in names
        for name in names:
            np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-9, err_msg=name)


@pytest.mark.skipif(HAS_GPU, reason="a CUDA device is present")
def test_get_backend_cuda_says_no_device_is_available():
    with pytest.raises(BackendUnavailable, match=r"^no CUDA device is available \(.+\); use --backend numba") as exc:
        get_backend("cuda")
    assert "NUMBA_ENABLE_CUDASIM=1" in str(exc.value)


@pytest.mark.skipif(HAS_GPU, reason="a CUDA device is present")
def test_cli_backend_cuda_says_no_device_is_available(tmp_path):
    out = tmp_path / "x.nc"
    res = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(DEFAULT_CONFIG), "-n", "10", "--backend", "cuda", "-o", str(out), "--no-progress"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("dcproj: error: no CUDA device is available ("), res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


# Compiling device functions asks numba for the current device's compute capability;
# without a GPU the check below answers sm_90 itself.  Only PTX is produced: nothing runs.
_PTX_SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys, tempfile, types
    import numba.cuda.dispatcher as disp
    disp.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    from numba import cuda, types as t
    from kernels import cuda as kc
    from kernels import cuda_summary as ks
    a = lambda dt, nd: t.Array(dt, nd, "C")
    f8, f4, i8 = t.float64, t.float32, t.int64
    sigs = {
        "uniforms_kernel": (t.uint64, i8, a(t.uint64, 1), a(f8, 2)),
        "sample_kernel": (t.uint64, i8, a(i8, 1), a(f8, 2), a(t.uint64, 1), a(i8, 1), a(f8, 2), a(f8, 2)),
        "project_kernel": (a(f8, 2), i8, i8, a(f4, 4), a(f4, 4), a(f4, 5), a(f4, 3)),
        "sample_project_kernel": (t.uint64, i8, a(i8, 1), a(f8, 2), a(t.uint64, 1), a(i8, 1), a(f8, 2), i8, i8, a(f8, 2), a(f8, 4), a(f8, 4), a(f8, 5), a(f8, 3)),
        "fill_kernel": (a(f4, 1), f4),
        "summary_gather_kernel": (a(f8, 2), a(f8, 2), a(f8, 2), a(f8, 2), a(i8, 1), a(i8, 1), a(i8, 1), a(f8, 2)),
        "summary_accumulate_kernel": (a(f8, 2), a(i8, 2), i8, i8, a(i8, 1), a(f8, 1), a(t.int32, 2), a(i8, 1),
                                      a(f8, 1), a(f8, 1), a(i8, 1), a(f8, 2), a(f8, 2), i8),
    }
    # the weighted summary's kernels, as CudaBackend.summarise_chunk launches them
    layout = (t.uint64, i8, a(i8, 1), a(f8, 2), a(t.uint64, 1), a(i8, 1), a(f8, 2), i8, i8)
    vintage_obs = (a(i8, 1), a(i8, 1), a(i8, 1), a(f8, 2))  # src, year, form, par
    cell_obs = (a(i8, 1), a(i8, 1), a(i8, 1), a(i8, 1), a(f8, 2))  # src, cell, prev, form, par
    cells = (a(i8, 1), a(i8, 1), a(i8, 1))
    sigs.update({
        "sample_project_ll_kernel": (*layout, *vintage_obs, a(f8, 2), a(f8, 4), a(f8, 4), a(f8, 5), a(f8, 3), a(f8, 1)),
        "summary_gather_weigh_kernel": (a(f8, 2),) * 4 + cells + cell_obs + (a(f8, 1), a(f8, 2), a(i8, 1)),
        "summary_weights_kernel": (a(i8, 1), i8, a(f8, 1), a(i8, 1), a(f8, 1), i8),
        "summary_accumulate_weighted_kernel": (a(f8, 2), a(i8, 2), a(i8, 1), i8, i8, a(i8, 1), a(f8, 1), a(i8, 2),
                                               a(i8, 1), a(f8, 1), a(f8, 1), a(i8, 1), a(f8, 2), a(f8, 2), i8),
    })
    report = {}
    for name, sig in sigs.items():
        ptx, _ = cuda.compile_ptx(getattr(kc if hasattr(kc, name) else ks, name).py_func, sig, cc=(9, 0))
        with tempfile.NamedTemporaryFile("w", suffix=".ptx") as f:
            f.write(ptx)
            f.flush()
            res = subprocess.run([sys.argv[1], "-arch=sm_90", "-v", f.name, "-o", "/dev/null"], capture_output=True, text=True)
        info = [ln.split(":", 1)[-1].strip() for ln in res.stderr.splitlines() if "registers" in ln or "spill" in ln]
        report[name] = {"ptx_bytes": len(ptx), "ptxas_rc": res.returncode, "ptxas": info or res.stderr[-2000:]}
    print(json.dumps(report))
    """
)


def _ptxas():
    for cand in (shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"):
        if cand and os.path.exists(cand):
            return cand
    return None


@pytest.mark.skipif(_ptxas() is None, reason="no CUDA toolkit (ptxas) on this machine")
def test_kernels_compile_for_sm90_and_assemble():
    """Types and lowers every kernel for the real CUDA target (the simulator does neither)."""
    import json

    from numba.cuda.cudadrv import nvvm

    try:
        nvvm.NVVM()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"NVVM (libnvvm) not found: {exc}")
    res = subprocess.run([sys.executable, "-c", _PTX_SCRIPT, _ptxas()], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert "summary_accumulate_weighted_kernel" in report
    for name, r in report.items():
        assert r["ptxas_rc"] == 0, (name, r)
        assert any("registers" in ln for ln in r["ptxas"]), (name, r)
