"""``--cluster FILE`` on a real single-node SLURM (``bash .ci/slurm.sh`` starts one).

Everything is real: dask-jobqueue's SLURMCluster submits batch jobs with SLURM's own
``sbatch``, slurmd runs them, their dask workers connect to the scheduler in this process,
and ``scancel`` / a partition set DOWN play preemption and a cluster without room.  The
tests skip, saying why, only where SLURM's commands are missing or its node is not up.

* a ``--summary`` run on SLURM equals a local run bit for bit;
* every batch job cancelled mid-run: dcproj submits replacements and the result is the same;
* jobs cancelled and none can start again: after ``worker_timeout`` the run stops with a
  message naming the timeout and the cluster file, keeps its finished chunks, writes no
  output, and ``--resume`` then finishes it with the same bits;
* jobs that can never start: the command line stops after ``DCPROJ_WORKER_TIMEOUT`` (exit 2)
  with the batch system's own error, and leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
import xarray as xr

from engine import run, run_to_file
from engine.errors import WorkersLost
from engine.stats.spec import MOMENT_BLOCK as BLOCK
from tests.conftest import DEFAULT_CONFIG

pytest.importorskip("dask_jobqueue")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N = 200_000  # scenarios: ~25 chunks of 2 blocks, a few seconds of work for two 1-core jobs
CHUNK = 2 * BLOCK
SEED = 11


def _sh(*argv: str, check: bool = True) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def _why_no_slurm() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    for program in ("sbatch", "scancel", "squeue", "sinfo", "scontrol"):
        if shutil.which(program) is None:
            return f"{program} is not on PATH: no SLURM here (bash .ci/slurm.sh installs and starts a single-node one)"
    try:
        res = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "SLURM is not up: sinfo did not answer within 30 s"
    if res.returncode != 0:
        return f"SLURM is not up: sinfo failed ({res.stderr.strip()}); bash .ci/slurm.sh starts it"
    states = set(res.stdout.split())
    if not states & {"idle", "mix", "alloc"}:
        return f"no SLURM node is up (sinfo node states: {sorted(states) or 'none'}); bash .ci/slurm.sh starts one"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _why_no_slurm()
    if reason:
        pytest.skip(reason)
    partition = next(p.rstrip("*") for p in _sh("sinfo", "--noheader", "--format=%P").split() if p.endswith("*"))
    return partition


@pytest.fixture(scope="module")
def expected(default_config):
    """The local run every SLURM run must equal (it also compiles the kernels the workers load from disk)."""
    return run(default_config, scenarios=N, seed=SEED, summary=True)


def _cluster_file(tmp_path, name="slurm.yaml", jobs=2, memory="2GiB", extra=""):
    """A cluster file for this machine's SLURM; returns (path, job name)."""
    job_name = f"dcproj-test-{uuid.uuid4().hex[:8]}"
    path = tmp_path / name
    path.write_text(
        textwrap.dedent(
            f"""\
            jobqueue: slurm
            cores: 1
            processes: 1
            memory: {memory}
            walltime: "00:15:00"
            job_name: {job_name}
            python: {sys.executable}
            local_directory: {tmp_path / "scratch"}
            log_directory: {tmp_path / "logs"}
            job_script_prologue:
              - export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1
            scale:
              jobs: {jobs}
            """
        )
        + textwrap.dedent(extra)
    )
    return path, job_name


def _jobs(job_name: str, states: str = "all") -> dict[str, str]:
    """Job id -> state of this test's batch jobs."""
    out = _sh("squeue", "--noheader", f"--states={states}", f"--name={job_name}", "--format=%i %T")
    return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.fixture
def on_first_chunk(monkeypatch):
    """Call a function once, in the middle of the run: when its first chunk is merged."""
    import engine.execution.sinks as sinks

    calls = []

    def install(action):
        class Hook(sinks.Progress):
            def advance(self, k):
                if not calls:
                    calls.append(action())
                super().advance(k)

        monkeypatch.setattr(sinks, "Progress", Hook)
        return calls

    return install


@pytest.fixture
def cleanup_jobs():
    """Cancel whatever batch jobs a test leaves behind, whatever happened."""
    names = []
    yield names
    for name in names:
        subprocess.run(["scancel", f"--name={name}"], capture_output=True, timeout=60)


def _assert_same(got: xr.Dataset, ref: xr.Dataset) -> None:
    assert set(got.data_vars) == set(ref.data_vars)
    for v in ref.data_vars:
        np.testing.assert_array_equal(got[v].values, ref[v].values, err_msg=v)
    assert int(got["count"]) == N


def test_summary_on_slurm_equals_a_local_run(default_config, slurm, expected, tmp_path, on_first_chunk, cleanup_jobs):
    cluster_file, job_name = _cluster_file(tmp_path)
    cleanup_jobs.append(job_name)
    running = on_first_chunk(lambda: _jobs(job_name, "running"))
    path = run_to_file(
        default_config, tmp_path / "s.nc", scenarios=N, seed=SEED, summary=True, chunk_size=CHUNK, cluster=cluster_file
    )
    assert running and running[0], "no batch job of this run was RUNNING in SLURM while it computed"
    with xr.open_dataset(path) as got:
        _assert_same(got, expected)


def test_cancelled_jobs_are_replaced_and_change_nothing(
    default_config, slurm, expected, tmp_path, on_first_chunk, cleanup_jobs, capfd
):
    """Every batch job cancelled mid-run (preemption, walltime, a lost node): dcproj resubmits them."""
    cluster_file, job_name = _cluster_file(tmp_path)
    cleanup_jobs.append(job_name)

    def cancel_all():
        ids = sorted(_jobs(job_name, "running"))
        _sh("scancel", f"--name={job_name}")  # all of this run's jobs, running or not
        return ids

    cancelled = on_first_chunk(cancel_all)
    path = run_to_file(
        default_config, tmp_path / "b.nc", scenarios=N, seed=SEED, summary=True, chunk_size=CHUNK, cluster=cluster_file
    )
    assert cancelled and cancelled[0], "no running job to cancel: the run was not in progress"
    err = capfd.readouterr().err
    assert "batch job(s) lost" in err and "submitted replacements" in err, err[-3000:]
    with xr.open_dataset(path) as got:
        _assert_same(got, expected)
    jobs = _jobs(job_name)  # the cluster closed: its last jobs are listed as CANCELLED for MinJobAge
    assert set(jobs) - set(cancelled[0]), f"no replacement job was submitted (jobs: {jobs}, cancelled: {cancelled[0]})"


def test_no_worker_within_the_timeout_stops_the_run_and_keeps_its_chunks(
    default_config, slurm, expected, tmp_path, on_first_chunk, cleanup_jobs
):
    """Jobs cancelled while no job can start (the partition is DOWN): the run stops after worker_timeout."""
    if os.geteuid() != 0:
        pytest.skip("setting a SLURM partition DOWN needs root (the SLURM of .ci/slurm.sh runs as root)")
    cluster_file, job_name = _cluster_file(tmp_path, name="no-room.yaml", jobs=1, extra="worker_timeout: 12\n")
    cleanup_jobs.append(job_name)
    out = tmp_path / "c.nc"

    def no_room_and_cancel():
        _sh("scontrol", "update", f"PartitionName={slurm}", "State=DOWN")
        ids = sorted(_jobs(job_name, "running"))
        _sh("scancel", f"--name={job_name}")  # all of this run's jobs, running or not
        return ids

    cancelled = on_first_chunk(no_room_and_cancel)
    try:
        with pytest.raises(WorkersLost) as info:
            run_to_file(default_config, out, N, SEED, summary=True, chunk_size=CHUNK, cluster=cluster_file, keep_partial=True)
    finally:
        _sh("scontrol", "update", f"PartitionName={slurm}", "State=UP")
    assert cancelled and cancelled[0], "no running job to cancel: the run was not in progress"
    message = str(info.value)
    assert "no dask worker for 12 s" in message and f"worker_timeout in {cluster_file}: 12" in message, message
    assert "PENDING (PartitionDown)" in message, message
    assert f"kept in {out}.partial" in message and "--resume" in message, message
    assert not out.exists()
    assert (tmp_path / "c.nc.partial" / "manifest.json").exists()

    good_file, good_name = _cluster_file(tmp_path, name="again.yaml", jobs=1)
    cleanup_jobs.append(good_name)
    path = run_to_file(
        default_config, out, scenarios=N, seed=SEED, summary=True, cluster=good_file, resume=True, keep_partial=True
    )
    with xr.open_dataset(path) as got:
        _assert_same(got, expected)
    assert not (tmp_path / "c.nc.partial").exists()


def test_jobs_that_can_never_start_stop_the_command_after_the_timeout(slurm, tmp_path, cleanup_jobs):
    """A job SLURM refuses (more memory than any node has): exit 2 after DCPROJ_WORKER_TIMEOUT, nothing left behind."""
    cluster_file, job_name = _cluster_file(tmp_path, name="too-big.yaml", jobs=1, memory="100000GiB")
    cleanup_jobs.append(job_name)
    out = tmp_path / "never.nc"
    env = dict(os.environ, DCPROJ_WORKER_TIMEOUT="6")
    argv = [shutil.which("dcproj", path=os.path.dirname(sys.executable)) or "dcproj", "run", str(DEFAULT_CONFIG)]
    argv += ["-n", "50000", "--summary", "--cluster", str(cluster_file), "--out", str(out), "--no-progress"]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 2, res.stderr[-3000:]
    err = next((line for line in res.stderr.splitlines() if line.startswith("dcproj: error:")), res.stderr[-3000:])
    assert "no dask worker for 6 s" in err and "DCPROJ_WORKER_TIMEOUT=6" in err and str(cluster_file) in err, err
    assert "the last submission failed: sbatch: error: Batch job submission failed" in err, err
    assert not out.exists() and not (tmp_path / "never.nc.partial").exists()
