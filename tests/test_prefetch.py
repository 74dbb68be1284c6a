"""Full cubes in this process compute the next chunk while the last one is written
(:func:`engine.execution.executors.run_prefetched`): same chunks in the same order as the serial
loop, at most one chunk ahead, errors raised where the caller reads, nothing left running when the
caller stops early; and a file run with several chunks equals the in-memory run bit for bit."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import xarray as xr

import engine.execution.executors as ex
from engine import load_config, run, run_to_file
from tests.conftest import DEFAULT_CONFIG

CHUNKS = [(0, 0, 10), (1, 10, 10), (2, 20, 10), (3, 30, 5)]


class _Recorder:
    """A stand-in for compute_chunk: records which chunks started, in which thread, and how many at once."""

    def __init__(self, fail_at=None):
        self.started, self.threads, self.live, self.most_live = [], set(), 0, 0
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def __call__(self, job, start, count):
        with self.lock:
            self.started.append(start)
            self.threads.add(threading.get_ident())
            self.live += 1
            self.most_live = max(self.most_live, self.live)
        time.sleep(0.02)
        with self.lock:
            self.live -= 1
        if start == self.fail_at:
            raise ValueError(f"chunk at {start} failed")
        return {"start": start, "count": count}


def test_prefetched_results_are_the_serial_ones_in_order(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(ex, "compute_chunk", rec)
    got = [(i, r["start"]) for i, r in ex.run_prefetched(None, CHUNKS)]
    assert got == [(i, s) for i, s, _ in CHUNKS]
    assert rec.started == [0, 10, 20, 30] and rec.most_live == 1  # one worker: never two computations at once
    assert threading.get_ident() not in rec.threads  # computed in the worker thread, not the caller's


def test_at_most_one_chunk_ahead_of_the_caller(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(ex, "compute_chunk", rec)
    gen = ex.run_prefetched(None, CHUNKS)
    next(gen)
    deadline = time.monotonic() + 10.0  # the worker starts chunk 1 (a busy machine may take a while) ...
    while len(rec.started) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # ... and the caller "writes" chunk 0 slowly: nothing beyond chunk 1 may start meanwhile
    assert rec.started == [0, 10]
    gen.close()  # the caller stops early (an error, Ctrl-C): the chunk ahead finishes, nothing more starts
    time.sleep(0.05)
    assert rec.started == [0, 10]


def test_an_error_in_a_chunk_is_raised_to_the_caller(monkeypatch):
    monkeypatch.setattr(ex, "compute_chunk", _Recorder(fail_at=20))
    seen = []
    with pytest.raises(ValueError, match="chunk at 20 failed"):
        for i, _ in ex.run_prefetched(None, CHUNKS):
            seen.append(i)
    assert seen == [0, 1]


def test_a_file_run_of_several_chunks_equals_the_in_memory_run(tmp_path):
    """Four chunks through the prefetching writer: the file holds the in-memory run's values exactly."""
    cfg = load_config(DEFAULT_CONFIG)
    out = run_to_file(cfg, tmp_path / "cube.nc", scenarios=700, seed=9, chunk_size=200)
    mem = run(cfg, scenarios=700, seed=9)
    with xr.open_dataset(out) as f:
        for name in ("electricity", "carbon", "water", "installed_accelerators", "inputs", "weight"):
            np.testing.assert_array_equal(f[name].values, mem[name].values.astype(f[name].dtype), err_msg=name)
