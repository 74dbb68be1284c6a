"""dask.distributed clients for dcproj runs: a LocalCluster, an existing scheduler, or dask-jobqueue.

``--scheduler local``
    A :class:`distributed.LocalCluster` sized to this machine: one single-threaded worker
    process per usable core (numba threads set to 1 in each), the memory budget split evenly.
``--scheduler ADDRESS``
    An existing scheduler, e.g. ``tcp://scheduler.example.org:8786``.
``--cluster FILE``
    A batch-system cluster from dask-jobqueue (the ``cluster`` extra), described by a YAML
    file; see ``configs/cluster/slurm.yaml``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ClusterError

__all__ = [
    "ClusterError",
    "DaskTarget",
    "ClusterFile",
    "usable_cores",
    "open_client",
    "read_cluster_file",
    "jobqueue_cluster",
    "worker_timeout",
    "dashboard_note",
    "JOBQUEUE_CLASSES",
]

JOBQUEUE_CLASSES = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
    "moab": "MoabCluster",
}
#: Environment of LocalCluster workers: dask runs one task per worker, numba one thread per task.
CONNECT_TIMEOUT = "30s"  # to reach a running scheduler (--scheduler ADDRESS)
WORKER_TIMEOUT = 300.0  # s a run waits without any worker before it stops (worker_timeout, DCPROJ_WORKER_TIMEOUT)
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass(frozen=True)
class DaskTarget:
    """Where chunk tasks run: ``kind`` is ``local``, ``address`` or ``jobqueue``."""

    kind: str
    address: str | None = None
    cluster_file: Path | None = None
    n_workers: int | None = None

    def describe(self) -> str:
        if self.kind == "local":
            return f"dask LocalCluster ({self.n_workers or usable_cores()} workers)"
        if self.kind == "address":
            return f"dask scheduler {self.address}"
        return f"dask-jobqueue cluster from {self.cluster_file}"


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_client(target: DaskTarget, *, memory_limit: int) -> Iterator:
    """Connect to ``target``; yields ``(client, watch)``, and everything it started is closed after.

    ``client`` is a :class:`distributed.Client`; ``watch`` a
    :class:`~engine.execution.watchdog.ClusterWatch` for the run to call while it waits
    (it replaces lost batch jobs and stops a run left without workers).
    """
    from distributed import Client, LocalCluster

    spec = read_cluster_file(target.cluster_file) if target.kind == "jobqueue" else None
    timeout = worker_timeout(spec)  # a bad setting fails before anything starts
    cluster = submit = None
    try:
        if target.kind == "local":
            n = target.n_workers or usable_cores()
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                memory_limit=max(memory_limit // n, 256 * 2**20),
                dashboard_address=_dashboard(),
                env=dict(WORKER_ENV),
            )
            client = Client(cluster, set_as_default=False)
        elif target.kind == "address":
            try:
                client = Client(target.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"--scheduler {target.address}: cannot connect to the dask scheduler ({exc})") from None
        else:
            cluster, submit = _start_jobqueue(spec)
            client = Client(cluster, set_as_default=False)
        watch = _watch(client, cluster, target, spec, submit, timeout)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    try:
        yield client, watch
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _dashboard() -> str:
    """Where a LocalCluster's scheduler serves HTTP: any free port (the real one: :func:`dashboard_note`)."""
    return ":0"


def has_bokeh() -> bool:
    """Whether bokeh, which dask's live dashboard needs, is installed here."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def dashboard_note(client, target: DaskTarget) -> str:
    """The dashboard's real address after the cluster started, or why there is none.

    A LocalCluster or a dask-jobqueue cluster runs its scheduler in this process: the live
    dashboard needs bokeh here.  A remote scheduler (``--scheduler ADDRESS``) serves its own.
    """
    if target.kind != "address" and not has_bokeh():
        return "no live dashboard: it needs bokeh (pip install bokeh)"
    link = client.dashboard_link
    return f"dashboard {link}" if link else "no dashboard (the scheduler serves none)"


@dataclass(frozen=True)
class ClusterFile:
    """A ``--cluster`` YAML file, read and checked (see :func:`read_cluster_file`)."""

    path: Path
    system: str
    options: dict
    scale: dict | None
    adapt: dict | None
    worker_timeout: float | None


def read_cluster_file(path) -> ClusterFile:
    """Read and check the dask-jobqueue cluster file ``path``.

    Keys: ``jobqueue`` (slurm, pbs, sge, lsf, htcondor, oar, moab); ``scale`` (arguments of
    ``cluster.scale``, e.g. ``{jobs: 4}``; dcproj resubmits lost jobs up to it) or ``adapt``
    (of ``cluster.adapt``); ``worker_timeout`` (seconds a run waits with no worker before it
    stops; default ``DCPROJ_WORKER_TIMEOUT`` or 300); every other key is passed to the
    dask-jobqueue class (``cores``, ``memory``, ``processes``, ``walltime``, ``queue``,
    ``account``, ``job_script_prologue``, ...).
    """
    import yaml

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ClusterError(f"--cluster {path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ClusterError(f"--cluster {path}: not valid YAML ({exc})") from None
    if not isinstance(spec, dict):
        raise ClusterError(f"--cluster {path}: expected a mapping of settings")
    spec = dict(spec)
    system = str(spec.pop("jobqueue", "slurm")).lower()
    if system not in JOBQUEUE_CLASSES:
        raise ClusterError(f"--cluster {path}: jobqueue {system!r} is not one of {sorted(JOBQUEUE_CLASSES)}")
    scale = spec.pop("scale", None)
    adapt = spec.pop("adapt", None)
    if scale is not None and adapt is not None:
        raise ClusterError(f"--cluster {path}: give either scale or adapt, not both")
    timeout = spec.pop("worker_timeout", None)
    if timeout is not None:
        timeout = _seconds(timeout, f"--cluster {path}: worker_timeout")
    scale = None if adapt is not None else (scale if isinstance(scale, dict) else {"jobs": int(scale or 1)})
    return ClusterFile(path, system, spec, scale, adapt, timeout)


def jobqueue_cluster(path):
    """Create the dask-jobqueue cluster described by the YAML file ``path`` (:func:`read_cluster_file`)."""
    return _start_jobqueue(read_cluster_file(path))[0]


def _start_jobqueue(spec: ClusterFile):
    """The started cluster of ``spec``, and the path of its submit command (None if unknown)."""
    path, system = spec.path, spec.system
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(
            f"--cluster {path}: dask-jobqueue is not installed; install the cluster extra "
            "(pip install 'dcproj[cluster]', or pip install dask-jobqueue), or start a scheduler "
            "yourself and pass --scheduler ADDRESS"
        ) from None
    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[system])
    submit = (str(getattr(getattr(cls, "job_cls", None), "submit_command", "") or "").split() or [""])[0]
    if submit and shutil.which(submit) is None:  # else dask-jobqueue logs the failure and waits for workers forever
        raise ClusterError(
            f"--cluster {path}: {submit!r}, the {system} submit command, is not on PATH; run dcproj where "
            "batch jobs can be submitted (e.g. the cluster's login node), or start a dask scheduler and workers "
            "yourself and pass --scheduler ADDRESS"
        )
    try:
        cluster = cls(**spec.options)
    except (TypeError, ValueError) as exc:
        raise ClusterError(f"--cluster {path}: {JOBQUEUE_CLASSES[system]} rejected the settings ({exc})") from None
    if spec.adapt is not None:
        cluster.adapt(**spec.adapt)
    else:
        cluster.scale(**spec.scale)
    return cluster, (shutil.which(submit) if submit else None)


def worker_timeout(spec: ClusterFile | None = None) -> tuple[float, str]:
    """Seconds a run waits with no worker before it stops, and where that number comes from.

    The cluster file's ``worker_timeout``, else the environment's ``DCPROJ_WORKER_TIMEOUT``,
    else :data:`WORKER_TIMEOUT` (300 s).
    """
    key = f"worker_timeout in {spec.path}" if spec is not None else None
    if spec is not None and spec.worker_timeout is not None:
        return spec.worker_timeout, f"{key}: {spec.worker_timeout:g}"
    env = (os.environ.get("DCPROJ_WORKER_TIMEOUT") or "").strip()
    if env:
        return _seconds(env, "DCPROJ_WORKER_TIMEOUT"), f"DCPROJ_WORKER_TIMEOUT={env}" + (f", as {key} is not set" if key else "")
    where = f"{key} or DCPROJ_WORKER_TIMEOUT" if key else "DCPROJ_WORKER_TIMEOUT"
    return WORKER_TIMEOUT, f"the default; set {where} to change it"


def _seconds(value, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ClusterError(f"{what}: expected a number of seconds > 0, got {value!r}")
    return seconds


def _watch(client, cluster, target: DaskTarget, spec: ClusterFile | None, submit: str | None, timeout: tuple[float, str]):
    """The :class:`~engine.execution.watchdog.ClusterWatch` of a run on ``target`` (``timeout``: :func:`worker_timeout`)."""
    from engine.execution.watchdog import ClusterWatch, JobKeeper

    keeper = JobKeeper(cluster, spec.system, spec.scale, submit) if spec is not None else None
    return ClusterWatch(client, timeout[0], target.describe(), timeout[1], keeper)
