"""Runs on dask.distributed with a real LocalCluster (worker processes): identical results to a
local run, worker loss, the LocalCluster and dask-jobqueue entry points."""

from __future__ import annotations

import os
import signal
import sys
import types

import numpy as np
import pytest
import xarray as xr

from engine import run, run_to_file
from engine.execution.clusters import WORKER_ENV, ClusterError
from engine.stats.spec import MOMENT_BLOCK as BLOCK
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(default_config):
    from distributed import LocalCluster

    run(default_config, scenarios=10, summary=True)  # compile (or load) the kernels here first: workers then load them from disk
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=dict(WORKER_ENV), memory_limit="2GiB"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    from distributed import Client

    with Client(cluster) as c:
        yield c


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_full_cube_on_dask_is_bit_identical_to_a_local_run(default_config, cluster, tmp_path):
    local = run(default_config, scenarios=3000, seed=9)
    on_dask = run(default_config, scenarios=3000, seed=9, chunk_size=701, scheduler=cluster.scheduler_address)
    _assert_same(local, on_dask)
    path = run_to_file(
        default_config, tmp_path / "d.nc", scenarios=3000, seed=9, chunk_size=433, scheduler=cluster.scheduler_address
    )
    with xr.open_dataset(path) as disk:
        _assert_same(local, disk)
        assert disk.attrs["dcproj_kind"] == "full"


def test_summary_on_dask_is_bit_identical_whatever_the_chunks(default_config, cluster):
    n = 5 * BLOCK + 77
    local = run(default_config, scenarios=n, seed=9, summary=True, thresholds=["2030>1000"], chunk_size=3 * BLOCK)
    on_dask = run(
        default_config,
        scenarios=n,
        seed=9,
        summary=True,
        thresholds=["2030>1000"],
        chunk_size=BLOCK,
        scheduler=cluster.scheduler_address,
    )
    _assert_same(local, on_dask)


def test_a_worker_killed_mid_run_changes_nothing(default_config, cluster, client, monkeypatch):
    import engine.execution.entry_points as runner

    n = 10 * BLOCK
    expected = run(default_config, scenarios=n, seed=13, summary=True, chunk_size=2 * BLOCK)
    pids = client.run(os.getpid)  # worker address -> pid
    killed = {}

    class KillOnFirstChunk(runner.Progress):
        def advance(self, k):
            if not killed:  # the other worker is busy, the killed one had a task: both must be recomputed
                address, pid = sorted(pids.items())[0]
                os.kill(pid, signal.SIGKILL)
                killed[address] = pid
            super().advance(k)

    monkeypatch.setattr(runner, "Progress", KillOnFirstChunk)
    got = run(default_config, scenarios=n, seed=13, summary=True, chunk_size=BLOCK, scheduler=cluster.scheduler_address)
    assert killed
    _assert_same(expected, got)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the worker
    assert set(client.run(os.getpid).values()) != set(pids.values())


def test_local_cluster_from_the_runner(default_config, tmp_path):
    n = BLOCK + 5
    path = run_to_file(
        default_config,
        tmp_path / "s.nc",
        scenarios=n,
        seed=3,
        summary=True,
        scheduler="local",
        n_workers=2,
        memory_limit=4 * 2**30,
    )
    with xr.open_dataset(path) as ds:
        _assert_same(run(default_config, scenarios=n, seed=3, summary=True), ds)


def test_jobqueue_cluster_file(default_config, tmp_path, monkeypatch):
    """--cluster: the example file's settings reach dask-jobqueue (a LocalCluster stands in for SLURM)."""
    from distributed import LocalCluster

    seen = {}

    class FakeSLURMCluster(LocalCluster):
        def __init__(self, **kwargs):
            seen.update(kwargs)
            super().__init__(n_workers=0, processes=False, threads_per_worker=1, dashboard_address=":0")

        def scale(self, n=0, jobs=None, **kwargs):
            if jobs is None:  # LocalCluster's own calls
                return super().scale(n, **kwargs)
            seen["jobs"] = jobs
            return super().scale(1)

    monkeypatch.setitem(sys.modules, "dask_jobqueue", types.SimpleNamespace(SLURMCluster=FakeSLURMCluster))
    example = ROOT / "configs" / "cluster" / "slurm.yaml"
    path = run_to_file(default_config, tmp_path / "j.nc", scenarios=BLOCK, seed=3, summary=True, cluster=example)
    assert seen["cores"] == 16 and seen["processes"] == 16 and seen["memory"] == "64GiB" and seen["jobs"] == 4
    assert any("NUMBA_NUM_THREADS=1" in line for line in seen["job_script_prologue"])
    with xr.open_dataset(path) as ds:
        _assert_same(run(default_config, scenarios=BLOCK, seed=3, summary=True), ds)


def test_cluster_errors_are_clear(default_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # not installed
    with pytest.raises(ClusterError, match="dask-jobqueue is not installed.*pip install"):
        run_to_file(default_config, tmp_path / "x.nc", scenarios=10, cluster=ROOT / "configs" / "cluster" / "slurm.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobqueue: kubernetes\n")
    with pytest.raises(ClusterError, match="jobqueue 'kubernetes' is not one of"):
        run_to_file(default_config, tmp_path / "x.nc", scenarios=10, cluster=bad)
    monkeypatch.setattr("engine.execution.clusters.CONNECT_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match="cannot connect"):
        run(default_config, scenarios=10, scheduler="tcp://127.0.0.1:1")
    assert not list(tmp_path.glob("*.nc"))
