"""Executors: where chunk tasks run, behind one interface.

An executor has ``parallel`` (chunks computed at once), ``processes`` (worker processes whose
memory counts against the budget) and ``results(job, todo, ordered)``, which yields
``(chunk index, result)`` pairs:

* :class:`InProcess`: chunks one after the other in this process (numba threads inside);
* :class:`DaskExecutor`: chunks as dask tasks on a LocalCluster, an existing scheduler or a
  dask-jobqueue cluster (:mod:`engine.execution.clusters`).

:func:`resolve_scheduler` maps ``--scheduler``/``--cluster`` to a target through
:data:`SCHEDULERS`.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.errors import ClusterError, RunError
from engine.execution.tasks import ChunkJob, compute_chunk

__all__ = ["SCHEDULERS", "InProcess", "DaskExecutor", "open_executor", "resolve_scheduler", "run_serial", "run_dask", "in_order"]

POLL_SECONDS = 0.1  # the longest wait for a result between two looks at the cluster
BATCH_QUEUE = 32  # chunks queued at least on a dask-jobqueue cluster (what adaptive scaling sees)
#: The named choices of ``--scheduler`` (anything else is a scheduler address).
SCHEDULERS = {
    "auto": "this process, its numba threads on every core (on one machine faster than a LocalCluster of the same cores)",
    "none": "this process (numba threads)",
    "local": "a dask LocalCluster sized to this machine",
}


def resolve_scheduler(scheduler: str | None, cluster: str | Path | None, scenarios: int, n_workers: int | None = None):
    """The :class:`~engine.execution.clusters.DaskTarget` of ``--scheduler``/``--cluster``, or None (this process).

    ``None``/``"none"``/``"auto"``: this process (numba threads on every core: on one machine
    faster than a LocalCluster on the same cores, which adds serialisation and a merge in the
    client; a 10^7-scenario summary took 50 s here against 65 s on a 2-worker LocalCluster, same
    bits); ``"local"``: a LocalCluster (memory isolation per worker, on request); anything else:
    the address of a running scheduler (several machines).
    """
    from engine.execution.clusters import DaskTarget

    if cluster is not None:
        if scheduler not in (None, "auto"):
            raise RunError("give either --scheduler or --cluster, not both")
        return DaskTarget("jobqueue", cluster_file=Path(cluster))
    if scheduler in (None, "none", "auto"):
        return None
    if scheduler == "local":
        return DaskTarget("local", n_workers=n_workers)
    if "://" not in scheduler and ":" not in scheduler:
        raise RunError(f"--scheduler {scheduler!r}: expected none, auto, local or a scheduler address such as tcp://host:8786")
    return DaskTarget("address", address=scheduler)


class InProcess:
    """Chunks one after the other here; numba parallelises inside each chunk."""

    processes = 1
    parallel = 1
    description = "in-process"

    def results(self, job: ChunkJob, todo, ordered: bool) -> Iterator[tuple[int, object]]:
        from engine.backends import backend_class

        if job.spec is None and backend_class(job.backend).capabilities.device == "cpu":
            return run_prefetched(job, todo)  # full cubes: the next chunk is computed while this one is written
        return run_serial(job, todo)


class DaskExecutor:
    """Chunks as dask tasks; how many run at once follows the cluster as workers come and go.

    ``watch`` (:class:`~engine.execution.watchdog.ClusterWatch`, optional) is called while the
    run waits for results: it replaces lost batch jobs and stops a run left without workers.
    """

    def __init__(self, client, target, watch=None):
        self.client = client
        self.target = target
        self.watch = watch
        self._checked = 0.0
        self._threads = 0
        threads = self.threads()
        self.parallel = threads or max(1, target.n_workers or 1)  # for planning: what is there now
        self.processes = max(1, len(client.nthreads())) if target.kind == "local" else 1  # remote workers: not our memory
        self.description = target.describe()

    def threads(self) -> int:
        """Worker threads now (refreshed at most once a second: batch-system workers arrive late)."""
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._threads = sum(self.client.nthreads().values())
            self._checked = now
        return self._threads

    def results(self, job: ChunkJob, todo, ordered: bool) -> Iterator[tuple[int, object]]:
        # a batch-system cluster sizes itself (adapt) from the queued tasks: keep a queue it can see
        floor = BATCH_QUEUE if self.target.kind == "jobqueue" else 2
        in_flight = lambda: max(floor, self.threads() + 1)  # noqa: E731
        window = (lambda: max(2 * floor, 4 * self.threads())) if ordered else None
        return run_dask(self.client, job, todo, in_flight=in_flight, window=window, watch=self.watch)


@contextlib.contextmanager
def open_executor(target, memory_limit: int, progress: bool):
    """The executor of ``target`` (``None``: this process), with everything it started closed after."""
    if target is None:
        yield InProcess()
        return
    from engine.execution.clusters import dashboard_note, open_client

    with open_client(target, memory_limit=memory_limit) as (client, watch):
        ex = DaskExecutor(client, target, watch)
        if progress:
            note = dashboard_note(client, target)
            print(f"dcproj: running on {ex.description} ({ex.parallel} parallel tasks); {note}", file=sys.stderr, flush=True)
        yield ex


def run_prefetched(job: ChunkJob, chunks: Iterable[tuple[int, int, int]]) -> Iterator[tuple[int, object]]:
    """:func:`run_serial` with one chunk computed ahead, in a worker thread, while the caller
    consumes the one before (a full cube: compressing and writing it to the netCDF file).

    The kernels release the GIL (``nogil``) and so do netCDF4's HDF5 calls, so the two overlap;
    at most two chunks exist at once (the one being written and the one being computed: the
    planner budgets for them, :func:`engine.execution.planning.plan_run`).  Results come in
    chunk order, each chunk computed by the same function as :func:`run_serial`, so the cube is
    the same bits.  An error in a chunk is raised here; when the caller stops early (an
    error, Ctrl-C) the chunk ahead is cancelled, or finished and dropped if it already started.
    """
    chunks = list(chunks)
    if len(chunks) < 2:
        yield from run_serial(job, chunks)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcproj-chunk") as pool:
        ahead = pool.submit(compute_chunk, job, chunks[0][1], chunks[0][2])
        try:
            for k, (i, _, _) in enumerate(chunks):
                result = ahead.result()
                ahead = pool.submit(compute_chunk, job, chunks[k + 1][1], chunks[k + 1][2]) if k + 1 < len(chunks) else None
                yield i, result
                result = None
        finally:
            if ahead is not None:
                ahead.cancel()


def run_serial(job: ChunkJob, chunks: Iterable[tuple[int, int, int]]) -> Iterator[tuple[int, object]]:
    """Compute ``(index, start, count)`` chunks one after the other in this process."""
    for i, start, count in chunks:
        yield i, compute_chunk(job, start, count)


def run_dask(
    client, job: ChunkJob, chunks: Iterable[tuple[int, int, int]], *, in_flight, window=None, watch=None
) -> Iterator[tuple[int, object]]:
    """Compute chunks as dask tasks; yield ``(index, result)`` as they complete.

    At most ``in_flight`` tasks are submitted at once (results are fetched and released as
    they arrive, so no result waits on a worker).  With ``window``, a chunk is submitted
    only while its index is less than the oldest unfinished index + ``window``, which bounds
    what a caller merging in order has to buffer.  Both may be callables, asked again before
    each submission (a cluster that grows).  Tasks lost with a worker are recomputed by the
    scheduler; ``watch()``, called while waiting, may replace lost workers or raise (a cluster
    without workers); on any error or interrupt the remaining tasks are cancelled.
    """
    from distributed import KilledWorker, as_completed

    todo = list(chunks)
    token = uuid.uuid4().hex[:8]
    pending: dict[str, int] = {}
    futures: dict[str, object] = {}
    ac = as_completed(loop=client.loop, with_results=True)  # fetched in the background: waiting for one is watched too
    nxt = 0

    def submit_more():
        nonlocal nxt
        limit = in_flight() if callable(in_flight) else in_flight
        span = window() if callable(window) else window
        while nxt < len(todo) and len(pending) < limit:
            i, start, count = todo[nxt]
            if span is not None and pending and i >= min(pending.values()) + span:
                return
            fut = client.submit(compute_chunk, job, start, count, key=f"dcproj-chunk-{token}-{i:09d}", pure=False, priority=-i)
            pending[fut.key] = i
            futures[fut.key] = fut
            ac.add(fut)
            nxt += 1

    try:
        submit_more()
        while not ac.is_empty():
            try:
                fut, result = _next_done(ac, watch)
            except KilledWorker as exc:
                raise ClusterError(_killed_message(exc, pending, todo)) from None
            i = pending.pop(fut.key)
            futures.pop(fut.key)
            fut.release()
            submit_more()
            yield i, result
    finally:
        if futures:
            try:
                client.cancel(list(futures.values()), force=True)
            except Exception:  # noqa: BLE001 - the client may already be closing
                pass


def _next_done(ac, watch):
    """The next ``(future, result)`` of the ``as_completed`` ``ac``, calling ``watch()`` while none is ready.

    A result whose worker left before it was fetched is recomputed before it is ready, so the
    wait for it is watched as well (``fut.result()`` would wait for it unwatched).
    """
    while not ac.has_ready():
        if watch is not None:
            watch()
        with ac.thread_condition:  # as as_completed's own iterator waits: woken when a future finishes
            ac.thread_condition.wait(timeout=POLL_SECONDS)
    return next(ac)


def _killed_message(exc, pending: dict[str, int], todo) -> str:
    """What to tell the user when dask gave up on a chunk whose workers kept dying under it."""
    i = pending.get(exc.task)
    start = next((s for j, s, _ in todo if j == i), None)
    what = f"chunk {i} (from scenario {start:,})" if start is not None else f"task {exc.task}"
    return (
        f"{what} was running on {exc.allowed_failures + 1} dask workers in turn, and each died under it; dask gives "
        "up on a task then (distributed.scheduler.allowed-failures). Workers are killed when they exceed their memory "
        "(give the jobs more memory, or pass a smaller --chunk-size) or when their batch jobs end (preemption, walltime)"
    )


def in_order(results: Iterable[tuple[int, object]], first: int) -> Iterator[tuple[int, object]]:
    """Re-order ``(index, result)`` pairs into index order starting at ``first`` (buffers early ones)."""
    buffer: dict[int, object] = {}
    nxt = first
    for i, r in results:
        buffer[i] = r
        while nxt in buffer:
            yield nxt, buffer.pop(nxt)
            nxt += 1
