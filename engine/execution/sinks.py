"""Sinks: where a run's chunk results go.

* :func:`cube_to_file`: full-cube slabs are written into the netCDF file as they arrive (any
  order), with per-chunk checksums in the resume sidecar;
* :func:`summary_to_file`: partials are merged in chunk order and the labelled summary is
  written at the end, with periodic checkpoints of the merged state.

Either way the destination appears only when the run succeeds (atomic rename), and an
interruption keeps the finished chunks for ``--resume`` (:mod:`engine.execution.checkpoint`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from engine.errors import Interrupted, PartialCubeDamaged
from engine.execution.executors import in_order
from engine.execution.progress import Progress
from engine.output.netcdf import CubeWriter, chunk_digest, write_dataset
from engine.output.variables import VARIABLES, coords, variable_attrs
from engine.stats.labels import warnings_for
from engine.stats.state import SummaryState

__all__ = ["cube_to_file", "summary_to_file", "checkpoint_seconds"]


def cube_to_file(st, config, out, plan, ex, sidecar, key, manifest, compression, level, progress) -> Path:
    coord_map = coords(config, st.layout, 0, st.scenarios)
    dims = {d: len(v[1]) for d, v in coord_map.items() if v[0] == d}
    dims["scenario"] = st.scenarios
    variables = {name: (spec.dims, st.np_dtype, variable_attrs(name)) for name, spec in VARIABLES.items()}
    inputs_attrs = dict(variable_attrs("inputs"), coordinates="input_units input_long_name input_source")
    variables["inputs"] = (("scenario", "input"), np.float64, inputs_attrs)
    variables["effective_inputs"] = (("scenario", "effective_input"), np.float64, variable_attrs("effective_inputs"))
    finished = set(manifest["finished"]) if manifest else set()
    digests = dict(manifest.get("digests", {})) if manifest else {}

    def open_writer(reopen):
        return CubeWriter(
            out,
            dims,
            coord_map,
            variables,
            st.attrs,
            compression=compression,
            level=level,
            tmp=sidecar.cube_path if sidecar else None,
            reopen=reopen,
        )

    if manifest is not None:
        try:
            writer = open_writer(True)
            damaged = _verify_finished(writer, plan, finished, digests, list(variables))
        except PartialCubeDamaged as exc:
            print(f"dcproj: {exc}; it was probably killed while writing. Starting the cube afresh.", file=sys.stderr)
            finished, digests = set(), {}
            writer = open_writer(False)
        else:
            if damaged:
                print(
                    f"dcproj: {len(damaged)} finished chunk(s) of {sidecar.cube_path} no longer match their checksums "
                    f"(chunks {sorted(damaged)[:10]}{' ...' if len(damaged) > 10 else ''}); computing them again",
                    file=sys.stderr,
                )
                finished -= damaged
        sidecar.write(key, sorted(finished), digests={str(i): digests[str(i)] for i in sorted(finished)})
    else:
        writer = open_writer(False)
    todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks) if i not in finished]
    done = st.scenarios - sum(c for _, _, c in todo)
    try:
        with Progress(st.scenarios, enabled=progress, initial=done) as bar:
            for i, arrays in ex.results(st.job, todo, ordered=False):
                writer.write(plan.chunks[i][0], arrays)
                if sidecar is not None:
                    digests[str(i)] = chunk_digest(arrays)
                    writer.sync()
                    finished.add(i)
                    sidecar.write(key, sorted(finished), digests=digests)
                bar.advance(arrays["inputs"].shape[0])
        path = writer.commit()
    except KeyboardInterrupt:
        if sidecar is not None and finished:
            writer.detach()
            sidecar.write(key, sorted(finished), digests=digests)
            raise Interrupted(sidecar.dir, sum(plan.chunks[i][1] for i in finished), st.scenarios) from None
        writer.abort()
        if sidecar is not None:
            sidecar.remove()
        raise
    except BaseException:
        writer.abort()
        if sidecar is not None:
            sidecar.remove()
        raise
    if sidecar is not None:
        sidecar.remove()
    return path


def _verify_finished(writer, plan, finished, digests, names) -> set[int]:
    """The finished chunks whose data in the partial cube no longer match their recorded checksums."""
    bad = set()
    for i in sorted(finished):
        start, count = plan.chunks[i]
        if digests.get(str(i)) != chunk_digest(writer.read(start, count, names)):
            bad.add(i)
    return bad


def checkpoint_seconds() -> float:
    """Seconds between summary checkpoints (``DCPROJ_CHECKPOINT_SECONDS``, default 30)."""
    return float(os.environ.get("DCPROJ_CHECKPOINT_SECONDS", "30"))


def summary_to_file(st, out, plan, ex, sidecar, key, manifest, progress) -> Path:
    spec = st.job.spec
    state = SummaryState(spec)
    if manifest is not None and sidecar.state_path.exists():
        state = SummaryState.load(spec, sidecar.state_path)
    first = next((i for i, (s, _) in enumerate(plan.chunks) if s == state.done), len(plan.chunks))
    todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks) if i >= first]
    every = checkpoint_seconds()
    last = time.monotonic()

    def save():
        state.save(sidecar.state_path)
        sidecar.write(key, list(range(first + merged)), done=state.done)

    merged = 0
    try:
        with Progress(st.scenarios, enabled=progress, initial=state.done) as bar:
            for _, part in in_order(ex.results(st.job, todo, ordered=True), first):
                state.add(part)
                merged += 1
                bar.advance(part.count)
                if sidecar is not None and time.monotonic() - last >= every and state.done < st.scenarios:
                    save()
                    last = time.monotonic()
        for warning in warnings_for(state):
            print(f"dcproj: warning: {warning}", file=sys.stderr)
        path = write_dataset(state.to_dataset(st.attrs), out)
    except KeyboardInterrupt:
        if sidecar is not None and state.done > 0:
            save()
            raise Interrupted(sidecar.dir, state.done, st.scenarios) from None
        if sidecar is not None:
            sidecar.remove()
        raise
    except BaseException:
        if sidecar is not None:
            sidecar.remove()
        raise
    if sidecar is not None:
        sidecar.remove()
    return path
