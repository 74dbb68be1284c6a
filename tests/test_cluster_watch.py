"""The cluster watch (lost batch jobs replaced, no worker for too long stops the run) and the dashboard note.

The watch and the job keeper are checked here against stand-ins with a fake clock (no batch
system needed); ``tests/test_slurm.py`` runs them against a real SLURM.  The timeout of a
run on a scheduler without workers and the dashboard address use a real dask cluster.
"""

from __future__ import annotations

import stat
import textwrap
import urllib.request
from types import SimpleNamespace

import pytest

from engine import run
from engine.errors import ClusterError, WorkersLost
from engine.execution import watchdog
from engine.execution.clusters import DaskTarget, dashboard_note, read_cluster_file, worker_timeout
from engine.execution.watchdog import LOST_GRACE, ClusterWatch, JobKeeper


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class FakeClient:
    def __init__(self, names=()):
        self.names = list(names)

    def scheduler_info(self):
        return {"workers": {f"tcp://w{i}": {"name": n} for i, n in enumerate(self.names)}}


class FakeCluster:
    """The parts of a dask-jobqueue cluster the keeper uses: its spec, its jobs, scale_down and scale."""

    def __init__(self, jobs: dict, fail=None):
        self.worker_spec = {name: {"cls": object, "options": {}} for name in jobs}
        self.workers = {name: SimpleNamespace(job_id=job_id) for name, job_id in jobs.items()}
        self.calls = []
        self.fail = fail
        self.next_id = 100

    def sync(self, func, *args, callback_timeout=None):
        self.calls.append((getattr(func, "__name__", str(func)), args))
        if func.__name__ == "scale_down":
            for name in args[0]:
                self.worker_spec.pop(name, None)
                self.workers.pop(name, None)
        elif self.fail:
            raise RuntimeError(f"Command exited with non-zero exit code.\nstderr:\n{self.fail}\n")

    async def scale_down(self, names):  # only its name is used: sync above does the work
        pass

    def scale(self, jobs):
        self.calls.append(("scale", jobs))
        while len(self.worker_spec) < jobs:
            name = f"job-{self.next_id}"
            self.worker_spec[name] = {"cls": object, "options": {}}
            self.workers[name] = SimpleNamespace(job_id=None if self.fail else str(self.next_id))
            self.next_id += 1


def _fake_slurm(tmp_path, states: dict[str, str]):
    """An ``sbatch`` path whose ``squeue`` beside it reports ``states`` (job id -> 'STATE reason')."""
    table = tmp_path / "states.txt"
    table.write_text("".join(f"{k} {v}\n" for k, v in states.items()))
    squeue = tmp_path / "squeue"
    squeue.write_text(f"#!/bin/sh\ncat {table}\n")
    squeue.chmod(squeue.stat().st_mode | stat.S_IEXEC)
    return str(tmp_path / "sbatch"), table


def test_worker_timeout_comes_from_the_file_then_the_environment(tmp_path, monkeypatch):
    f = tmp_path / "c.yaml"
    f.write_text("jobqueue: slurm\nworker_timeout: 45\nscale: {jobs: 2}\n")
    spec = read_cluster_file(f)
    assert spec.scale == {"jobs": 2} and "worker_timeout" not in spec.options
    monkeypatch.setenv("DCPROJ_WORKER_TIMEOUT", "20")
    assert worker_timeout(spec) == (45.0, f"worker_timeout in {f}: 45")
    f.write_text("jobqueue: slurm\n")
    assert worker_timeout(read_cluster_file(f)) == (20.0, f"DCPROJ_WORKER_TIMEOUT=20, as worker_timeout in {f} is not set")
    monkeypatch.delenv("DCPROJ_WORKER_TIMEOUT")
    seconds, setting = worker_timeout(None)
    assert seconds == 300 and "DCPROJ_WORKER_TIMEOUT" in setting
    f.write_text("jobqueue: slurm\nworker_timeout: soon\n")
    with pytest.raises(ClusterError, match=r"worker_timeout: expected a number of seconds > 0, got 'soon'"):
        read_cluster_file(f)
    monkeypatch.setenv("DCPROJ_WORKER_TIMEOUT", "-1")
    with pytest.raises(ClusterError, match=r"DCPROJ_WORKER_TIMEOUT: expected a number of seconds > 0, got '-1'"):
        worker_timeout(None)


def test_the_watch_stops_a_run_only_after_the_timeout_without_any_worker():
    clock, client = Clock(), FakeClient(["a"])
    watch = ClusterWatch(client, 30, "the cluster", "worker_timeout in c.yaml: 30", clock=clock)

    def at(t, names):
        clock.t, client.names = 1000.0 + t, names
        watch()

    at(0, ["a"])
    at(5, [])  # no worker from here on
    at(20, [])
    at(34, [])  # 29 s: not yet
    at(40, ["b"])  # a worker came back: the clock starts again
    at(45, [])
    at(74, [])
    clock.t = 1075.5  # looked at less than CHECK_SECONDS ago: not looked at again
    watch()
    clock.t = 1076
    with pytest.raises(WorkersLost) as info:
        watch()
    assert str(info.value) == (
        "no dask worker for 30 s on the cluster; dcproj waits at most 30 s for a worker to come back "
        "(worker_timeout in c.yaml: 30). The run stopped and no output file was written"
    )
    info.value.partial = "out.nc.partial"  # a sink that kept the finished chunks says so
    assert str(info.value).endswith(
        "kept in out.nc.partial: once the cluster has workers again, rerun the same command with --resume to finish the run"
    )


def test_the_keeper_replaces_jobs_the_batch_system_no_longer_runs(tmp_path):
    submit, table = _fake_slurm(tmp_path, {"7": "RUNNING None", "8": "PENDING Priority"})
    clock = Clock()
    cluster = FakeCluster({"job-0": "7", "job-1": "8"})
    keeper = JobKeeper(cluster, "slurm", {"jobs": 2}, submit, clock=clock)
    keeper.check({"job-0"})  # one worker up, one job queued: nothing to do
    assert cluster.calls == [] and keeper.states == {"8": "PENDING (Priority)"}
    table.write_text("7 CANCELLED None\n")  # job 7 cancelled (its worker left); job 8 gone from the queue
    clock.t += watchdog.QUERY_SECONDS
    keeper.check(set())
    assert cluster.calls[:3] == [("scale", 4), ("scale_down", (["job-0", "job-1"],)), ("scale", 2)]  # new names first
    assert cluster.calls[3][0] == "_settle"
    assert set(cluster.worker_spec) == {"job-100", "job-101"} and keeper.replaced == 2
    assert "batch job 100 is submitted" in keeper.describe() and "resubmitted lost jobs 2 time(s)" in keeper.describe()


def test_the_keeper_without_a_state_query_waits_for_the_grace(tmp_path):
    clock = Clock()
    cluster = FakeCluster({"job-0": "7"})
    keeper = JobKeeper(cluster, "slurm", {"jobs": 1}, str(tmp_path / "sbatch"), clock=clock)  # no squeue beside it
    assert keeper.query is None
    keeper.check({"job-0"})
    keeper.check(set())  # its worker left just now: may come back
    clock.t += LOST_GRACE - 1
    keeper.check(set())
    assert cluster.calls == []
    clock.t += 1
    keeper.check(set())
    assert cluster.calls[1] == ("scale_down", (["job-0"],))


def test_a_job_dask_dropped_after_its_worker_left_is_replaced(tmp_path):
    """dask-jobqueue forgets (and cancels) a job some seconds after its worker left: the keeper still replaces it."""
    submit, _ = _fake_slurm(tmp_path, {"7": "PENDING Resources"})
    clock = Clock()
    cluster = FakeCluster({"job-0": "7"})
    keeper = JobKeeper(cluster, "slurm", {"jobs": 1}, submit, clock=clock)
    keeper.check(set())  # queued
    assert cluster.calls == []
    del cluster.workers["job-0"]  # what distributed's lost-worker callback does; the spec keeps the name
    clock.t += 2
    keeper.check(set())
    assert cluster.calls[1] == ("scale_down", (["job-0"],)) and set(cluster.worker_spec) == {"job-100"}


def test_a_failed_submission_is_retried_later_and_reported(tmp_path):
    clock = Clock()
    refused = "sbatch: error: Batch job submission failed: Requested node configuration is not available"
    cluster = FakeCluster({"job-0": None}, fail=refused)
    keeper = JobKeeper(cluster, "slurm", {"jobs": 1}, None, clock=clock)
    keeper.check(set())
    assert [c[0] for c in cluster.calls] == ["scale", "scale_down", "scale", "_settle"]
    assert keeper.last_error == refused
    keeper.check(set())  # the replacement failed too: not retried at once
    assert len(cluster.calls) == 4
    clock.t += 5
    keeper.check(set())
    assert len(cluster.calls) == 8
    described = keeper.describe()
    assert "no batch job could be submitted" in described and "Requested node configuration is not available" in described


def test_a_scheduler_without_workers_stops_the_run_after_the_timeout(default_config, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv("DCPROJ_WORKER_TIMEOUT", "3")
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        with pytest.raises(WorkersLost, match=r"no dask worker for 3 s on dask scheduler .*\(DCPROJ_WORKER_TIMEOUT=3\)"):
            run(default_config, scenarios=10, summary=True, scheduler=empty.scheduler_address)


def test_the_dashboard_note_gives_the_real_address_or_says_bokeh_is_missing(monkeypatch, capfd):
    import engine.execution.clusters as clusters
    from engine.execution.executors import open_executor

    target = DaskTarget("local", n_workers=1)
    monkeypatch.setattr(clusters, "has_bokeh", lambda: False)
    with open_executor(target, 2**30, progress=True) as ex:
        err = capfd.readouterr().err
        assert "running on dask LocalCluster (1 workers) (1 parallel tasks); no live dashboard: it needs bokeh" in err, err
        monkeypatch.setattr(clusters, "has_bokeh", lambda: True)
        note = dashboard_note(ex.client, target)
        assert note.startswith("dashboard http://") and ":0/" not in note, note
        with urllib.request.urlopen(note.split()[1], timeout=30) as page:  # the scheduler answers there
            assert page.status == 200


def test_the_example_cluster_file_reads(tmp_path):
    from tests.conftest import ROOT

    spec = read_cluster_file(ROOT / "configs" / "cluster" / "slurm.yaml")
    assert spec.system == "slurm" and spec.scale == {"jobs": 4} and spec.worker_timeout is None
    f = tmp_path / "adapt.yaml"
    f.write_text(textwrap.dedent("jobqueue: pbs\nadapt: {minimum_jobs: 1, maximum_jobs: 3}\n"))
    spec = read_cluster_file(f)
    assert spec.system == "pbs" and spec.scale is None and spec.adapt == {"minimum_jobs": 1, "maximum_jobs": 3}


def test_a_chunk_whose_workers_keep_dying_is_a_cluster_error(default_config, monkeypatch):
    """dask gives up on a task after allowed-failures worker deaths: a clear ClusterError (it keeps the partial)."""
    import os
    import signal

    import dask
    from distributed import Client, LocalCluster

    import engine.execution.entry_points as runner
    from engine.execution.clusters import WORKER_ENV
    from engine.stats.spec import MOMENT_BLOCK as BLOCK

    run(default_config, scenarios=10, summary=True)  # kernels compiled here: the worker loads them from disk
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first death under a task is one too many
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", env=dict(WORKER_ENV))
    with cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        class KillOnFirstChunk(runner.Progress):
            def advance(self, k):
                if pids:
                    os.kill(pids.pop(), signal.SIGKILL)  # the worker is computing the next chunk
                super().advance(k)

        monkeypatch.setattr(runner, "Progress", KillOnFirstChunk)
        address = cluster.scheduler_address
        with pytest.raises(ClusterError, match=r"chunk \d+ \(from scenario [\d,]+\) was running on 1 dask workers in turn"):
            run(default_config, scenarios=12 * BLOCK, seed=1, summary=True, chunk_size=4 * BLOCK, scheduler=address)
