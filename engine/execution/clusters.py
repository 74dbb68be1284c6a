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

__all__ = ["ClusterError", "DaskTarget", "usable_cores", "open_client", "JOBQUEUE_CLASSES"]

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
    """A connected :class:`distributed.Client` for ``target``; everything it started is closed after."""
    from distributed import Client, LocalCluster

    cluster = None
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
            cluster = jobqueue_cluster(target.cluster_file)
            client = Client(cluster, set_as_default=False)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _dashboard() -> str:
    """The scheduler's HTTP server on a free port (the live dashboard when bokeh is installed)."""
    return ":0"


def jobqueue_cluster(path: Path):
    """Create the dask-jobqueue cluster described by the YAML file ``path``.

    Keys: ``jobqueue`` (slurm, pbs, sge, lsf, htcondor, oar, moab); ``scale`` (arguments of
    ``cluster.scale``, e.g. ``{jobs: 4}``) or ``adapt`` (of ``cluster.adapt``); every other
    key is passed to the dask-jobqueue class (``cores``, ``memory``, ``processes``,
    ``walltime``, ``queue``, ``account``, ``job_script_prologue``, ...).
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
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(
            f"--cluster {path}: dask-jobqueue is not installed; install the cluster extra "
            "(pip install 'dcproj[cluster]', or pip install dask-jobqueue), or start a scheduler "
            "yourself and pass --scheduler ADDRESS"
        ) from None
    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[system])
    submit = str(getattr(getattr(cls, "job_cls", None), "submit_command", "") or "").split()
    if submit and shutil.which(submit[0]) is None:  # else dask-jobqueue logs the failure and waits for workers forever
        raise ClusterError(
            f"--cluster {path}: {submit[0]!r}, the {system} submit command, is not on PATH; run dcproj where "
            "batch jobs can be submitted (e.g. the cluster's login node), or start a dask scheduler and workers "
            "yourself and pass --scheduler ADDRESS"
        )
    try:
        cluster = cls(**spec)
    except (TypeError, ValueError) as exc:
        raise ClusterError(f"--cluster {path}: {JOBQUEUE_CLASSES[system]} rejected the settings ({exc})") from None
    if adapt is not None:
        cluster.adapt(**adapt)
    else:
        cluster.scale(**(scale if isinstance(scale, dict) else {"jobs": int(scale or 1)}))
    return cluster
