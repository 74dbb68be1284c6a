"""A full cube to disk, split: ``python -m benchmarks.cube_file [--scenarios 1e6]``.

``dcproj run -n N --out cube.nc`` (no ``--summary``) computes the cube chunk by chunk and
streams each chunk into a netCDF4/HDF5 file.  This benchmark times, in one process, on the
same scenarios, seed and chunking:

* **file runs**: ``engine.run_to_file`` end to end, once per ``--compressions`` filter;
* **compute**: ``engine.run`` of the same cube in memory (float32, the file's type): sampling,
  model, weights, no file;
* **netCDF writes of the same bytes**: one computed chunk written with the project's
  :class:`~engine.output.netcdf.CubeWriter` at every chunk offset (as many bytes as the cube,
  real values, without the whole cube in memory competing with the page cache), uncompressed
  and with each filter: the uncompressed write is the floor a netCDF file cannot beat, the
  difference is the filter's cost;
* **raw bytes**: the same bytes written with ``file.write`` (the page cache's speed).

The split of a file run is then compute + netCDF write + filter + the rest (checksums,
exceedance counts, the weights' diagnostics read back at the end).  Files go to ``--tmpdir``
(on the disk a user would write to; each is deleted after it is timed).  Results:
``benchmarks/results/cube_file-<cores>core.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import git_commit, machine_info, peak_rss_mib

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "default.yaml"


def _log(msg: str) -> None:
    print(f"[cube_file] {msg}", file=sys.stderr, flush=True)


def _wall(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _writer_parts(ds):
    """The dims, coordinates, variables and per-scenario arrays of a cube Dataset, as CubeWriter takes them."""
    dims = {d: int(n) for d, n in ds.sizes.items()}
    coords = {}
    for name, c in ds.coords.items():
        if c.ndim == 1 and name != "scenario":
            coords[name] = (c.dims[0], c.values, {})
    variables, arrays = {}, {}
    for name, v in ds.data_vars.items():
        if v.dims and v.dims[0] == "scenario":
            variables[name] = (v.dims, v.dtype, {})
            arrays[name] = v.values
    return dims, coords, variables, arrays


def write_same_bytes(one, n: int, path: Path, compression: str) -> float:
    """Seconds to write ``n`` scenarios with CubeWriter: the per-scenario arrays of the one computed
    chunk ``one`` (a Dataset) at every chunk offset, as a file run writes its chunks."""
    from engine.output.netcdf import CubeWriter

    dims, coords, variables, arrays = _writer_parts(one)
    chunk = dims["scenario"]
    dims["scenario"] = n
    t0 = time.perf_counter()
    w = CubeWriter(path, dims, coords, variables, {}, compression=compression, level=1, overwrite=True)
    try:
        for s in range(0, n, chunk):
            m = min(chunk, n - s)
            w.write(s, {k: a[:m] for k, a in arrays.items()})
        w.commit()
    except BaseException:
        w.abort()
        raise
    return time.perf_counter() - t0


def write_raw(one, n: int, path: Path) -> float:
    """Seconds to write the same bytes as :func:`write_same_bytes` with plain ``file.write`` (no format)."""
    _, _, _, arrays = _writer_parts(one)
    chunk = one.sizes["scenario"]
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for s in range(0, n, chunk):
            m = min(chunk, n - s)
            for a in arrays.values():
                f.write(memoryview(np.ascontiguousarray(a[:m])).cast("B"))
    return time.perf_counter() - t0


def measure(config_path: Path, n: int, seed: int, compressions: list[str], tmpdir: str | None, repeats: int = 1) -> dict:
    from engine import load_config, run, run_to_file
    from engine.execution.planning import default_chunk_size
    from engine.inputs.layout import build_layout

    cfg = load_config(config_path)
    chunk = min(n, default_chunk_size(build_layout(cfg), np.float32))
    res: dict = {"scenarios": n, "seed": seed, "repeats": repeats, "chunk_size": chunk, "file_runs": {}, "netcdf_writes": {}}
    with tempfile.TemporaryDirectory(dir=tmpdir, prefix="dcproj-cube-bench-") as d:
        d = Path(d)
        _log("warm-up (compilation or cache load)")
        run_to_file(cfg, d / "warm.nc", scenarios=2000, seed=seed)
        (d / "warm.nc").unlink()
        for rep in range(repeats):  # the filters take turns, so a drift in the machine's load hits each alike
            for comp in compressions:
                _log(f"run_to_file {n:,} scenarios, compression {comp} ({rep + 1} of {repeats})")
                path = d / f"run-{comp}.nc"
                t, _ = _wall(lambda: run_to_file(cfg, path, scenarios=n, seed=seed, compression=comp, chunk_size=chunk))
                best = res["file_runs"].get(comp, {}).get("wall_s", float("inf"))
                res["file_runs"][comp] = {"wall_s": min(t, best), "file_bytes": path.stat().st_size}
                path.unlink()
        _log("compute: engine.run in memory (float32)")
        t, ds = _wall(lambda: run(cfg, scenarios=n, seed=seed, dtype="float32", chunk_size=chunk))
        res["compute_s"] = t
        res["cube_bytes"] = int(sum(v.nbytes for v in ds.data_vars.values() if v.dims and v.dims[0] == "scenario"))
        one = ds.isel(scenario=slice(0, chunk)).copy(deep=True)  # one chunk: the writes below hold no whole cube in memory
        del ds
        for comp in ["none", *[c for c in compressions if c != "none"]]:
            _log(f"netCDF writes of the same bytes, compression {comp}")
            path = d / f"same-{comp}.nc"
            res["netcdf_writes"][comp] = {"wall_s": write_same_bytes(one, n, path, comp), "file_bytes": path.stat().st_size}
            path.unlink()
        _log("raw bytes with file.write")
        res["raw_write_s"] = write_raw(one, n, d / "raw.bin")
        (d / "raw.bin").unlink()
        res["tmpdir"] = str(d.parent)
    return res


def derived(res: dict) -> dict:
    """The split of each file run: its parts measured alone, their sum, and how much of the sum the
    run hides by computing the next chunk while it writes one (``overlap_s`` = sum − run)."""
    floor = res["netcdf_writes"]["none"]["wall_s"]
    out = {}
    for comp, r in res["file_runs"].items():
        write = res["netcdf_writes"].get(comp, {}).get("wall_s", float("nan"))
        parts = res["compute_s"] + write
        out[comp] = {
            "compute_s": res["compute_s"],
            "netcdf_write_s": floor,
            "filter_s": write - floor,
            "parts_s": parts,
            "overlap_s": parts - r["wall_s"],
            "file_run_over_netcdf_floor": r["wall_s"] / floor,
            "file_run_over_parts": r["wall_s"] / parts,
        }
    return out


def markdown(res: dict) -> str:
    m = res["machine"]
    gb = res["cube_bytes"] / 1e9
    lines = [
        f"# A full cube to disk, split ({res['when']}, commit {res['commit']})",
        "",
        f"`{res['command']}`; config `configs/default.yaml`, {res['scenarios']:,} scenarios, seed {res['seed']}, "
        f"chunks of {res['chunk_size']:,} scenarios, {gb:.2f} GB of float32 per-scenario arrays. "
        f"CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; files in `{res['tmpdir']}`. "
        f"Load average {res['load_before']:.2f} before, {res['load_after']:.2f} after; file runs best of {res.get('repeats', 1)}, the rest one run each.",
        "",
        "| path | wall s | file GB |",
        "|---|---:|---:|",
    ]
    for comp, r in res["file_runs"].items():
        lines.append(f"| `run_to_file`, {comp} | {r['wall_s']:.2f} | {r['file_bytes'] / 1e9:.2f} |")
    lines.append(f"| compute only (`engine.run`, float32, in memory) | {res['compute_s']:.2f} | |")
    for comp, r in res["netcdf_writes"].items():
        lines.append(f"| netCDF write of the same bytes, {comp} | {r['wall_s']:.2f} | {r['file_bytes'] / 1e9:.2f} |")
    lines.append(f"| raw `file.write` of the same bytes | {res['raw_write_s']:.2f} | {gb:.2f} |")
    lines += ["", "The parts of a file run, each measured alone, and what the run hides by computing the next chunk "
              "while it writes one (sum of the parts − the run):", "",
              "| file run | compute s | netCDF write s | filter s | sum s | hidden by the overlap s | run ÷ netCDF uncompressed write | run ÷ sum |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for comp, s in res["split"].items():
        lines.append(f"| {comp} | {s['compute_s']:.2f} | {s['netcdf_write_s']:.2f} | {s['filter_s']:.2f} | {s['parts_s']:.2f} | "
                     f"{s['overlap_s']:.2f} | {s['file_run_over_netcdf_floor']:.2f}× | {s['file_run_over_parts']:.2f}× |")  # fmt: skip
    lines.append(f"\nPeak RSS of the benchmark process: {res['peak_rss_mib']:,.0f} MiB.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--scenarios", type=float, default=1e6)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--compressions", nargs="*", default=["blosc_lz4", "none"])
    ap.add_argument("--repeats", type=int, default=2, help="file runs per filter (best kept)")
    ap.add_argument("--tmpdir", default=None, help="where the files are written (default: the system's temporary directory)")
    ap.add_argument("--out", type=Path, default=None, help="result stem (default benchmarks/results/cube_file-<cores>core)")
    args = ap.parse_args(argv)
    n = int(args.scenarios)
    load_before = os.getloadavg()[0]
    res = measure(args.config, n, args.seed, args.compressions, args.tmpdir, args.repeats)
    res.update(split=derived(res), load_before=load_before, load_after=os.getloadavg()[0], machine=machine_info(), commit=git_commit(),
               when=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z"), peak_rss_mib=peak_rss_mib(),
               command="python -m benchmarks.cube_file " + " ".join(argv if argv is not None else sys.argv[1:]))  # fmt: skip
    stem = args.out or HERE / "results" / f"cube_file-{os.cpu_count()}core"
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    Path(f"{stem}.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
