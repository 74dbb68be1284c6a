"""``--cluster FILE`` through the real dask-jobqueue, against a stand-in SLURM.

dask-jobqueue's ``SLURMCluster`` writes a batch script and hands it to ``sbatch``; here
``sbatch`` and ``scancel`` on ``PATH`` are small shell scripts that run the batch script on
this machine (in its own process group) and kill it, so everything else is real: the
YAML file, the class and its job script, the worker processes it starts, the scheduler
they connect to, and the run's result, which must equal a local run's.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from engine import run, run_to_file
from engine.stats.spec import MOMENT_BLOCK as BLOCK

dask_jobqueue = pytest.importorskip("dask_jobqueue")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SBATCH = """#!/usr/bin/env bash
# stand-in for SLURM's sbatch: run the batch script here, in its own process group
script="${@: -1}"
id=$(( $(ls "$FAKE_SLURM_DIR" | grep -c '\\.pid$') + 1001 ))
cp "$script" "$FAKE_SLURM_DIR/job-$id.sh"
setsid bash "$FAKE_SLURM_DIR/job-$id.sh" > "$FAKE_SLURM_DIR/job-$id.log" 2>&1 < /dev/null &
echo $! > "$FAKE_SLURM_DIR/job-$id.pid"
echo "Submitted batch job $id"
"""

SCANCEL = """#!/usr/bin/env bash
# stand-in for SLURM's scancel: kill the jobs' process groups
for id in "$@"; do
  pid=$(cat "$FAKE_SLURM_DIR/job-$id.pid" 2>/dev/null) && kill -TERM -- "-$pid" 2>/dev/null
done
exit 0
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    jobs = tmp_path / "jobs"
    bindir.mkdir()
    jobs.mkdir()
    for name, text in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        p = bindir / name
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(jobs))
    yield jobs
    for pidfile in jobs.glob("*.pid"):  # leave no worker behind, whatever happened
        try:
            os.killpg(int(pidfile.read_text()), 9)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


def test_cluster_file_runs_on_dask_jobqueue(default_config, tmp_path, fake_slurm):
    run(default_config, scenarios=10, summary=True)  # kernels compiled (or loaded) once; the workers load them from disk
    cluster_file = tmp_path / "slurm.yaml"
    cluster_file.write_text(
        textwrap.dedent(
            f"""\
            jobqueue: slurm
            cores: 2
            processes: 2
            memory: 4GiB
            walltime: "00:10:00"
            queue: debug
            account: dcproj-test
            python: {sys.executable}
            local_directory: {tmp_path / "scratch"}
            job_script_prologue:
              - export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1
            scale:
              jobs: 1
            """
        )
    )
    n = 3 * BLOCK
    path = run_to_file(default_config, tmp_path / "jq.nc", scenarios=n, seed=3, summary=True, cluster=cluster_file)

    scripts = sorted(fake_slurm.glob("job-*.sh"))
    assert scripts, "no batch job was submitted"
    script = scripts[0].read_text()
    expected = ("#SBATCH -p debug", "#SBATCH -A dcproj-test", "#SBATCH -n 1", "#SBATCH --cpus-per-task=2", "#SBATCH -t 00:10:00")
    for line in expected:
        assert line in script, f"{line!r} missing from the job script:\n{script}"
    assert "export NUMBA_NUM_THREADS=1" in script
    assert "--nworkers 2" in script and "--nthreads 1" in script

    ref = run(default_config, scenarios=n, seed=3, summary=True)
    with xr.open_dataset(path) as got:
        assert int(got["count"]) == n
        for v in ref.data_vars:
            np.testing.assert_array_equal(got[v].values, ref[v].values, err_msg=v)


def test_cluster_file_without_the_batch_system_fails_fast(default_config, tmp_path, monkeypatch):
    """No sbatch on PATH: a clear error at once (dask-jobqueue itself would log and wait forever)."""
    from engine.execution.clusters import ClusterError
    from tests.conftest import ROOT

    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ClusterError, match="'sbatch', the slurm submit command, is not on PATH"):
        run_to_file(default_config, tmp_path / "x.nc", scenarios=10, cluster=ROOT / "configs" / "cluster" / "slurm.yaml")
    assert not (tmp_path / "x.nc").exists()
