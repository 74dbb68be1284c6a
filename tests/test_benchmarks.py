"""The benchmark suite's CPU part runs end to end on tiny sizes and writes JSON + markdown.

(The GPU part is exercised under the CUDA simulator in tests/test_cuda_sim.py.)
"""

from __future__ import annotations

import json

import pytest


def test_cpu_suite_writes_json_and_markdown(tmp_path):
    from benchmarks.__main__ import main

    out = tmp_path / "bench"
    args = ["--sizes", "300", "2000", "--chunk", "1000", "--numpy-max", "300", "--write-max", "2000", "--tmpdir", str(tmp_path),
            "--threads", "1", "2", "--threads-size", "1000", "--summary-size", "200", "--summary-sizes", "5000", "--no-compile", "--gpu", "off", "--out", str(out)]
    result = main(args)
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["scenarios"] for r in data["sizes"]] == [300, 2000]
    small, big = data["sizes"]
    for key in ("sample_s", "model_s", "reduction_s", "write_s", "memory_floor_s", "numpy_s"):
        assert small[key] > 0, key
    assert "numpy_s" not in big and big["chunk"] == 1000
    assert big["cube_bytes"] == 2000 * (6144 + 32 + 12 * 8)  # the cube (72 inputs) and 12 float64 normalised regional weights
    assert 300 < small["check_mean_total_last_year_twh"] < 1e5  # the reduction saw real totals
    assert [r["threads"] for r in data["threads"]] == [1, 2]
    assert data["first_calls"]["total_s"] >= 0 and "gpu" not in data and data["complete"] is True
    (sr,) = data["summary_runs"]
    assert sr["scenarios"] == 5000 and sr["cells"] > 1000 and sr["summary_s"] > 0
    md = out.with_suffix(".md").read_text()
    assert "## CPU: throughput against scenario count" in md and "## CPU: thread scaling" in md and "summary runs" in md
    assert result["machine"]["cores"] >= 1
    assert not list(tmp_path.glob("*.nc"))  # the write phase cleans up


def test_end_to_end_benchmark_compares_paths_in_one_run(tmp_path):
    """benchmarks.end_to_end at a tiny size: both backends ran the same model (the check agrees)
    and the ratios are the quotients of the times it recorded."""
    from benchmarks.end_to_end import main

    res = main(["--scenarios", "3000", "--probe", "1000", "--numpy-chunks", "500", "1000", "--repeats", "1", "--out", str(tmp_path / "e2e")])
    r = json.loads((tmp_path / "e2e.json").read_text())["result"]
    assert r == res["result"]
    check = r["check_mean_electricity_2030_twh"]
    assert check["numba"] == pytest.approx(check["numpy"], rel=1e-6) and check["numba"] > 300
    assert r["numba_vs_numpy_whole"] == r["numpy_whole_s"] / r["numba_s"] and r["numpy_whole_chunk"] == 3000
    assert r["numpy_best_chunk"] in (500, 1000) and r["dataset_bytes"] > 3000 * 6144
    assert "NumPy reference, whole arrays" in (tmp_path / "e2e.md").read_text()
    sp = r["numba_split"]  # the split: its parts were timed, and the first-touch cost is their difference
    assert sp["sample_s"] > 0 and sp["project_touched_s"] > 0 and sp["allocate_s"] > 0
    assert r["memory_floor_s"] == min(r["memory_floor_one_thread_s"], r["memory_floor_parallel_s"])
    assert sp["first_touch_s"] == sp["project_fresh_s"] - sp["project_touched_s"]
    assert "first-touching the cube's memory" in (tmp_path / "e2e.md").read_text()


def test_end_to_end_split_sentence_never_prints_a_negative_rest():
    """The split's closing sentence: the run's extra time when its parts sum to less, and no
    negative remainder when parts timed once each add up to more than the run's best."""
    from benchmarks.end_to_end import _rest_sentence

    assert "takes 0.50 s more than these parts" in _rest_sentence(3.0, 2.5)
    more = _rest_sentence(4.29, 5.79)
    assert "add up to 5.79 s, more than the run's best (4.29 s)" in more and "-" not in more.split("(")[0]


def test_cube_file_benchmark_splits_a_file_run(tmp_path):
    """benchmarks.cube_file at a tiny size: the files it timed held the cube's bytes (the filter's
    smaller), every filter was split, and nothing is left in its folder."""
    from benchmarks.cube_file import main

    main(["--scenarios", "3000", "--repeats", "1", "--compressions", "blosc_lz4", "none",
          "--tmpdir", str(tmp_path), "--out", str(tmp_path / "cf")])  # fmt: skip
    r = json.loads((tmp_path / "cf.json").read_text())
    assert r["cube_bytes"] > 3000 * 6144  # float32 outputs of 72 inputs' model, and the float64 inputs
    none, blosc = r["netcdf_writes"]["none"], r["netcdf_writes"]["blosc_lz4"]
    assert none["file_bytes"] >= r["cube_bytes"] > blosc["file_bytes"]  # the filter compressed; uncompressed holds every byte
    assert r["file_runs"]["none"]["file_bytes"] >= r["cube_bytes"]
    assert set(r["split"]) == {"blosc_lz4", "none"} and all(v["wall_s"] > 0 for v in r["file_runs"].values())
    assert {p.name for p in tmp_path.iterdir()} == {"cf.json", "cf.md"}  # its temporary folder and files are gone
    assert "netCDF write of the same bytes, none" in (tmp_path / "cf.md").read_text()
