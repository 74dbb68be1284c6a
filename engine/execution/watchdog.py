"""Watching a dask cluster during a run: lost batch jobs are replaced, a cluster left without workers stops the run.

:class:`ClusterWatch` is called by :func:`engine.execution.executors.run_dask` while it waits
for results.  At most every :data:`CHECK_SECONDS` it asks the scheduler which workers are
connected; when there has been none for ``timeout`` seconds it raises
:class:`~engine.errors.WorkersLost`, naming the timeout and where it is set.

:class:`JobKeeper` keeps a dask-jobqueue cluster at its size.  dask-jobqueue submits the
jobs of ``scale`` once: a job cancelled, preempted, killed at its walltime or lost with its
node is not submitted again (checked against dask-jobqueue 0.9 and a real SLURM: the job's
worker disappears and the cluster stays empty).  ``adapt`` replaces a lost job only after
its worker had connected (checked too), and, going by distributed's code, not for jobs of
several worker processes, whose workers are not named after their job.  The keeper
notices a lost job (the batch system no longer lists it as pending or running, its
submission failed, or its workers have been gone for :data:`LOST_GRACE` seconds), removes
it from the cluster (``scale_down``) and, for a fixed ``scale``, scales back to the target;
an adaptive cluster grows again by itself.  Tasks are pure and merged in chunk order, so
a run whose jobs were replaced gives the same bits as one whose jobs were not.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.errors import WorkersLost

__all__ = ["ClusterWatch", "JobKeeper", "CHECK_SECONDS", "LOST_GRACE", "JOB_STATE_COMMANDS"]

CHECK_SECONDS = 2.0  # how often the cluster is looked at while a run waits for results
QUERY_SECONDS = 5.0  # how often, at most, the batch system is asked about jobs without workers
LOST_GRACE = 60.0  # a job whose workers have been gone this long is replaced, whatever its batch state
SYNC_TIMEOUT = 120  # s, for a scale_down or a submission on the cluster's event loop
MAX_BACKOFF = 120.0  # s between replacements of jobs that keep failing before their workers connect
#: The batch system's job-state query (found beside its submit command): argv before the job ids,
#: and the states of a job that may still bring its workers.
JOB_STATE_COMMANDS = {
    "slurm": (
        ["squeue", "--noheader", "--states=all", "--format=%i %T %r", "--jobs"],
        {"PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING"},
    ),
}


class ClusterWatch:
    """Stops a run whose cluster has had no worker for ``timeout`` seconds; lets ``keeper`` replace lost jobs.

    Parameters
    ----------
    client
        The run's :class:`distributed.Client`.
    timeout
        Seconds without any connected worker after which the run stops.
    where
        The cluster, for messages (``DaskTarget.describe()``).
    setting
        Where the timeout comes from, for messages (e.g. ``worker_timeout in slurm.yaml``).
    keeper
        A :class:`JobKeeper` for a dask-jobqueue cluster, else None.
    """

    def __init__(self, client, timeout: float, where: str, setting: str, keeper=None, clock=time.monotonic):
        self.client, self.timeout, self.where, self.setting, self.keeper = client, timeout, where, setting, keeper
        self.clock = clock
        self._checked = -float("inf")
        self._empty_since = None

    def __call__(self) -> None:
        """Look at the cluster if :data:`CHECK_SECONDS` have passed; raise WorkersLost after ``timeout`` without workers."""
        now = self.clock()
        if now - self._checked < CHECK_SECONDS:
            return
        self._checked = now
        names = self._connected()
        if self.keeper is not None:
            self.keeper.check(names)
        if names:
            self._empty_since = None
        elif self._empty_since is None:
            self._empty_since = now
        elif now - self._empty_since >= self.timeout:
            raise WorkersLost(self._message())

    def _connected(self) -> set[str]:
        """Names of the workers connected to the scheduler now."""
        try:
            workers = self.client.scheduler_info()["workers"]
        except OSError:  # the scheduler cannot be reached: no worker to run on either
            return set()
        return {str(w.get("name", address)) for address, w in workers.items()}

    def _message(self) -> str:
        detail = self.keeper.describe() if self.keeper is not None else ""
        return (
            f"no dask worker for {self.timeout:g} s on {self.where}{f': {detail}' if detail else ''}; "
            f"dcproj waits at most {self.timeout:g} s for a worker to come back ({self.setting}). "
            "The run stopped and no output file was written"
        )


class JobKeeper:
    """Replaces the lost batch jobs of a dask-jobqueue cluster (see the module's description).

    Parameters
    ----------
    cluster
        The dask-jobqueue cluster (a :class:`distributed.SpecCluster` of batch jobs).
    system
        Its batch system (``slurm``, ``pbs``, ...): which job-state query to use.
    scale
        The keyword arguments of ``cluster.scale`` of a fixed-size cluster, or None (``adapt``).
    submit
        Path of the submit command in use; the state query is the one installed beside it
        (none found: jobs count as lost only after :data:`LOST_GRACE` without workers).
    """

    def __init__(self, cluster, system: str, scale: dict | None, submit: str | None, clock=time.monotonic):
        self.cluster, self.scale, self.clock = cluster, scale, clock
        self.query = _state_query(system, submit)
        self.seen: dict[str, float] = {}  # job name -> when one of its workers was last connected
        self.submitted: set[str] = set()  # job names seen with a batch job id
        self.states: dict[str, str] = {}  # job id -> its last known batch state
        self.replaced = 0
        self.last_error = ""
        self._delay = 0.0
        self._next = self._queried = -float("inf")

    def check(self, connected: set[str]) -> None:
        """Replace the jobs that are gone, given the names of the connected workers."""
        now = self.clock()
        waiting = {}  # job name -> job id (None: its submission failed) of jobs without a connected worker
        for name, (job_id, workers) in self._jobs().items():
            if job_id is not None:
                self.submitted.add(name)
            if workers & connected:
                self.seen[name] = now
            else:
                waiting[name] = job_id
        if not waiting:
            return
        if self.query and now - self._queried >= QUERY_SECONDS:
            self.states = self._query([j for j in waiting.values() if j])
            self._queried = now
        lost = [name for name, job_id in waiting.items() if self._is_lost(name, job_id, now)]
        if lost and now >= self._next:
            self._replace(lost, now)

    def describe(self) -> str:
        """What the jobs are doing, for the message of a run that stopped."""
        jobs = self._jobs()
        state = lambda j: "no longer in the queue" if self.states.get(j) == "GONE" else self.states.get(j, "submitted")  # noqa: E731
        parts = [f"batch job {j} is {state(j)}" for j, _ in jobs.values() if j]
        if not jobs or not any(j for j, _ in jobs.values()):
            parts.append("no batch job could be submitted")
        if self.replaced:
            parts.append(f"dcproj resubmitted lost jobs {self.replaced} time(s)")
        if self.last_error:
            parts.append(f"the last submission failed: {self.last_error}")
        return "; ".join(parts)

    def _jobs(self) -> dict[str, tuple[str | None, set[str]]]:
        """Job name -> (batch job id, names of its workers) of the cluster's batch jobs."""
        out = {}
        for name, spec in list(self.cluster.worker_spec.items()):
            job = self.cluster.workers.get(name)
            if job is not None and not hasattr(job, "job_id"):
                continue  # not a batch job (a cluster standing in for one)
            group = spec.get("group") or [""]
            out[str(name)] = (getattr(job, "job_id", None) if job is not None else None, {f"{name}{g}" for g in group})
        return out

    def _is_lost(self, name: str, job_id: str | None, now: float) -> bool:
        seen = self.seen.get(name)
        if job_id is None:  # its submission failed, or dask dropped (and cancelled) it after its worker left
            return seen is not None or name in self.submitted or self.cluster.workers.get(name) is not None
        if job_id in self.states:
            return self.states[job_id].split(" ")[0] not in self.query[1]
        return seen is not None and now - seen >= LOST_GRACE

    def _query(self, job_ids: list[str]) -> dict[str, str]:
        """Job id -> ``STATE reason`` from the batch system; ids it no longer knows map to ``GONE``."""
        if not job_ids:
            return {}
        argv = [*self.query[0], ",".join(job_ids)]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        if res.returncode != 0:
            # "Invalid job id specified": none of them exists any more; anything else: unknown
            return {j: "GONE" for j in job_ids} if "invalid job id" in res.stderr.lower() else {}
        states = {j: "GONE" for j in job_ids}
        for line in res.stdout.splitlines():
            job_id, _, state = line.strip().partition(" ")
            state, _, reason = state.partition(" ")
            if job_id in states and state:
                states[job_id] = f"{state} ({reason})" if reason and reason != "None" else state
        return states

    def _replace(self, lost: list[str], now: float) -> None:
        """Remove the lost jobs from the cluster and submit replacements (a fixed scale)."""
        jobs = self._jobs()
        gone = ", ".join(self._label(n, jobs.get(n, (None,))[0]) for n in lost)
        started = any(n in self.seen for n in lost)
        for n in lost:
            self.seen.pop(n, None)
            self.submitted.discard(n)
        self._delay = 0.0 if started else min(MAX_BACKOFF, max(5.0, 2 * self._delay))
        self._next = now + self._delay
        try:
            if self.scale is not None:  # the replacements first, so that they get new names (not the lost jobs')
                self.cluster.scale(jobs=len(self.cluster.worker_spec) + len(lost))
            self.cluster.sync(self.cluster.scale_down, lost, callback_timeout=SYNC_TIMEOUT)
            if self.scale is not None:
                self.cluster.scale(**self.scale)
                self.cluster.sync(_settle, self.cluster, callback_timeout=SYNC_TIMEOUT)
            self.last_error = ""
        except Exception as exc:  # noqa: BLE001 - a failed submission: reported, retried, and the watch's timeout ends it
            self.last_error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        self.replaced += len(lost)
        again = f"; submitting failed: {self.last_error}" if self.last_error else "; submitted replacements"
        print(f"dcproj: batch job(s) lost: {gone}{again if self.scale is not None else ''}", file=sys.stderr, flush=True)

    def _label(self, name: str, job_id: str | None) -> str:
        if job_id is None:
            return f"{name} (not submitted)" if name not in self.seen else f"{name} (its worker left)"
        state = self.states.get(job_id, "its worker left")
        return f"{job_id} ({'no longer in the queue' if state == 'GONE' else state})"


async def _settle(cluster) -> None:
    """Await the cluster (it submits the jobs its spec lacks); raise the error of a job that could not be submitted.

    A failed submission leaves its job in the cluster without a job id, and the cluster's own
    attempt may have failed unseen: awaiting such a job submits it once more and raises the
    submit command's error if that fails too.
    """
    await cluster
    for job in list(cluster.workers.values()):
        if hasattr(job, "job_id") and job.job_id is None:
            await job


def _state_query(system: str, submit: str | None):
    """(argv, alive states) of the job-state query installed beside ``submit``, or None."""
    if system not in JOB_STATE_COMMANDS or not submit:
        return None
    argv, alive = JOB_STATE_COMMANDS[system]
    program = Path(submit).with_name(argv[0])
    return ([str(program), *argv[1:]], alive) if program.exists() else None
